"""Experience map, pure core: warehouse rows in, the map's data model out (no I/O here).

The map is a presentation of the warehouse, like the dashboards: phases across, touchpoints down,
one cell per (phase, touchpoint) with its volume, share of customers, friction rate, top friction
rule and average CSAT; an emotion score per phase; the moments of truth; and, for two periods, the
change of every cell, judged by tests honest about small counts: its frictions per step (all
rules, and each rule) by a conditional rate-ratio binomial test, its events per customer by the
incidents' Poisson test (clickhouse/analyses/baseline.py). A doubled help-centre volume, or a
friction rate that moved a little on many steps, is not "same" because its raw delta is small; a
few events on a quiet cell are not "worse" because their delta is large. Query rows arrive as
plain dicts (see grafana/experience_map/queries.py); every figure shown on the map is computed
here, so rendering and tests read the same numbers.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from clickhouse.analyses.baseline import poisson_z
from grafana.experience_map.sankey import Transition
from schemas.journeymap import JourneyMap

Row = Mapping[str, Any]
CellKey = tuple[str, str]  # (phase, touchpoint)

CSAT_NEUTRAL = 3.0  # CSAT 1..5: 3 is neither satisfied nor dissatisfied
CSAT_HALF_RANGE = 2.0
NPS_NEUTRAL = 5.0  # NPS answer 0..10
NPS_HALF_RANGE = 5.0
FRICTION_WEIGHT = 0.5  # emotion = half satisfaction, half absence of friction
MOMENTS_OF_TRUTH = 3  # cells marked per map
MIN_GROUP_JOURNEYS = 2  # a lift needs this many journeys with and without friction
MAP_Z = 3.0  # |z| of a cell's change to colour it (a map tests tens of cells: p < 0.003 each)
MIN_CHANGE_COUNT = 5  # fewest frictions (or events) of difference behind a coloured cell
NO_DATA = "no data"
EMOTIONS = ((0.5, "happy"), (0.1, "satisfied"), (-0.1, "indifferent"), (-0.5, "frustrated"))


@dataclass(frozen=True)
class Cell:
    """One (phase, touchpoint) cell, as the shared `experience_map` named query reports it."""

    phase: str
    touchpoint: str
    volume: int  # touchpoint steps in this phase
    customers: int
    share: float  # customers here / customers on the map
    frictions: int
    friction_rate: float  # frictions here / steps here
    top_rule: str | None
    csat: float | None


@dataclass(frozen=True)
class EmotionPoint:
    phase: str
    csat: float | None
    nps: float | None
    friction_rate: float
    score: float  # -1 (angry) .. +1 (happy)
    label: str


@dataclass(frozen=True)
class MomentOfTruth:
    phase: str
    touchpoint: str
    with_friction: int  # journeys that touched the cell with friction
    without_friction: int
    conversion_with: float  # share of them reaching the next phase
    conversion_without: float
    lift: float  # conversion_without - conversion_with


@dataclass(frozen=True)
class ExperienceMap:
    title: str
    segment: str | None
    period: tuple[str, str]
    phases: tuple[tuple[str, str], ...]  # (id, label)
    touchpoints: tuple[tuple[str, str, str], ...]  # (id, channel, label)
    customers: int
    cells: dict[CellKey, Cell]
    emotion: tuple[EmotionPoint, ...]
    moments: tuple[MomentOfTruth, ...]
    off_grid: tuple[tuple[str, str, str, int], ...] = ()  # (phase, touchpoint, rule, frictions) without steps
    rules: Mapping[CellKey, Mapping[str, int]] = field(default_factory=dict)  # frictions per cell and rule
    paths: tuple[Transition, ...] = ()  # the paths analysis: from `paths_from`, or each journey's start
    paths_from: str = ""

    def moment_keys(self) -> set[CellKey]:
        return {(m.phase, m.touchpoint) for m in self.moments}


@dataclass(frozen=True)
class CellChange:
    phase: str
    touchpoint: str
    volume: int
    friction_rate: float
    csat: float | None
    verdict: str  # better, worse (friction rate), busier, quieter (events per customer), same
    friction_z: float = 0.0
    volume_z: float = 0.0
    concentrated_in: str = ""  # the dimension value behind the change at this touchpoint, if one is


@dataclass(frozen=True)
class Comparison:
    after: ExperienceMap
    before: ExperienceMap
    changes: dict[CellKey, CellChange] = field(default_factory=dict)
    emotion_change: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class MapRows:
    """The query results a map is built from (one list of dicts per named query)."""

    customers: int
    cells: Sequence[Row]  # clickhouse.queries `experience_map`
    phases: Sequence[Row]  # per phase: steps, frictions, csat, nps
    outcomes: Sequence[Row]  # per cell, with/without friction and furthest phase: journeys
    frictions: Sequence[Row] = ()  # per cell and rule: frictions


def build_map(rows: MapRows, journey_map: JourneyMap, segment: str | None, period: tuple[str, str]) -> ExperienceMap:
    """The experience map of one segment and period, from its query rows."""
    cells = build_cells(rows)
    title = f"Experience map: {segment or 'all segments'}"
    return ExperienceMap(title=title, segment=segment, period=period,
                         phases=tuple((p.id, p.label) for p in journey_map.phases),
                         touchpoints=tuple((t.id, t.channel, t.label) for t in journey_map.touchpoints),
                         customers=rows.customers, cells=cells,
                         emotion=tuple(emotion_curve(rows.phases, journey_map.phase_ids)),
                         moments=tuple(moments_of_truth(rows.outcomes, journey_map.phase_ids)),
                         off_grid=off_grid(rows.frictions, cells), rules=rule_counts(rows.frictions))


def build_cells(rows: MapRows) -> dict[CellKey, Cell]:
    """Cells with steps; the query's friction-only cells (no step there) are listed under the grid."""
    return {(r["phase"], r["touchpoint"]): cell_of(r) for r in rows.cells if int(r["steps"])}


