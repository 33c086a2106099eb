"""ClickHouse stage: the warehouse sink's decoding, retry policy and batching writer.

The pure part turns output-topic messages into records (bad ones into DeadLetter values with a
reason, kept in the dead_letters table) and says how long to back off after a failure. The
writer has quix-streams' BatchingSink shape: `write(batch)` inserts one batch of records into
their tables with clickhouse-connect, each insert carrying a deduplication token, so a batch
written twice (a retry, a replay) is written once. Faust agents that drive it live in
clickhouse/agents.py (`attach_sink`).
"""

from __future__ import annotations

import base64
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from clickhouse_connect.driver.client import Client
from pydantic import BaseModel, ValidationError

from clickhouse.rows import COLUMNS, HEALTH_COLUMNS, dedup_token, health_row, rows_by_table
from schemas.channels import event_adapter
from schemas.outputs import (
    DEADLETTER_TOPIC,
    FRICTION_TOPIC,
    HEALTH_TOPIC,
    IDENTITY_TOPIC,
    STATE_TOPIC,
    STEPS_TOPIC,
    DeadLetter,
    FrictionEvent,
    HealthSample,
    IdentityLink,
    JourneySnapshot,
    JourneyStep,
)

RECORD_MODELS: dict[str, type[BaseModel]] = {
    STEPS_TOPIC: JourneyStep, STATE_TOPIC: JourneySnapshot, FRICTION_TOPIC: FrictionEvent,
    IDENTITY_TOPIC: IdentityLink, HEALTH_TOPIC: HealthSample, DEADLETTER_TOPIC: DeadLetter,
}
SINK_TOPICS = tuple(RECORD_MODELS)
BACKOFF_BASE_S = 0.2
BACKOFF_CAP_S = 5.0
MAX_ERROR_NOTE_CHARS = 300


def decode(kind: str, payload: bytes, source: str, timestamp: datetime) -> BaseModel:
    """The record in one message of output topic `kind`, or a DeadLetter saying why not."""
    try:
        data = orjson.loads(payload)
        if kind == STEPS_TOPIC and isinstance(data, dict) and isinstance(data.get("event"), dict):
            data["event"] = event_adapter().validate_python(data["event"])
        return RECORD_MODELS[kind].model_validate(data)
    except (orjson.JSONDecodeError, ValidationError, TypeError, ValueError) as err:
        return undecodable(kind, payload, source, timestamp, str(err))


def undecodable(kind: str, payload: bytes, source: str, timestamp: datetime, problem: str) -> DeadLetter:
    """A dead letter for a message the sink cannot read; its time is the message's (deterministic)."""
    try:
        text, encoding = payload.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        text, encoding = base64.b64encode(payload).decode("ascii"), "base64"
    return DeadLetter(source=source, reason=f"sink could not decode a {kind} record", kind="undecodable",
                      problems=(problem[:2000],), payload=text, payload_encoding=encoding,
                      rejected_at=timestamp)


def backoff_s(attempt: int) -> float:
    """Seconds to wait before retry number `attempt` (1, 2, ...): doubling, capped."""
    return min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** max(0, attempt - 1))


@dataclass
class SinkHealth:
    """The sink's own errors and retries per minute, waiting to be written to pipeline_health."""

    reporter: str = field(default_factory=lambda: f"sink-{uuid.uuid4().hex[:8]}")
    errors: Counter[datetime] = field(default_factory=Counter)
    retries: Counter[datetime] = field(default_factory=Counter)
    notes: dict[datetime, str] = field(default_factory=dict)
    flushes: int = 0

    def failed(self, error: BaseException, now: datetime | None = None) -> None:
        minute = (now or datetime.now(UTC)).replace(second=0, microsecond=0)
        self.errors[minute] += 1
        self.retries[minute] += 1
        self.notes[minute] = f"{type(error).__name__}: {error}"[:MAX_ERROR_NOTE_CHARS]

    def pending(self) -> list[list[Any]]:
        """Rows for pipeline_health; each flush has its own reporter so flushes never replace each other."""
        reporter = f"{self.reporter}#{self.flushes}"
        return [health_row(HealthSample(minute=minute, stage="sink", errors=self.errors[minute],
                                        retries=self.retries[minute], note=self.notes.get(minute, "")), reporter)
                for minute in sorted(self.errors)]

    def clear(self) -> None:
        self.errors.clear()
        self.retries.clear()
        self.notes.clear()
        self.flushes += 1


class WarehouseWriter:
    """Inserts batches of output records; raises on failure so the caller retries the whole batch."""

    def __init__(self, client: Client, health: SinkHealth | None = None) -> None:
        self._client = client
        self.health = health or SinkHealth()

    def write(self, batch: Sequence[BaseModel]) -> int:
        """Insert every record of the batch into its tables; returns the rows written."""
        written = 0
        for table, rows in rows_by_table(batch).items():
            self._client.insert(table, rows, column_names=list(COLUMNS[table]),
                                settings={"insert_deduplication_token": dedup_token(table, rows)})
            written += len(rows)
        self._flush_health()
        return written

    def _flush_health(self) -> None:
        rows = self.health.pending()
        if rows:
            self._client.insert("pipeline_health", rows, column_names=list(HEALTH_COLUMNS))
            self.health.clear()


def attach_sink(app: Any, settings: Any) -> Any:
    """Add the sink agents to an existing Faust app (see clickhouse/agents.py, where they live)."""
    from clickhouse.agents import attach_sink as attach

    return attach(app, settings)
