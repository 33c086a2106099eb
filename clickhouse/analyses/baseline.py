"""ClickHouse stage, pure core of incidents: judge counts against a baseline, join flagged periods.

No ClickHouse here: counts in (period, what, who, numerator, denominator), incidents out, so the
statistics are unit-tested alone. A rate (frictions per journey, a step's share of the journeys at
its touchpoint) is compared with the pooled rate of the trailing periods by a two-proportion
z-test with continuity correction; a volume (events per period) by a Poisson test on the trailing
mean. Small counts are honest twice over: the continuity correction shrinks z, and a period is
only flagged with at least `min_count` events and a minimum effect. Consecutive flagged periods
of one (touchpoint, what, who) join into one incident; a flagged period stays out of the
baseline of the periods after it, so a long incident does not become its own normal. Once a cell
is flagged, the period right after it continues the incident on weaker evidence (|z| >=
`z_continue`, any count, the same minimum effect): an incident that strikes fewer customers in
one of its weeks is neither cut in two nor let into the baseline, where it would hide its own end.
Short periods that end at the data's present (live use, clickhouse/analyses/recent.py) turn on
`live`, three rules: a rate that already swings between its baseline periods more than chance
allows has its z shrunk by that excess (a quasi-binomial test), so a share that moves with the
periods' boundaries is no incident; a period with fewer than half its baseline's journeys at the
touchpoint is not judged yet (a late channel's batch has not arrived: its frictions, found from
feedback that arrives as it happens, would outnumber its calls); nor is a share above 1.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime

EVERYONE = "*"
DEFAULT_Z = 4.0  # many cells are tested at once: |z| >= 4 is p < 1e-4 per cell
DEFAULT_Z_CONTINUE = 2.0  # one cell, right after its flagged period: p < 0.05 continues the incident
DEFAULT_MIN_COUNT = 5
DEFAULT_MIN_RATIO = 1.5  # a rate must move by half again (or halve) to be an incident
DEFAULT_BASELINE_PERIODS = 4
SETTLED_SHARE = 0.5  # live: a period with fewer of its touchpoint's journeys than this share of usual is incomplete
CONCENTRATED_SHARE = 0.8  # a value holding this share of an incident's events...
OVER_REPRESENTED = 0.6  # ...with at most this share of its journeys is where the change concentrates


@dataclass(frozen=True)
class Count:
    """One cell of one period: `numerator` of `denominator` (volume: denominator 0)."""

    period: datetime
    family: str  # friction | step | volume
    touchpoint: str
    what: str  # the rule, the event type, or 'events'
    who: str  # 'dim=value' or EVERYONE
    numerator: int
    denominator: int


@dataclass(frozen=True)
class Verdict:
    count: Count
    baseline_rate: float
    rate: float
    z: float


@dataclass(frozen=True)
class Incident:
    start: datetime
    end: datetime  # the start of the last flagged period
    family: str
    touchpoint: str
    what: str
    who: str
    periods: int
    numerator: int
    denominator: int
    rate: float
    baseline_rate: float
    effect: float  # rate / baseline rate (volume: count / baseline mean); inf when the baseline is 0
    score: float  # the largest |z| of its periods
    concentrated_in: str = ""  # for everyone: the dimension value holding most of it, if one does


@dataclass(frozen=True)
class Thresholds:
    z: float = DEFAULT_Z
    z_continue: float = DEFAULT_Z_CONTINUE
    min_count: int = DEFAULT_MIN_COUNT
    min_ratio: float = DEFAULT_MIN_RATIO
    baseline_periods: int = DEFAULT_BASELINE_PERIODS
    season: int = 1  # compare with the periods this many before (7: days with the same weekday)
    live: bool = False  # short periods ending at the data's present: the three rules of the module's doc

    @property
    def warm_up(self) -> int:
        """Periods before the first one that can be judged."""
        return self.baseline_periods * self.season


def two_proportion_z(x1: int, n1: int, x0: int, n0: int) -> float:
    """Signed z of x1/n1 against x0/n0, with Yates' continuity correction (0 when undefined). Live counts
    can hold more journeys with a friction than journeys at its touchpoint for a moment (the frictions'
    rows written before the steps'): a pooled share above 1 has no spread, and is judged as none."""
    if n1 <= 0 or n0 <= 0:
        return 0.0
    pooled = min(1.0, (x1 + x0) / (n1 + n0))
    spread = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n0))
    if spread == 0:
        return 0.0
    diff = x1 / n1 - x0 / n0
    corrected = max(0.0, abs(diff) - 0.5 * (1 / n1 + 1 / n0))
    return math.copysign(corrected / spread, diff)


