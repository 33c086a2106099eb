"""ClickHouse stage, pure core: output records in, warehouse rows out (no I/O here).

The sink reads the records of schemas/outputs.py from the output topics; this module decides
which table each lands in and the row it becomes, column by column. Everything is deterministic
(ids come from the records, dead-letter ids from their content), so writing the same records
twice writes the same rows, and the ReplacingMergeTree tables collapse them.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
from pydantic import BaseModel

from schemas.outputs import DeadLetter, FrictionEvent, HealthSample, IdentityLink, JourneySnapshot, JourneyStep

Row = list[Any]

# Measures with their own typed column; every measure also lands in measures_json.
MEASURE_COLUMNS = (
    "path", "session_id", "dwell_s", "navigation_ease", "cart_value", "checkout_step", "order_id", "order_amount",
    "queue", "wait_s", "handle_s", "transfers", "reason", "resolved", "team",
    "direction", "campaign", "thread_id", "response_s",
    "store_id", "visit_s", "queue_wait_s", "purchase_amount", "service_desk_request", "is_return",
)
TOUCHPOINT_COLUMNS = (
    "event_id", "event_time", "received_time", "channel", "touchpoint", "event_type", "customer_id",
    "journey_id", "phase", "segment", "late", "version", *MEASURE_COLUMNS,
    "csat", "nps", "feedback_touchpoint", "comment", "measures_json",
)
STEP_COLUMNS = ("event_id", "event_time", "customer_id", "journey_id", "step_index", "phase", "channel",
                "touchpoint", "event_type", "late", "version")
JOURNEY_COLUMNS = ("journey_id", "customer_id", "version", "retracted", "segment", "started_at", "last_event_at",
                   "events", "channels", "channel_switches", "first_channel", "phase_first_at", "furthest_phase",
                   "current_phase", "converted", "status", "friction_count", "csat_avg", "updated_at")
FRICTION_COLUMNS = ("friction_id", "customer_id", "journey_id", "rule", "touchpoint", "channel", "phase",
                    "severity", "detected_at", "measure", "threshold", "evidence", "version", "retracted")
LINK_COLUMNS = ("link_id", "kind", "customer_id", "merged_customer_id", "identifiers", "rule",
                "evidence_event_id", "event_time", "recorded_at")
HEALTH_COLUMNS = ("minute", "stage", "channel", "reporter", "events", "dead_letters", "lag", "errors", "retries",
                  "latency_ms_p50", "latency_ms_p95", "note")
DEAD_LETTER_COLUMNS = ("dead_letter_id", "source", "reason", "kind", "problems", "payload", "payload_encoding",
                       "channel", "rejected_at")

COLUMNS: dict[str, tuple[str, ...]] = {
    "touchpoints": TOUCHPOINT_COLUMNS, "journey_steps": STEP_COLUMNS, "journeys": JOURNEY_COLUMNS,
    "friction": FRICTION_COLUMNS, "identity_links": LINK_COLUMNS, "pipeline_health": HEALTH_COLUMNS,
    "dead_letters": DEAD_LETTER_COLUMNS,
}
TABLES = tuple(COLUMNS)


def utc(moment: datetime) -> datetime:
    """A timezone-aware moment in UTC (naive moments are taken as UTC)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def touchpoint_row(step: JourneyStep) -> Row:
    event = step.event
    model = getattr(event, "measures", None)  # the base envelope has none; channel events do
    measures: dict[str, Any] = model.model_dump(mode="json") if isinstance(model, BaseModel) else {}
    feedback = event.feedback
    return [event.event_id, utc(event.event_time), utc(event.received_time), event.channel, event.touchpoint,
            event.event_type, step.customer_id, step.journey_id, step.phase, event.segment or "", step.late,
            step.version, *(measures.get(name) for name in MEASURE_COLUMNS),
            feedback.csat if feedback else None, feedback.nps if feedback else None,
            feedback.about_touchpoint if feedback else None, feedback.comment if feedback else None,
            orjson.dumps(measures).decode()]


