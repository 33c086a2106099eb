"""Producers stage, simulator core: the seeded source of every random choice and identifier.

One `Context` holds the simulation's `random.Random(seed)`, the journey map and the PII secret.
Every id (devices, loyalty cards, CRM ids, source ids) and every measure is drawn from it, so the
same seed always yields the same traffic. Measures are drawn from realistic distributions and
clamped below the journey map's friction thresholds: the only friction is the injected friction.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import timedelta

from schemas.journeymap import FrictionThresholds, JourneyMap

HOUR_S = 3600.0
DAY_S = 86400.0
SAFE_SHARE = 0.9  # non-injected measures stay below this share of their threshold
MAX_SESSION_GAP_DAYS = 6.0
PHONE_POOL = 100_000  # +44 7700 9xxxxx


@dataclass
class Context:
    """Seeded randomness, the journey map and the PII secret of one simulation."""

    rng: random.Random
    journey_map: JourneyMap
    secret: bytes
    _used_ids: set[str] = field(default_factory=set)
    _used_phones: set[int] = field(default_factory=set)

    @property
    def limits(self) -> FrictionThresholds:
        return self.journey_map.friction

    def uid(self, prefix: str, bits: int = 64) -> str:
        """A fresh id, unique within the simulation, derived from the seed."""
        while True:
            value = f"{prefix}{self.rng.getrandbits(bits):0{bits // 4}x}"
            if value not in self._used_ids:
                self._used_ids.add(value)
                return value

    def phone_number(self) -> str:
        """A fresh fictional UK mobile number (+44 7700 9xxxxx)."""
        if len(self._used_phones) >= PHONE_POOL:
            raise ValueError(f"more than {PHONE_POOL} simulated callers")
        while (n := self.rng.randrange(PHONE_POOL)) in self._used_phones:
            pass
        self._used_phones.add(n)
        return f"+44 7700 9{n:05d}"

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    def uniform(self, low: float, high: float) -> float:
        return self.rng.uniform(low, high)

    def lognormal(self, median: float, sigma: float, low: float, high: float) -> float:
        """A lognormal draw around `median`, clamped to [low, high]."""
        return min(high, max(low, self.rng.lognormvariate(math.log(median), sigma)))

    # Measures: realistic, and below the map's thresholds unless injected.

    def dwell_s(self) -> float:
        return round(self.lognormal(45.0, 0.9, 2.0, 1800.0), 1)

    def call_wait_s(self, injected: bool = False) -> float:
        limit = self.limits.call_wait_s
        if injected:
            return round(limit * self.uniform(1.15, 3.0), 1)
        return round(self.lognormal(limit / 5, 0.7, 3.0, limit * SAFE_SHARE), 1)

    def transfers(self, injected: bool = False) -> int:
        limit = self.limits.transfers
        if injected:
            return limit + self.rng.randint(0, 3)
        return min(limit - 1, 1 if self.chance(0.2) else 0)

    def handle_s(self) -> float:
        return round(self.lognormal(330.0, 0.5, 40.0, 3600.0), 1)

    def queue_wait_s(self, injected: bool = False) -> float:
        limit = self.limits.store_queue_s
        if injected:
            return round(limit * self.uniform(1.15, 2.5), 1)
        return round(self.lognormal(limit / 5, 0.6, 0.0, limit * SAFE_SHARE), 1)

    def reply_delay(self, late: bool = False) -> timedelta:
        limit_h = self.limits.email_unanswered_h
        hours = limit_h * self.uniform(1.15, 2.5) if late else self.lognormal(limit_h / 6, 0.8, 0.1,
                                                                                   limit_h * 0.8)
        return timedelta(hours=hours)

    def score(self, maximum: int, bad_at_most: int, injected: bool = False) -> int | None:
        """A survey score on [low, maximum]: friction when <= bad_at_most. None if no good value exists."""
        low = 1 if maximum == 5 else 0
        if injected:
            return self.rng.randint(low, bad_at_most)
        return None if bad_at_most >= maximum else self.rng.randint(bad_at_most + 1, maximum)

    # Time between things.

    def session_gap(self) -> timedelta:
        """Between two sessions of one journey: well below the stall and inactivity thresholds."""
        policy = self.journey_map.journey
        cap_days = min(MAX_SESSION_GAP_DAYS, self.limits.stalled_days * 0.45, policy.inactivity_gap_days * 0.3)
        return timedelta(seconds=self.lognormal(DAY_S, 1.1, 0.5 * HOUR_S, cap_days * DAY_S))

    def stall_gap(self) -> timedelta:
        """An injected stall: more than stalled_days, less than the inactivity gap."""
        stalled, inactive = self.limits.stalled_days, self.journey_map.journey.inactivity_gap_days
        low, high = stalled + 2, inactive - 5
        if high <= low:
            low, high = stalled + (inactive - stalled) * 0.3, stalled + (inactive - stalled) * 0.7
        return timedelta(days=self.uniform(low, high))

    def journey_gap(self) -> timedelta:
        """Between two journeys of one person: well beyond the inactivity gap."""
        inactive = self.journey_map.journey.inactivity_gap_days
        return timedelta(days=self.uniform(inactive + 10, inactive + 60))
