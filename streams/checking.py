"""Streams adapter, stage 1's checking: raw payloads -> compact records or rejections, on other cores.

Validating a raw event against the contract and turning it into its compact record is the
largest stateless cost of the worker (about a third of its CPU). Python runs one thread at a
time per process, so a worker that validated on its own event loop used one core however many
the machine has. `Checker` hands each raw batch to a pool of `streams.check_processes` processes
(spawned, each with the journey map) and awaits the result, while the worker's loop goes on
resolving and stitching the batches before it; with 0 processes it checks on the loop itself.
Both ways run the same pure function, `check_batch`, so the answers are the same.

The answer comes back ready to send: the accepted records already cut into the identity stage's
work messages (JSON), and the rejections with their positions, so the worker's loop neither
unpickles nor re-encodes records (that cost it as much as a stage). Erased identifiers are
screened here too, against the tokens the worker follows (streams.erasure) at the time of the
batch. The check is also the worker's edge for the raw topics (schemas.validation.Edge): an
event must name the channel of its topic, and its received_time may run ahead of the message's
broker timestamp (or the worker's clock, if earlier) by `received_skew_s` at most. A pool process that dies fails the batch (BrokenProcessPool): the worker stops, as for any
stage-1 error, and its raw offsets stay uncommitted. A pool process whose worker was killed exits
by itself (streams.pools).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from schemas.journeymap import JourneyMap
from schemas.validation import DEFAULT_RECEIVED_SKEW_S, Edge, Rejection, validate
from streams.batch_send import MAX_MESSAGE_BYTES
from streams.core.records import IDS, Record, record_of
from streams.erasure import ErasureList, erased_rejection, refused
from streams.pools import spawn_pool
from streams.work import work_messages

# (raw message value, source: topic:<topic>/<partition>/<offset>, its topic's channel or None,
# its broker timestamp in ms or None)
Payload = tuple[bytes | None, str] | tuple[bytes | None, str, str | None, int | None]
Checked = Record | Rejection

_MAP: JourneyMap | None = None  # the journey map of a pool process (set by _start)


@dataclass
class CheckedBatch:
    """A checked batch: accepted records as identity-stage work messages, in order; the rejected
    payloads as (position in the batch, rejection)."""

    work: list[bytes] = field(default_factory=list)
    rejected: list[tuple[int, Rejection]] = field(default_factory=list)
    accepted: int = 0


def raw_payloads(messages: Iterable[Any]) -> list[Payload]:
    """The payloads of raw-topic messages (aiokafka records of `<prefix>touchpoints.<channel>`)."""
    return [(m.value, f"topic:{m.topic}/{m.partition}/{m.offset}", m.topic.rsplit(".", 1)[-1],
             m.timestamp if m.timestamp is not None and m.timestamp > 0 else None) for m in messages]


def check_batch(payloads: list[Payload], journey_map: JourneyMap,
                skew_s: float = DEFAULT_RECEIVED_SKEW_S) -> list[Checked]:
    """Each payload's compact record, or its rejection naming every problem (in the same order)."""
    out: list[Checked] = []
    now_ms = datetime.now(UTC).timestamp() * 1000
    for payload in payloads:
        value, source = payload[0], payload[1]
        channel, stamp_ms = (payload[2], payload[3]) if len(payload) == 4 else (None, None)
        # the broker's timestamp, unless ahead of this clock: a replay finds the same received times
        received = datetime.fromtimestamp(min(stamp_ms or now_ms, now_ms) / 1000, UTC)
        result = validate(value if value is not None else b"", source, journey_map, Edge(received, skew_s, channel))
        out.append(result if isinstance(result, Rejection) else record_of(result, journey_map))
    return out


def checked_work(payloads: list[Payload], journey_map: JourneyMap, erased: ErasureList | None = None,
                 limit: int = MAX_MESSAGE_BYTES, skew_s: float = DEFAULT_RECEIVED_SKEW_S) -> CheckedBatch:
    """`check_batch`, screened for erased identifiers, as work messages of at most `limit` bytes."""
    result, records = CheckedBatch(), []
    checked_all = check_batch(payloads, journey_map, skew_s)
    for position, (checked, payload) in enumerate(zip(checked_all, payloads, strict=True)):
        checked = screened(erased, checked, payload[1])
        if isinstance(checked, Rejection):
            result.rejected.append((position, checked))
        else:
            records.append(checked)
    result.accepted = len(records)
    result.work = work_messages(records, limit) if records else []
    return result


def _start(journey_map: JourneyMap) -> None:
    global _MAP
    _MAP = journey_map


def _check_in_pool(payloads: list[Payload], erased: ErasureList | None, skew_s: float) -> CheckedBatch:
    assert _MAP is not None, "pool process started without its journey map"
    return checked_work(payloads, _MAP, erased, skew_s=skew_s)


class Checker:
    """Stage 1's checking for one worker: in `processes` pool processes, or on the loop (0)."""

    def __init__(self, journey_map: JourneyMap, processes: int, skew_s: float = DEFAULT_RECEIVED_SKEW_S) -> None:
        self.map, self.processes, self.skew_s = journey_map, processes, skew_s
        self._pool: ProcessPoolExecutor | None = None

    async def check(self, payloads: list[Payload], erased: ErasureList | None = None) -> CheckedBatch:
        """The batch checked and screened against a snapshot of the erasure list (same answer on the loop or in the pool)."""
        if self.processes == 0:
            return checked_work(payloads, self.map, erased, skew_s=self.skew_s)
        if len(payloads) <= self.processes:
            return await self._run(payloads, erased)
        # one slice per process, so a batch uses every process of the pool
        size = -(-len(payloads) // self.processes)
        parts = await asyncio.gather(*(self._run(payloads[i:i + size], erased)
                                       for i in range(0, len(payloads), size)))
        whole = CheckedBatch()
        for start, part in zip(range(0, len(payloads), size), parts, strict=True):
            whole.work += part.work
            whole.rejected += [(start + position, rejection) for position, rejection in part.rejected]
            whole.accepted += part.accepted
        return whole

    async def _run(self, payloads: list[Payload], erased: ErasureList | None) -> CheckedBatch:
        if self._pool is None:
            self._pool = spawn_pool(self.processes, _start, self.map)
        loop = asyncio.get_running_loop()
        result: CheckedBatch = await loop.run_in_executor(self._pool, _check_in_pool, payloads, erased, self.skew_s)
        return result

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None


def screened(erased: ErasureList | None, checked: Checked, source: str) -> Checked:
    """The record, or a payload-less rejection when it carries an erased identifier (streams.erasure)."""
    if erased is None or isinstance(checked, Rejection) or not refused(erased, checked[IDS]):
        return checked
    return erased_rejection(source)

