"""Streams adapter support: per-minute operations counts turned into HealthSample records.

The worker counts events and dead letters per channel as it goes; once a minute has passed the
counts of that minute are published to pipeline.health, where the warehouse stores them.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

from schemas.outputs import HealthSample

SECONDS_PER_MINUTE = 60


class HealthCounter:
    """Counts per (minute, channel); `closed()` hands over the minutes that are over."""

    def __init__(self) -> None:
        self.events: Counter[tuple[int, str]] = Counter()
        self.dead: Counter[tuple[int, str]] = Counter()

    def count(self, now_s: float, channel: str, dead: bool) -> None:
        key = (int(now_s // SECONDS_PER_MINUTE), channel)
        (self.dead if dead else self.events)[key] += 1

    def closed(self, now_s: float, everything: bool = False) -> list[HealthSample]:
        current = int(now_s // SECONDS_PER_MINUTE)
        keys = {k for k in (*self.events, *self.dead) if everything or k[0] < current}
        samples = [HealthSample(minute=datetime.fromtimestamp(minute * SECONDS_PER_MINUTE, UTC), stage="worker",
                                channel=channel, events=self.events.pop((minute, channel), 0),
                                dead_letters=self.dead.pop((minute, channel), 0))
                   for minute, channel in sorted(keys)]
        return samples