def poisson_z(observed: int, expected: float) -> float:
    """Signed z of a count against a Poisson mean (Anscombe's square-root transform, stable for small counts)."""
    if expected <= 0:
        return 0.0 if observed == 0 else 2 * math.sqrt(observed + 3 / 8)
    return 2 * (math.sqrt(observed + 3 / 8) - math.sqrt(expected + 3 / 8))


def dispersion(trailing: list[Count]) -> float:
    """How much more a rate varies between the baseline periods than a binomial count would
    (Pearson's chi-square over its degrees of freedom, at least 1): a share that swings from
    period to period by itself (a step split over short periods' boundaries, a trend) needs a
    larger departure to be news. 1 with fewer than two periods or a rate of 0 or 1."""
    seen = [c for c in trailing if c.denominator > 0]
    x, n = sum(c.numerator for c in seen), sum(c.denominator for c in seen)
    if len(seen) < 2 or x in (0, n):
        return 1.0
    rate = x / n
    chi2 = sum((c.numerator - c.denominator * rate) ** 2 / (c.denominator * rate * (1 - rate)) for c in seen)
    return max(1.0, chi2 / (len(seen) - 1))


def judge(counts: Iterable[Count], periods: list[datetime], limits: Thresholds) -> list[Verdict]:
    """The flagged cells of every period that has `baseline_periods` trailing periods (of its
    season: the same weekday for days with season 7) before it."""
    cells: dict[tuple[str, str, str, str], dict[datetime, Count]] = defaultdict(dict)
    present: dict[tuple[datetime, str, str], int] = {}  # journeys at (period, touchpoint, who)
    for c in counts:
        cells[(c.family, c.touchpoint, c.what, c.who)][c.period] = c
        present[(c.period, c.touchpoint, c.who)] = max(c.denominator, present.get((c.period, c.touchpoint, c.who), 0))
    flagged: list[Verdict] = []
    for series in cells.values():
        normal = list(range(limits.warm_up))  # indexes of periods; a flagged one does not join the baseline
        running: Verdict | None = None  # the flagged verdict of the period before, if any
        for i in range(limits.warm_up, len(periods)):
            current = series.get(periods[i])
            trailing = [series.get(p) or _nothing(current, p, present) for p in _alike(normal, i, periods, limits)] \
                if current else []
            running = _verdict(current, trailing, _continuing(limits, running)) if current else None
            if running:
                flagged.append(running)
            else:
                normal.append(i)
    return flagged


def _alike(normal: list[int], i: int, periods: list[datetime], limits: Thresholds) -> list[datetime]:
    """The last `baseline_periods` unflagged periods before period i of its season, oldest first;
    walked back from i, so a long series costs each period its baseline, not the whole series."""
    found: list[datetime] = []
    for j in reversed(normal):
        if (i - j) % limits.season == 0:
            found.append(periods[j])
            if len(found) == limits.baseline_periods:
                break
    return found[::-1]


def _continuing(limits: Thresholds, running: Verdict | None) -> Thresholds:
    """The thresholds of a period right after a flagged one: weaker evidence continues an incident."""
    return limits if running is None else replace(limits, z=min(limits.z, limits.z_continue), min_count=1)


def _nothing(like: Count, period: datetime, present: dict[tuple[datetime, str, str], int]) -> Count:
    """A period where the cell never happened: zero of the journeys that were at its touchpoint."""
    journeys = 0 if like.family == "volume" else present.get((period, like.touchpoint, like.who), 0)
    return Count(period, like.family, like.touchpoint, like.what, like.who, 0, journeys)


