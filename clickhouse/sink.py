"""ClickHouse stage: the warehouse sink's decoding, retry policy and batching writer.

The pure part turns output-topic messages into records (bad ones into DeadLetter values with a
reason, kept in the dead_letters table) and says how long to back off after a failure. The
writer has quix-streams' BatchingSink shape: `write(batch)` inserts one batch of records into
their tables with clickhouse-connect, each insert carrying a deduplication token, so a batch
written twice (a retry, a replay) is written once. The consumer loop that drives it lives in
clickhouse/agents.py (`attach_sink`).
"""

from __future__ import annotations

import base64
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pyarrow as pa
from clickhouse_connect.driver.client import Client
from pydantic import BaseModel, ValidationError

from clickhouse.rows import (
    BOOL_COLUMNS,
    COLUMNS,
    FLOAT_COLUMNS,
    INT_COLUMNS,
    LIST_COLUMNS,
    STRING_LIST_MAP_COLUMNS,
    STRING_MAP_COLUMNS,
    TIME_COLUMNS,
    TIME_LIST_COLUMNS,
    TIME_MAP_COLUMNS,
    Row,
    dedup_token,
    health_row,
    rows_by_table,
)
from schemas.outputs import OUTPUTS, DeadLetter, HealthSample, reader_of

SINK_TOPICS = tuple(OUTPUTS)  # every output topic (schemas.outputs.OUTPUTS) lands in the warehouse
BACKOFF_BASE_S = 0.2
BACKOFF_CAP_S = 5.0
MAX_ERROR_NOTE_CHARS = 300


def decode(kind: str, payload: bytes, source: str, timestamp: datetime) -> BaseModel:
    """The record in one message of output topic `kind`, or a DeadLetter saying why not."""
    try:
        return reader_of(kind).model_validate_json(payload)
    except (ValidationError, ValueError) as err:
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


def refused(kind: str, record: BaseModel, source: str, timestamp: datetime, error: BaseException) -> DeadLetter:
    """A dead letter for a record the warehouse refused on its own (payload: the record as JSON);
    its time is the message's, so a replay gives the same dead letter."""
    return DeadLetter(source=source, reason=f"the warehouse refused a {kind} record", kind="refused",
                      problems=(f"{type(error).__name__}: {error}"[:2000],),
                      payload=record.model_dump_json(serialize_as_any=True), payload_encoding="utf-8",
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

    def pending(self) -> list[Row]:
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


TIMESTAMP = pa.timestamp("ms", tz="UTC")


def arrow_type(column: str) -> pa.DataType:
    """The Arrow type a column travels as; ClickHouse casts it to the column's own type."""
    kinds = ((INT_COLUMNS, pa.int64()), (FLOAT_COLUMNS, pa.float64()), (BOOL_COLUMNS, pa.bool_()),
             (TIME_COLUMNS, TIMESTAMP), (LIST_COLUMNS, pa.list_(pa.string())), (TIME_LIST_COLUMNS, pa.list_(TIMESTAMP)),
             (TIME_MAP_COLUMNS, pa.map_(pa.string(), TIMESTAMP)), (STRING_MAP_COLUMNS, pa.map_(pa.string(), pa.string())),
             (STRING_LIST_MAP_COLUMNS, pa.map_(pa.string(), pa.list_(pa.string()))))
    return next((kind for names, kind in kinds if column in names), pa.string())


SCHEMAS = {table: pa.schema([(name, arrow_type(name)) for name in names]) for table, names in COLUMNS.items()}


def to_arrow(table: str, rows: Sequence[Row]) -> pa.Table:
    """Rows of one table as an Arrow table (converted in C): a columnar insert, far faster than row inserts."""
    return pa.Table.from_pylist(list(rows), schema=SCHEMAS[table])


class WarehouseWriter:
    """Inserts batches of output records; raises on failure so the caller retries the whole batch."""

    def __init__(self, client: Client, health: SinkHealth | None = None) -> None:
        self._client = client
        self.health = health or SinkHealth()

    def write(self, batch: Sequence[BaseModel]) -> int:
        """Insert every record of the batch into its tables; returns the rows written."""
        written = 0
        for table, rows in rows_by_table(batch).items():
            self._client.insert_arrow(table, to_arrow(table, rows),
                                      settings={"insert_deduplication_token": dedup_token(table, rows)})
            written += len(rows)
        self._flush_health()
        return written

    def ping(self) -> None:
        """Raises unless the warehouse answers a query."""
        self._client.query("SELECT 1")

    def _flush_health(self) -> None:
        rows = self.health.pending()
        if rows:
            self._client.insert_arrow("pipeline_health", to_arrow("pipeline_health", rows))
            self.health.clear()