def cell_of(r: Row) -> Cell:
    return Cell(phase=r["phase"], touchpoint=r["touchpoint"], volume=int(r["steps"]), customers=int(r["customers"]),
                share=float(r["share_of_customers"] or 0.0), frictions=int(r["frictions"] or 0),
                friction_rate=float(r["friction_rate"] or 0.0), top_rule=r["top_friction_rule"] or None,
                csat=_float(r["avg_csat"]))


def off_grid(frictions: Iterable[Row], cells: Mapping[CellKey, Cell]) -> tuple[tuple[str, str, str, int], ...]:
    """Frictions placed at a (phase, touchpoint) that has no step in the period: not drawn in a cell."""
    return tuple((r["phase"], r["touchpoint"], r["rule"], int(r["frictions"])) for r in frictions
                 if (r["phase"], r["touchpoint"]) not in cells)


def rule_counts(frictions: Iterable[Row]) -> dict[CellKey, dict[str, int]]:
    counts: dict[CellKey, dict[str, int]] = defaultdict(dict)
    for r in frictions:
        counts[(r["phase"], r["touchpoint"])][r["rule"]] = int(r["frictions"])
    return dict(counts)


def emotion_curve(phase_rows: Iterable[Row], phase_ids: tuple[str, ...]) -> list[EmotionPoint]:
    """One emotion point per phase of the map, in map order (phases without data score 0)."""
    by_phase = {r["phase"]: r for r in phase_rows}
    return [_emotion(phase, by_phase.get(phase)) for phase in phase_ids]


def _emotion(phase: str, r: Row | None) -> EmotionPoint:
    csat, nps = (_float(r.get("csat")), _float(r.get("nps"))) if r else (None, None)
    rate = min(1.0, ratio(int(r["frictions"]), int(r["steps"]))) if r else 0.0
    if not r or not int(r["steps"]):
        return EmotionPoint(phase=phase, csat=None, nps=None, friction_rate=0.0, score=0.0, label=NO_DATA)
    score = emotion_score(csat, nps, rate)
    return EmotionPoint(phase=phase, csat=csat, nps=nps, friction_rate=rate, score=score, label=emotion_label(score))


def emotion_score(csat: float | None, nps: float | None, friction_rate: float) -> float:
    """Satisfaction (CSAT, NPS scaled to -1..1, averaged) blended with the absence of friction."""
    parts = [(csat - CSAT_NEUTRAL) / CSAT_HALF_RANGE] if csat is not None else []
    parts += [(nps - NPS_NEUTRAL) / NPS_HALF_RANGE] if nps is not None else []
    calm = 1.0 - 2.0 * friction_rate
    if not parts:
        return round(clamp(calm), 3)
    satisfaction = sum(parts) / len(parts)
    return round(clamp((1 - FRICTION_WEIGHT) * satisfaction + FRICTION_WEIGHT * calm), 3)


def emotion_label(score: float) -> str:
    return next((label for floor, label in EMOTIONS if score >= floor), "angry")


def moments_of_truth(outcomes: Iterable[Row], phase_ids: tuple[str, ...],
                     top: int = MOMENTS_OF_TRUTH) -> list[MomentOfTruth]:
    """Cells where friction changes conversion to the next phase most (largest |lift|)."""
    groups: dict[CellKey, dict[bool, list[int]]] = defaultdict(lambda: {True: [0, 0], False: [0, 0]})
    for r in outcomes:
        if r["phase"] not in phase_ids[:-1]:
            continue
        group = groups[(r["phase"], r["touchpoint"])][bool(r["with_friction"])]
        group[0] += int(r["journeys"])
        group[1] += int(r["journeys"]) if _reached_next(r, phase_ids) else 0
    # A cell where friction changes nothing (lift 0) decides nothing: it is no moment of truth.
    found = [m for key, g in groups.items() if (m := _moment(key, g)) is not None and m.lift != 0]
    return sorted(found, key=lambda m: (-abs(m.lift), m.phase, m.touchpoint))[:top]


def _reached_next(r: Row, phase_ids: tuple[str, ...]) -> bool:
    furthest = r["furthest_phase"]
    return furthest in phase_ids and phase_ids.index(furthest) > phase_ids.index(r["phase"])


