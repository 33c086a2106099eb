"""ClickHouse stage, analyses: what explains a change between two windows (`journeys explain`).

The incidents' counting SQL, with two periods instead of many: 'baseline' (default: the window of
the same length just before) and 'current'. For every cell (a step share or a friction rate at a
touchpoint) whose rate for everyone changed significantly (the two-proportion test of
`baseline`), each dimension value's contribution is its excess: its current count minus what its
own baseline rate expected of its current journeys; its share is that excess over everyone's.
The ranking is pure (`contributions`), the counting SQL.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime

from clickhouse_connect.driver.client import Client

from clickhouse.analyses.baseline import EVERYONE, two_proportion_z
from clickhouse.analyses.counting import counts_sql
from clickhouse.queries import Filters, parameters

CURRENT, BASELINE = "current", "baseline"
MIN_Z = 3.0  # two windows, many cells: only clear changes of everyone's rate are explained


def window_of(column: str) -> str:
    return (f"multiIf({column} >= {{start:DateTime64(3, 'UTC')}}, '{CURRENT}', "
            f"{column} < {{baseline_end:DateTime64(3, 'UTC')}}, '{BASELINE}', '')")


EXPLAIN_SQL = counts_sql(window_of)


@dataclass(frozen=True)
class Contribution:
    family: str
    touchpoint: str
    what: str
    who: str  # EVERYONE first, then each dimension value by its share of the change
    baseline_rate: float
    rate: float
    excess: float  # current count minus what the baseline rate expected of the current journeys
    share_of_change: float
    z: float


@dataclass(frozen=True)
class WindowCount:
    """One cell in one window: `numerator` of `denominator` journeys."""

    window: str  # BASELINE | CURRENT
    family: str
    touchpoint: str
    what: str
    who: str
    numerator: int
    denominator: int


def contributions(counts: list[WindowCount], min_z: float = MIN_Z) -> list[Contribution]:
    """For each cell whose rate for everyone changed (|z| >= min_z), everyone's change and then
    every dimension value's part of it, the largest first; cells by the size of the change."""
    cells: dict[tuple[str, str, str], dict[str, dict[str, WindowCount]]] = defaultdict(lambda: defaultdict(dict))
    present: dict[tuple[str, str], int] = defaultdict(int)  # baseline journeys at (touchpoint, who)
    for c in counts:
        if c.family != "volume" and c.window in (BASELINE, CURRENT):
            cells[(c.family, c.touchpoint, c.what)][c.who][c.window] = c
        if c.window == BASELINE:
            present[(c.touchpoint, c.who)] = max(present[(c.touchpoint, c.who)], c.denominator)
    ranked = []
    for (family, touchpoint, what), by_who in cells.items():
        total = _contribution(family, touchpoint, what, EVERYONE, by_who.get(EVERYONE, {}), None, present)
        if total is None or abs(total.z) < min_z:
            continue
        parts = [_contribution(family, touchpoint, what, who, windows, total.excess, present)
                 for who, windows in by_who.items() if who != EVERYONE]
        ranked.append([total, *sorted((p for p in parts if p), key=lambda p: -p.share_of_change)])
    return [row for cell in sorted(ranked, key=lambda rows: -abs(rows[0].excess)) for row in cell]


def _contribution(family: str, touchpoint: str, what: str, who: str, windows: dict[str, WindowCount],
                  everyone_excess: float | None, present: dict[tuple[str, str], int]) -> Contribution | None:
    now, before = windows.get(CURRENT), windows.get(BASELINE)
    if now is None or now.denominator == 0:
        return None
    # Never seen in the baseline: none of the journeys that were at the touchpoint then.
    x0, n0 = (before.numerator, before.denominator) if before else (0, present[(touchpoint, who)])
    base = x0 / n0 if n0 else 0.0
    excess = now.numerator - now.denominator * base
    share = excess / everyone_excess if everyone_excess else 1.0
    return Contribution(family, touchpoint, what, who, round(base, 4), round(now.numerator / now.denominator, 4),
                        round(excess, 1), round(share, 4), round(two_proportion_z(now.numerator, now.denominator,
                                                                                  x0, n0), 2))


def explain(client: Client, filters: Filters, baseline_start: datetime, baseline_end: datetime,
            dims: tuple[str, ...], families: tuple[str, ...] = ("step", "friction"),
            min_z: float = MIN_Z) -> list[Contribution]:
    bound = parameters(filters, ()) | {
        "scan_start": _naive(baseline_start), "baseline_end": _naive(baseline_end), "period": "",
        "dims": list(dims), "families": list(families)}
    rows = client.query(EXPLAIN_SQL, parameters=bound).result_rows
    return contributions([WindowCount(window, family, touchpoint, what, who, int(x), int(n))
                          for window, family, touchpoint, what, who, x, n in rows if window], min_z)


def _naive(moment: datetime) -> datetime:
    return moment.replace(tzinfo=None) if moment.tzinfo is None else moment.astimezone(UTC).replace(tzinfo=None)
