"""Streams adapter, stage 1's checking: raw payloads -> compact records or rejections, on other cores.

Validating a raw event against the contract and turning it into its compact record is the
largest stateless cost of the worker (about a third of its CPU). Python runs one thread at a
time per process, so a worker that validated on its own event loop used one core however many
the machine has. `Checker` hands each raw batch to a pool of `streams.check_processes` processes
(spawned, each with the journey map) and awaits the result, while the worker's loop goes on
resolving and stitching the batches before it; with 0 processes it checks on the loop itself.
Both ways run the same pure function, `check_batch`, so the answers are the same.

Erasure is screened by the worker afterwards (the tombstones it follows live there), on the
records' identifier keys. A pool process that dies fails the batch (BrokenProcessPool): the
worker stops, as for any stage-1 error, and its raw offsets stay uncommitted. A pool process
whose worker was killed exits by itself (streams.pools).
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ProcessPoolExecutor

from schemas.journeymap import JourneyMap
from schemas.validation import Rejection, validate
from streams.core.records import IDS, Record, record_of
from streams.erasure import erased_rejection, refused
from streams.pools import spawn_pool

Payload = tuple[bytes | None, str]  # (raw message value, source: topic:<topic>/<partition>/<offset>)
Checked = Record | Rejection

_MAP: JourneyMap | None = None  # the journey map of a pool process (set by _start)


def check_batch(payloads: list[Payload], journey_map: JourneyMap) -> list[Checked]:
    """Each payload's compact record, or its rejection naming every problem (in the same order)."""
    out: list[Checked] = []
    for value, source in payloads:
        result = validate(value if value is not None else b"", source, journey_map)
        out.append(result if isinstance(result, Rejection) else record_of(result, journey_map))
    return out


def _start(journey_map: JourneyMap) -> None:
    global _MAP
    _MAP = journey_map


def _check_in_pool(payloads: list[Payload]) -> list[Checked]:
    assert _MAP is not None, "pool process started without its journey map"
    return check_batch(payloads, _MAP)


class Checker:
    """Stage 1's checking for one worker: in `processes` pool processes, or on the loop (0)."""

    def __init__(self, journey_map: JourneyMap, processes: int) -> None:
        self.map, self.processes = journey_map, processes
        self._pool: ProcessPoolExecutor | None = None

    async def check(self, payloads: list[Payload]) -> list[Checked]:
        if self.processes == 0:
            return check_batch(payloads, self.map)
        if len(payloads) <= self.processes:
            return await self._run(payloads)
        # one slice per process, so a batch uses every process of the pool
        size = -(-len(payloads) // self.processes)
        parts = await asyncio.gather(*(self._run(payloads[i:i + size]) for i in range(0, len(payloads), size)))
        return [checked for part in parts for checked in part]

    async def _run(self, payloads: list[Payload]) -> list[Checked]:
        if self._pool is None:
            self._pool = spawn_pool(self.processes, _start, self.map)
        result: list[Checked] = await asyncio.get_running_loop().run_in_executor(self._pool, _check_in_pool, payloads)
        return result

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None


def screened(tokens: set[str], checked: Checked, source: str) -> Checked:
    """The record, or a payload-less rejection when it carries an erased identifier (streams.erasure)."""
    if isinstance(checked, Rejection) or not refused(tokens, checked[IDS]):
        return checked
    return erased_rejection(source)

