"""ClickHouse stage, pure core: output records in, warehouse rows out (no I/O here).

The sink reads the records of schemas/outputs.py from the output topics; this module decides
which table each lands in and the row it becomes, column by column. Everything is deterministic
(ids come from the records, dead-letter ids from their content), so writing the same records
twice writes the same rows, and the ReplacingMergeTree tables collapse them.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from pydantic import BaseModel

from schemas.ids import short_hash
from schemas.outputs import (
    DeadLetter,
    FrictionEvent,
    HealthSample,
    IdentityLink,
    JourneySnapshot,
    JourneyStep,
    output_of,
)

Row = dict[str, Any]  # column -> value
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

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
    "csat", "nps", "feedback_touchpoint", "comment", "measures_json", "context",
)
STEP_COLUMNS = ("event_id", "event_time", "customer_id", "journey_id", "step_index", "phase", "channel",
                "touchpoint", "event_type", "late", "version", "context")
JOURNEY_COLUMNS = ("journey_id", "customer_id", "version", "retracted", "segment", "started_at", "last_event_at",
                   "events", "channels", "channel_switches", "first_channel", "phase_first_at", "furthest_phase",
                   "current_phase", "converted", "status", "friction_count", "csat_avg", "updated_at")
# journey_paths (migration 0009): the steps go to EPHEMERAL columns, from which ClickHouse keeps the path.
PATH_COLUMNS = ("journey_id", "customer_id", "row_version", "retracted", "known", "bounded", "first_at", "last_at",
                "step_touchpoints", "step_event_types", "step_times", "first_values")
FRICTION_COLUMNS = ("friction_id", "customer_id", "journey_id", "rule", "touchpoint", "channel", "phase",
                    "severity", "detected_at", "measure", "threshold", "evidence", "evidence_context",
                    "evidence_context_known", "version", "retracted")
LINK_COLUMNS = ("link_id", "kind", "customer_id", "merged_customer_id", "identifiers", "rule",
                "evidence_event_id", "event_time", "recorded_at")
HEALTH_COLUMNS = ("minute", "stage", "channel", "reporter", "events", "dead_letters", "lag", "errors", "retries",
                  "latency_ms_p50", "latency_ms_p95", "note")
DEAD_LETTER_COLUMNS = ("dead_letter_id", "source", "reason", "kind", "problems", "payload", "payload_encoding",
                       "channel", "rejected_at", "payload_truncated", "payload_tail", "payload_bytes", "payload_sha256")

COLUMNS: dict[str, tuple[str, ...]] = {
    "touchpoints": TOUCHPOINT_COLUMNS, "journey_steps": STEP_COLUMNS, "journeys": JOURNEY_COLUMNS,
    "journey_paths": PATH_COLUMNS, "friction": FRICTION_COLUMNS, "identity_links": LINK_COLUMNS,
    "pipeline_health": HEALTH_COLUMNS, "dead_letters": DEAD_LETTER_COLUMNS,
}
TABLES = tuple(COLUMNS)
VERSIONED = ("touchpoints", "journey_steps", "journeys", "journey_paths", "friction")

# Column kinds, for a columnar (Arrow) insert; unlisted columns are strings.
INT_COLUMNS = frozenset({"version", "row_version", "step_index", "events", "channel_switches", "friction_count",
                         "navigation_ease", "checkout_step", "transfers", "csat", "nps", "dead_letters", "lag", "errors",
                         "retries", "payload_bytes"})
FLOAT_COLUMNS = frozenset({"dwell_s", "cart_value", "order_amount", "wait_s", "handle_s", "response_s", "visit_s",
                           "queue_wait_s", "purchase_amount", "csat_avg", "measure", "threshold",
                           "latency_ms_p50", "latency_ms_p95"})
BOOL_COLUMNS = frozenset({"late", "retracted", "converted", "resolved", "is_return", "payload_truncated",
                          "evidence_context_known", "known", "bounded"})
TIME_COLUMNS = frozenset({"event_time", "received_time", "started_at", "last_event_at", "updated_at", "detected_at",
                          "recorded_at", "rejected_at", "minute", "first_at", "last_at"})
LIST_COLUMNS = frozenset({"channels", "evidence", "identifiers", "problems", "step_touchpoints", "step_event_types"})
TIME_LIST_COLUMNS = frozenset({"step_times"})  # milliseconds since the epoch
TIME_MAP_COLUMNS = frozenset({"phase_first_at"})
STRING_MAP_COLUMNS = frozenset({"context", "first_values"})
STRING_LIST_MAP_COLUMNS = frozenset({"evidence_context"})


def utc(moment: datetime) -> datetime:
    """A timezone-aware moment in UTC (naive moments are taken as UTC)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def touchpoint_row(step: JourneyStep) -> Row:
    event = step.event
    model = getattr(event, "measures", None)  # the base envelope has none; channel events do
    row: Row = dict(model.__dict__) if isinstance(model, BaseModel) else {}  # measures land in same-named columns
    feedback = event.feedback
    row.update(event_id=event.event_id, event_time=utc(event.event_time), received_time=utc(event.received_time),
               channel=event.channel, touchpoint=event.touchpoint, event_type=event.event_type,
               customer_id=step.customer_id, journey_id=step.journey_id, phase=step.phase,
               segment=event.segment or "", late=step.late, version=step.version,
               csat=feedback.csat if feedback else None, nps=feedback.nps if feedback else None,
               feedback_touchpoint=feedback.about_touchpoint if feedback else None,
               comment=feedback.comment if feedback else None, context=dict(event.context),
               measures_json=model.model_dump_json(exclude_none=True) if isinstance(model, BaseModel) else "{}")
    return row