def step_row(step: JourneyStep) -> Row:
    event = step.event
    return [event.event_id, utc(event.event_time), step.customer_id, step.journey_id, step.step_index, step.phase,
            event.channel, event.touchpoint, event.event_type, step.late, step.version]


def journey_row(journey: JourneySnapshot) -> Row:
    return [journey.journey_id, journey.customer_id, journey.version, journey.retracted, journey.segment,
            utc(journey.started_at), utc(journey.last_event_at), journey.events, list(journey.channels),
            journey.channel_switches, journey.first_channel,
            {phase: utc(at) for phase, at in journey.phase_first_at.items()}, journey.furthest_phase or "",
            journey.current_phase or "", journey.converted, journey.status, journey.friction_count,
            journey.csat_avg, utc(journey.updated_at)]


def friction_row(friction: FrictionEvent) -> Row:
    return [friction.friction_id, friction.customer_id, friction.journey_id, friction.rule, friction.touchpoint,
            friction.channel, friction.phase, friction.severity, utc(friction.detected_at), friction.measure,
            friction.threshold, list(friction.evidence), friction.version, friction.retracted]


def link_row(link: IdentityLink) -> Row:
    return [link.link_id, link.kind, link.customer_id, link.merged_customer_id, list(link.identifiers), link.rule,
            link.evidence_event_id, utc(link.event_time), utc(link.recorded_at)]


def health_row(sample: HealthSample, reporter: str = "") -> Row:
    return [utc(sample.minute).replace(second=0, microsecond=0), sample.stage, sample.channel, reporter,
            sample.events, sample.dead_letters, sample.lag, sample.errors, sample.retries,
            sample.latency_ms_p50, sample.latency_ms_p95, sample.note]


def dead_letter_id(letter: DeadLetter) -> str:
    """Deterministic id of a dead letter: the same rejection re-delivered is the same row."""
    content = "\x1f".join((letter.source, letter.reason, letter.payload, utc(letter.rejected_at).isoformat()))
    return "d-" + hashlib.sha256(content.encode("utf-8")).hexdigest()[:16]


def dead_letter_row(letter: DeadLetter) -> Row:
    return [dead_letter_id(letter), letter.source, letter.reason, letter.kind, list(letter.problems),
            letter.payload, letter.payload_encoding, letter.channel or "", utc(letter.rejected_at)]


def rows_of(record: BaseModel) -> list[tuple[str, Row]]:
    """The (table, row) pairs one output record becomes."""
    if isinstance(record, JourneyStep):
        return [("touchpoints", touchpoint_row(record)), ("journey_steps", step_row(record))]
    if isinstance(record, JourneySnapshot):
        return [("journeys", journey_row(record))]
    if isinstance(record, FrictionEvent):
        return [("friction", friction_row(record))]
    if isinstance(record, IdentityLink):
        return [("identity_links", link_row(record))]
    if isinstance(record, HealthSample):
        return [("pipeline_health", health_row(record))]
    if isinstance(record, DeadLetter):
        return [("dead_letters", dead_letter_row(record))]
    raise TypeError(f"not an output record: {type(record).__name__}")


def rows_by_table(records: Iterable[BaseModel]) -> dict[str, list[Row]]:
    """Rows grouped per table, in record order."""
    tables: dict[str, list[Row]] = defaultdict(list)
    for record in records:
        for table, row in rows_of(record):
            tables[table].append(row)
    return dict(tables)


def dedup_token(table: str, rows: Sequence[Row]) -> str:
    """An insert_deduplication_token: the same rows re-inserted (a replayed batch) are skipped."""
    digest = hashlib.sha256(table.encode())
    for row in rows:
        digest.update(orjson.dumps(row, default=str, option=orjson.OPT_NON_STR_KEYS))
    return digest.hexdigest()