def _moment(key: CellKey, groups: dict[bool, list[int]]) -> MomentOfTruth | None:
    (with_n, with_ok), (without_n, without_ok) = groups[True], groups[False]
    if with_n < MIN_GROUP_JOURNEYS or without_n < MIN_GROUP_JOURNEYS:
        return None
    conv_with, conv_without = ratio(with_ok, with_n), ratio(without_ok, without_n)
    return MomentOfTruth(phase=key[0], touchpoint=key[1], with_friction=with_n, without_friction=without_n,
                         conversion_with=conv_with, conversion_without=conv_without,
                         lift=round(conv_without - conv_with, 4))


def compare(after: ExperienceMap, before: ExperienceMap, concentration: Mapping[str, str] | None = None) -> Comparison:
    """Every cell of either period with its change and verdict; `concentration` names, per
    touchpoint, the dimension value that holds its change (from `journeys explain`)."""
    keys = set(after.cells) | set(before.cells)
    scale = after.customers / before.customers if before.customers else 1.0  # events per customer
    changes = {key: _change(after.cells.get(key), before.cells.get(key), key, scale, concentration or {},
                            _rules_z(after.rules.get(key, {}), before.rules.get(key, {}), after.cells.get(key),
                                     before.cells.get(key)))
               for key in keys}
    previous = {p.phase: p.score for p in before.emotion}
    emotion = {p.phase: round(p.score - previous.get(p.phase, 0.0), 3) for p in after.emotion}
    return Comparison(after=after, before=before, changes=changes, emotion_change=emotion)


def _rules_z(now: Mapping[str, int], then: Mapping[str, int], cell: Cell | None, earlier: Cell | None) -> float:
    """The z of the rule whose rate per step moved most (0 when none moved by MIN_CHANGE_COUNT):
    a rule that appears hides in the cell's total when another one recedes."""
    n1, n0 = (cell.volume if cell else 0), (earlier.volume if earlier else 0)
    zs = [rate_ratio_z(now.get(r, 0), n1, then.get(r, 0), n0) for r in set(now) | set(then)
          if abs(now.get(r, 0) - (n1 * then.get(r, 0) / n0 if n0 else 0.0)) >= MIN_CHANGE_COUNT]
    return max(zs, key=abs, default=0.0)


def _change(now: Cell | None, then: Cell | None, key: CellKey, scale: float,
            concentration: Mapping[str, str], rule_z: float = 0.0) -> CellChange:
    rate = (now.friction_rate if now else 0.0) - (then.friction_rate if then else 0.0)
    csat = now.csat - then.csat if now and then and now.csat is not None and then.csat is not None else None
    x1, n1 = (now.frictions, now.volume) if now else (0, 0)
    x0, n0 = (then.frictions, then.volume) if then else (0, 0)
    excess = x1 - (n1 * x0 / n0 if n0 else 0.0)  # frictions beyond what the earlier rate expects
    total_z = rate_ratio_z(x1, n1, x0, n0) if abs(excess) >= MIN_CHANGE_COUNT else 0.0
    friction_z = max(total_z, rule_z, key=abs)
    expected = n0 * scale
    volume_z = poisson_z(n1, expected) if abs(n1 - expected) >= MIN_CHANGE_COUNT else 0.0
    judged = verdict(friction_z, volume_z)
    return CellChange(phase=key[0], touchpoint=key[1], volume=n1 - n0, friction_rate=round(rate, 4),
                      csat=round(csat, 3) if csat is not None else None, verdict=judged,
                      friction_z=round(friction_z, 2), volume_z=round(volume_z, 2),
                      concentrated_in=concentration.get(key[1], "") if judged != "same" else "")


def rate_ratio_z(x1: int, n1: int, x0: int, n0: int) -> float:
    """Signed z of x1 events on n1 steps against x0 on n0 (a cell can have more frictions than steps,
    so rates, not shares): given x1 + x0 frictions, x1 is binomial with p = n1 / (n1 + n0) when
    the rate did not change; continuity-corrected, 0 when undefined."""
    total = x1 + x0
    if n1 <= 0 or n0 <= 0 or total == 0:
        return 0.0
    p = n1 / (n1 + n0)
    diff = x1 - total * p
    return math.copysign(max(0.0, abs(diff) - 0.5) / math.sqrt(total * p * (1 - p)), diff)


def verdict(friction_z: float, volume_z: float) -> str:
    """A significant friction-rate change first, then a significant change of events per customer;
    else "same". CSAT's change is shown but colours nothing: the cell has its mean, not its
    answers, and a mean of a handful of answers moves by chance."""
    if abs(friction_z) >= MAP_Z:
        return "worse" if friction_z > 0 else "better"
    if abs(volume_z) >= MAP_Z:
        return "busier" if volume_z > 0 else "quieter"
    return "same"


def ratio(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def clamp(value: float, low: float = -1.0, high: float = 1.0) -> float:
    return max(low, min(high, value))


def _float(value: Any) -> float | None:
    return None if value is None else round(float(value), 2)