def step_row(step: JourneyStep) -> Row:
    event = step.event
    return {"event_id": event.event_id, "event_time": utc(event.event_time), "customer_id": step.customer_id,
            "journey_id": step.journey_id, "step_index": step.step_index, "phase": step.phase,
            "channel": event.channel, "touchpoint": event.touchpoint, "event_type": event.event_type,
            "late": step.late, "version": step.version, "context": dict(event.context)}


def journey_row(journey: JourneySnapshot) -> Row:
    row = _fields(journey, JOURNEY_COLUMNS)
    row.update(channels=list(journey.channels), furthest_phase=journey.furthest_phase or "",
               current_phase=journey.current_phase or "",
               phase_first_at={phase: utc(at) for phase, at in journey.phase_first_at.items()})
    return row


def journey_path_row(journey: JourneySnapshot) -> Row:
    """The journey's path (a journey sent without its steps is marked unknown: they are read from the
    touchpoints; one sent without its span too, by an older worker, unbounded). Versions: migration 0009."""
    path = journey.path
    # a retraction keeps no steps: analyses never read them, and `journeys forget` need not find them there
    steps = path if path is not None and path.complete and not journey.retracted else None
    return {"journey_id": journey.journey_id, "customer_id": journey.customer_id,
            "row_version": 2 * journey.version + 2, "retracted": journey.retracted, "known": steps is not None,
            "bounded": path is not None,
            "first_at": _from_ms(path.first_ms) if path else utc(journey.started_at),
            "last_at": _from_ms(path.last_ms) if path else utc(journey.last_event_at),
            "step_touchpoints": list(steps.touchpoints) if steps else [],
            "step_event_types": list(steps.event_types) if steps else [],
            "step_times": list(steps.times_ms) if steps else [], "first_values": dict(steps.first_values) if steps else {}}


def _from_ms(ms: int) -> datetime:
    return EPOCH + timedelta(milliseconds=ms)


def friction_row(friction: FrictionEvent) -> Row:
    return _fields(friction, FRICTION_COLUMNS) | {
        "evidence": list(friction.evidence),
        "evidence_context": {dimension: list(values) for dimension, values in (friction.evidence_context or {}).items()},
        "evidence_context_known": friction.evidence_context is not None}


def link_row(link: IdentityLink) -> Row:
    return _fields(link, LINK_COLUMNS) | {"identifiers": list(link.identifiers)}


def health_row(sample: HealthSample, reporter: str = "") -> Row:
    """`reporter` names who wrote the row when the sample itself does not (the sink's own flushes)."""
    row = _fields(sample, HEALTH_COLUMNS)
    row.update(minute=utc(sample.minute).replace(second=0, microsecond=0), reporter=reporter or sample.reporter)
    return row


def _fields(record: BaseModel, columns: tuple[str, ...]) -> Row:
    """The record's fields that are columns, moments in UTC."""
    values = record.__dict__
    return {name: utc(v) if isinstance(v := values.get(name), datetime) else v for name in columns}


def dead_letter_id(letter: DeadLetter) -> str:
    """Deterministic id of a dead letter: the same rejection re-delivered is the same row."""
    content = "\x1f".join((letter.source, letter.reason, letter.payload, utc(letter.rejected_at).isoformat()))
    return "d-" + short_hash(content)


def dead_letter_row(letter: DeadLetter) -> Row:
    return _fields(letter, DEAD_LETTER_COLUMNS) | {"dead_letter_id": dead_letter_id(letter),
                                                   "problems": list(letter.problems), "channel": letter.channel or ""}


ROW_OF: dict[str, Callable[[Any], Row]] = {
    "touchpoints": touchpoint_row, "journey_steps": step_row, "journeys": journey_row, "journey_paths": journey_path_row,
    "friction": friction_row, "identity_links": link_row, "pipeline_health": health_row, "dead_letters": dead_letter_row,
}


def rows_of(record: BaseModel) -> list[tuple[str, Row]]:
    """The (table, row) pairs one output record becomes (its tables: schemas.outputs.OUTPUTS)."""
    return [(table, ROW_OF[table](record)) for table in output_of(record).tables]


def rows_by_table(records: Iterable[BaseModel]) -> dict[str, list[Row]]:
    """Rows grouped per table, in record order."""
    tables: dict[str, list[Row]] = defaultdict(list)
    for record in records:
        for table, row in rows_of(record):
            tables[table].append(row)
    return dict(tables)


def dedup_token(table: str, rows: Sequence[Row]) -> str:
    """An insert_deduplication_token: the same rows re-inserted (a retried or replayed batch) are skipped.

    A versioned row is identified by its id and version (a version names one content); other rows
    by their whole content.
    """
    digest = hashlib.sha256(table.encode())
    key = COLUMNS[table][0]
    for row in rows:
        if table in VERSIONED:
            digest.update(f"{row[key]}\x1f{row.get('version', row.get('row_version'))}\x1e".encode())
        else:
            digest.update(orjson.dumps(row, default=str, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_SORT_KEYS))
    return digest.hexdigest()
