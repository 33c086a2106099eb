"""Streams adapter: how busy the worker is, how far behind each stage is, and when an idle worker stops.

Health samples count events and dead letters per channel and minute, with the consumer lag of each
raw channel and of stages 2 and 3 (`stage:identity`, `stage:customers`), taken from fetch
responses' high watermarks (right on the local broker too, unlike its ListOffsets). A worker run
with an idle exit stops once stage 1 reads and no stage (nor the embedded sink, `watch`) had work
for a while, every stage has applied its input to the end, and its last health samples are out.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import faust
from pydantic import BaseModel

from foundation.kafka import topic
from foundation.marks import expected_offset, fetch_highwaters
from foundation.settings import Settings
from schemas.outputs import HEALTH_TOPIC
from streams.health import HealthCounter, written_by_sink

log = logging.getLogger(__name__)
FINAL_HEALTH_WAIT_S = 30.0  # how long an idle exit waits for the embedded sink to store the last samples


class Liveness:
    """The worker's activity: stages at work, work known unread, the health counter and the idle exit."""

    def __init__(self, app: faust.App, settings: Settings, health: HealthCounter,
                 publish: Callable[[BaseModel], Awaitable[None]], delivered: Callable[[], Awaitable[None]]) -> None:
        self.app, self.settings, self.health = app, settings, health
        self.publish, self.delivered = publish, delivered
        self.last_work_s = 0.0
        self.reading_since_s = 0.0  # when stage 1 first polled its partitions: idle time counts from there
        self.raw_read_to_end = False  # stage 1 has read its raw partitions to their ends (as of its last poll)
        # Not idle while a stage is in the middle of a message (one may take longer than the idle time on
        # a loaded machine) or while a work topic partition is known to hold messages not yet read.
        # (Not the raw topics: a transactional producer's commit marker would keep their lag at 1.)
        self.working: set[str] = set()
        self.backlog: dict[Any, int] = {}
        self.marks: dict[str, Any] = {}  # work topic -> the table holding its stage's marks (foundation.marks)
        self.also_busy: list[Callable[[], float]] = []  # when other agents of the app last worked (the sink)
        # The embedded sink's count of health samples written, by reporter; this worker's samples published.
        self.samples_written: Callable[[str], int] | None = None
        self.samples_published = 0

    def watch(self, last_work_s: Callable[[], float], samples_written: Callable[[str], int]) -> None:
        """Another agent of the app (the embedded sink): busy when it works, and the last health
        samples wait until it has written them."""
        self.also_busy.append(last_work_s)
        self.samples_written = samples_written

    def begin(self, stage: str) -> None:
        """A stage takes a message (stage 1: a batch): the worker is busy until the stage is `done`."""
        self.working.add(stage)
        self.last_work_s = time.monotonic()

    def done(self, stage: str) -> None:
        self.working.discard(stage)
        self.last_work_s = time.monotonic()

    def reading(self, at_end: bool) -> None:
        self.reading_since_s = self.reading_since_s or time.monotonic()
        self.raw_read_to_end = at_end

    def work_lag(self, channel: str, message: Any) -> None:
        """How far this stage is behind on its work topic partition (high watermark of the last fetch)."""
        high = self.app.consumer.highwater(message.tp)
        if high is not None:
            self.backlog[message.tp] = max(high - message.offset - 1, 0)
            self.health.lag(time.time(), channel, high - message.offset - 1)

    def exit_when_idle(self, idle_s: float) -> Callable[[], Coroutine[Any, Any, None]]:
        """A timer that stops the worker (as SIGTERM would) once stage 1 reads and no stage (nor the
        sink) had work for idle_s: a worker started with nothing to read stops too. Its last health
        samples are published first and, with the embedded sink, written to the warehouse. A stage in the
        middle of a message is work, and so is a work partition known to hold unread messages: on a loaded
        machine one message can take longer than idle_s (the worker once exited as if it had finished)."""
        async def check() -> None:
            if self.working or self.unread():  # a message in progress, or known unread work, is work
                return
            last = max([self.reading_since_s, self.last_work_s, *(clock() for clock in self.also_busy)])
            if self.reading_since_s and time.monotonic() - last > idle_s and await self.caught_up():
                await self.publish_last_health()
                os.kill(os.getpid(), signal.SIGTERM)
        return check

    async def caught_up(self) -> bool:
        """Every stage has applied its input to the end. On a loaded machine stages 2 and 3 joined
        after stage 1 had gone quiet (or stage 1's first fetch came late), and an idle exit left work
        unapplied."""
        if not self.raw_read_to_end:
            return False
        held = [tp for tp in self.app.consumer.assignment() if tp.topic in self.marks]
        if not held:
            return False  # not joined yet
        ends = await asyncio.get_running_loop().run_in_executor(None, fetch_highwaters, self.settings, held)
        return all((end := ends[tp]) is not None and (expected_offset(self.marks[tp.topic], tp.partition) or 0) >= end
                   for tp in held)

    async def flush_health(self) -> None:
        for sample in self.health.closed(time.time()):
            await self.publish_sample(sample)

    async def publish_sample(self, sample: BaseModel) -> None:
        await self.publish(sample)
        self.samples_published += 1

    async def publish_last_health(self) -> None:
        """Every sample still counted, acknowledged and, with the embedded sink, written to the warehouse,
        waiting FINAL_HEALTH_WAIT_S at most: until the sink has written as many of this worker's samples as
        it published. (Counting any records written was not enough: a sink that fetched the worker's last
        outputs late wrote those, and the worker left before its samples were written.)"""
        samples = self.health.closed(time.time(), everything=True)
        for sample in samples:
            await self.publish_sample(sample)
        await self.delivered()
        if not samples or self.samples_written is None:
            return
        written, reporter = self.samples_written, self.health.reporter
        if not await written_by_sink(lambda: written(reporter), self.samples_published, FINAL_HEALTH_WAIT_S):
            log.warning("the sink did not write the last health samples within %.0f s; they stay on %s",
                        FINAL_HEALTH_WAIT_S, topic(self.settings, HEALTH_TOPIC))

    def unread(self) -> int:
        """Messages known to wait on the work topic partitions this worker has (a rebalance may have
        moved others to another worker: what this one last saw of them is no longer its work)."""
        if not self.backlog:
            return 0
        assigned = self.app.consumer.assignment()
        return sum(behind for tp, behind in self.backlog.items() if tp in assigned)