def _verdict(current: Count, trailing: list[Count], limits: Thresholds) -> Verdict | None:
    if limits.live and current.family != "volume" and not _settled(current, trailing):
        return None
    x0 = sum(c.numerator for c in trailing)
    if current.family == "volume":
        expected = x0 / limits.baseline_periods
        z, rate, base = poisson_z(current.numerator, expected), float(current.numerator), expected
    else:
        n0 = sum(c.denominator for c in trailing)
        z = two_proportion_z(current.numerator, current.denominator, x0, n0)
        if limits.live:
            z /= math.sqrt(dispersion(trailing))
        rate = current.numerator / current.denominator if current.denominator else 0.0
        base = x0 / n0 if n0 else 0.0
    rises = z > 0 and current.numerator >= limits.min_count and rate >= base * limits.min_ratio
    falls = z < 0 and (base * _weight(current, limits) - current.numerator) >= limits.min_count \
        and rate * limits.min_ratio <= base
    if abs(z) < limits.z or not (rises or falls):
        return None
    return Verdict(current, base, rate, z)


def _settled(current: Count, trailing: list[Count]) -> bool:
    """Whether a live period holds its touchpoint's journeys: at least half its baseline's mean, and
    no more frictions or steps than journeys."""
    usual = sum(c.denominator for c in trailing) / len(trailing) if trailing else 0.0
    return current.numerator <= current.denominator and current.denominator >= SETTLED_SHARE * usual


def _weight(current: Count, limits: Thresholds) -> float:
    """What the baseline rate expects the numerator to be this period (volume: the rate is a count)."""
    return 1.0 if current.family == "volume" else float(current.denominator)


def incidents(verdicts: list[Verdict], periods: list[datetime]) -> list[Incident]:
    """Consecutive flagged periods of one cell, same direction, as one incident; then the most
    specific `who`: an everyone-incident overlapping a dimension-value incident of the same
    (touchpoint, what) is dropped, as the value names where the change is concentrated."""
    order = {p: i for i, p in enumerate(periods)}
    runs: dict[tuple[str, str, str, str, bool], list[Verdict]] = defaultdict(list)
    joined: list[Incident] = []
    for v in sorted(verdicts, key=lambda v: order[v.count.period]):
        key = (v.count.family, v.count.touchpoint, v.count.what, v.count.who, v.z > 0)
        run = runs[key]
        if run and order[v.count.period] != order[run[-1].count.period] + 1:
            joined.append(_incident(run))
            run.clear()
        run.append(v)
    joined += [_incident(run) for run in runs.values() if run]
    return sorted(_most_specific(joined), key=lambda i: (i.start, -i.score))


def _incident(run: list[Verdict]) -> Incident:
    x = sum(v.count.numerator for v in run)
    n = sum(v.count.denominator for v in run)
    first, last = run[0].count, run[-1].count
    base = sum(v.baseline_rate for v in run) / len(run)
    rate = x / n if n else x / len(run)
    effect = rate / base if base else math.inf
    return Incident(first.period, last.period, first.family, first.touchpoint, first.what, first.who, len(run),
                    x, n, round(rate, 4), round(base, 4), round(effect, 2) if base else effect,
                    round(max(abs(v.z) for v in run), 2))


def _most_specific(found: list[Incident]) -> list[Incident]:
    specific = [i for i in found if i.who != EVERYONE]

    def covered(i: Incident) -> bool:
        return any(s.family == i.family and s.touchpoint == i.touchpoint and s.what == i.what
                   and s.start <= i.end and i.start <= s.end for s in specific)

    return [i for i in found if i.who != EVERYONE or not covered(i)]


def concentrate(found: list[Incident], counts: list[Count]) -> list[Incident]:
    """Each everyone-incident with the dimension value that holds most of its events (and far
    fewer of its journeys): a change of everyone's rate can be one device's or one team's."""
    return [replace(i, concentrated_in=_concentration(i, counts)) if i.who == EVERYONE else i for i in found]


def _concentration(incident: Incident, counts: list[Count]) -> str:
    by_value: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for c in counts:
        if (c.who != EVERYONE and c.family == incident.family and c.touchpoint == incident.touchpoint
                and c.what == incident.what and incident.start <= c.period <= incident.end):
            by_value[c.who][0] += c.numerator
            by_value[c.who][1] += c.denominator
    for who, (x, n) in sorted(by_value.items(), key=lambda kv: -kv[1][0]):
        journeys_share = n / incident.denominator if incident.denominator else 0.0
        if incident.numerator and x >= CONCENTRATED_SHARE * incident.numerator and journeys_share <= OVER_REPRESENTED:
            return who
    return ""
