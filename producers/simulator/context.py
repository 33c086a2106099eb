"""Producers stage, simulator core: the seeded source of every random choice and identifier.

One `Context` belongs to one person: their own `random.Random` stream derived from (seed, person
index), the journey map and the PII secret, so people can be written in any order or process and
the same seed still yields the same traffic. Ids (devices, loyalty cards, CRM ids, source ids)
are unique by construction, not by a shared register: (person index, the person's own counter),
mixed with a seed-derived salt so they look random and differ between seeds. Measures are drawn
from realistic distributions and clamped below the journey map's friction thresholds: the only
friction is the injected friction.
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
PHONE_STRIDE = 7919  # a prime coprime to PHONE_POOL: person index -> phone number is one-to-one
ID_COUNTER_BITS = 20  # ids per person; the person index sits above them
ID_MIX = 0x9E3779B97F4A7C15  # odd: multiplying by it modulo 2**bits is one-to-one
ID_FORMATS = {bits: f"%0{bits // 4}x" for bits in (40, 48, 64)}


def person_rng(seed: int, index: int) -> random.Random:
    """Person `index`'s own random stream: independent of everyone else's draws."""
    return random.Random(f"{seed}/{index}")


def id_salt(seed: int) -> int:
    return random.Random(f"{seed}/ids").getrandbits(64)


@dataclass
class Context:
    """Seeded randomness, the journey map and the PII secret of one simulation."""

    rng: random.Random
    journey_map: JourneyMap
    secret: bytes
    owner: int  # the person index (or beyond the last person, for ids shared by people)
    salt: int  # `id_salt(seed)`
    _issued: int = field(default=0, repr=False)

    @property
    def limits(self) -> FrictionThresholds:
        return self.journey_map.friction

    def uid(self, prefix: str, bits: int = 64) -> str:
        """A fresh id, unique within the simulation: (owner, counter) mixed one-to-one into `bits` bits."""
        self._issued += 1
        value = (((self.owner << ID_COUNTER_BITS) | self._issued) * ID_MIX ^ self.salt) & ((1 << bits) - 1)
        return prefix + ID_FORMATS[bits] % value

    def phone_number(self) -> str:
        """The owner's fictional UK mobile number (+44 7700 9xxxxx), unique to them, in E.164."""
        if self.owner >= PHONE_POOL:
            raise ValueError(f"more than {PHONE_POOL} simulated people cannot all have a phone")
        return f"+4477009{(self.owner * PHONE_STRIDE + self.salt) % PHONE_POOL:05d}"

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    def uniform(self, low: float, high: float) -> float:
        return self.rng.uniform(low, high)

    def lognormal(self, median: float, sigma: float, low: float, high: float) -> float:
        """A lognormal draw around `median`, clamped to [low, high]."""
        return min(high, max(low, math.exp(math.log(median) + sigma * self.rng.gauss())))  # gauss: half the cost

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
        return timedelta(0, self.lognormal(DAY_S, 1.1, 0.5 * HOUR_S, cap_days * DAY_S))

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
