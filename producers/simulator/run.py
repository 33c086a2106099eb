"""Producers stage, simulator adapter: publish a simulation through the producer library.

Valid events go in arrival order through `Publisher.publish_many` or `publish_encoded` (the bulk
path), malformed bytes through `Publisher.publish_payloads` so they are validated and
dead-lettered with their reason (on the bulk path too). A token bucket paces the traffic at
`rate` events/s (None: as fast as possible); a rich progress bar shows it; delivery is confirmed
by a final flush.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import TypeVar, cast

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from producers.publisher import Publisher
from producers.simulator.arrival import MALFORMED_SOURCE, Delivery
from producers.simulator.core import gc_paused
from producers.simulator.parallel import Encoded
from schemas.events import TouchpointEventBase

FAST_CHUNK = 5000  # deliveries per bulk call when unpaced
PACED_CHUNKS_PER_S = 10  # a paced run publishes this many small chunks per second
FLUSH_TIMEOUT_S = 120.0

T = TypeVar("T")


@dataclass
class RunSummary:
    """What was published: valid deliveries by channel (duplicates included) and dead letters."""

    published: Counter[str] = field(default_factory=Counter)
    dead_lettered: int = 0
    elapsed_s: float = 0.0

    @property
    def deliveries(self) -> int:
        return sum(self.published.values()) + self.dead_lettered

    @property
    def rate(self) -> float:
        return self.deliveries / self.elapsed_s if self.elapsed_s > 0 else 0.0


class TokenBucket:
    """At most `rate` tokens per second, with a burst of one second's worth."""

    def __init__(self, rate: float) -> None:
        self.rate, self.tokens, self.last = rate, 0.0, time.monotonic()

    def take(self, n: int) -> None:
        while True:
            now = time.monotonic()
            self.tokens = min(max(self.rate, n), self.tokens + (now - self.last) * self.rate)
            self.last = now
            if self.tokens >= n:
                self.tokens -= n
                return
            time.sleep((n - self.tokens) / self.rate)


def chunks(deliveries: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(deliveries), size):
        yield deliveries[start:start + size]


def chunk_size(rate: float | None) -> int:
    """Deliveries per publishing step: big when unpaced, a tenth of a second's worth when paced."""
    return FAST_CHUNK if not rate else max(1, int(rate / PACED_CHUNKS_PER_S))


def publish(deliveries: Sequence[Delivery], publisher: Publisher, rate: float | None = None,
            show_progress: bool = True) -> RunSummary:
    """Publish every delivery in order (paced when `rate` is set), then flush. Returns the counts."""
    steps = chunks(deliveries, chunk_size(rate))
    return _publish_all(steps, len(deliveries), publish_chunk, publisher, rate, show_progress)


def publish_encoded(encoded: Iterable[Sequence[Encoded]], total: int, publisher: Publisher,
                    rate: float | None = None, show_progress: bool = True) -> RunSummary:
    """`publish` for chunks already encoded (`producers.simulator.parallel`): the same records."""
    with gc_paused():
        return _publish_all(encoded, total, publish_encoded_chunk, publisher, rate, show_progress)


def _publish_all(steps: Iterable[Sequence[T]], total: int,
                 publish_one: Callable[[Sequence[T], Publisher, RunSummary], None],
                 publisher: Publisher, rate: float | None, show_progress: bool) -> RunSummary:
    summary, started = RunSummary(), time.monotonic()
    bucket = TokenBucket(rate) if rate else None
    columns = (TextColumn("simulating"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, disable=not show_progress) as progress:
        task = progress.add_task("publish", total=total)
        for chunk in steps:
            if bucket is not None:
                bucket.take(len(chunk))
            publish_one(chunk, publisher, summary)
            progress.advance(task, len(chunk))
        publisher.flush(FLUSH_TIMEOUT_S)
    summary.elapsed_s = time.monotonic() - started
    return summary


def publish_chunk(chunk: Sequence[Delivery], publisher: Publisher, summary: RunSummary) -> None:
    """Valid events in bulk, malformed payloads through validation (dead letters), in bulk too."""
    events = [d.payload for d in chunk if isinstance(d.payload, TouchpointEventBase)]
    if events:
        publisher.publish_many(events)
        summary.published.update(e.channel for e in events)
    _dead_letter([d.payload for d in chunk if isinstance(d.payload, bytes)], publisher, summary)


def publish_encoded_chunk(chunk: Sequence[Encoded], publisher: Publisher, summary: RunSummary) -> None:
    """Encoded events in bulk; malformed payloads (no key) through validation, in bulk too."""
    events = cast("list[tuple[str, int, bytes, bytes]]", [record for record in chunk if record[2] is not None])
    if events:
        publisher.publish_encoded(events)
        summary.published.update(map(itemgetter(0), events))
    _dead_letter([value for _, _, key, value in chunk if key is None], publisher, summary)


def _dead_letter(malformed: list[bytes], publisher: Publisher, summary: RunSummary) -> None:
    """Malformed payloads through validation, so they are dead-lettered with their reason."""
    if malformed:
        publisher.publish_payloads(malformed, MALFORMED_SOURCE)
        summary.dead_lettered += len(malformed)
