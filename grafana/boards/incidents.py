"""Grafana stage: the Incidents dashboard (what changed, where, for whom, against its baseline).

Grafana's ClickHouse plugin runs SQL only, so the judging of `journeys incidents` is written here
in SQL over the same counts (clickhouse/analyses/incidents.py `counts_sql`, its bound parameters
written as literals): per period, each touchpoint x (rule | step | volume) x who (everyone, each
`dim=value` of the map's dimensions) against the sum of its `BASELINE_PERIODS` trailing periods,
by the same two-proportion z-test with continuity correction (volume: Poisson, Anscombe), the
same minimum count and ratio; consecutive flagged periods join into one incident, and an
everyone-incident covered by a dimension-value incident gives way to it. Two simplifications
against the Python judge (clickhouse/analyses/baseline.py), both visible in the docs: flagged
periods stay in the baseline of the periods after them, and no weekday season.
"""

from __future__ import annotations

from clickhouse.analyses.baseline import DEFAULT_BASELINE_PERIODS, DEFAULT_MIN_COUNT, DEFAULT_MIN_RATIO, DEFAULT_Z
from clickhouse.analyses.incidents import DEFAULT_FAMILIES, SCAN, counts_sql
from grafana.boards.common import VARIABLES, variable_name, variables, where
from grafana.boards.step_funnel import with_literals
from grafana.model import Column, Dashboard, Panel, Target, Thresholds
from schemas.journeymap import JourneyMap

UID = "journeys-incidents"
PERIOD_S = {"hour": 3_600, "day": 86_400, "week": 604_800}
BASELINE_PERIODS = DEFAULT_BASELINE_PERIODS
SCORE = Thresholds("transparent", ((DEFAULT_Z, "orange"), (2 * DEFAULT_Z, "red")))


def _array(values: tuple[str, ...]) -> str:
    return "[" + ",".join(f"'{v}'" for v in values) + "]"


def counts(journey_map: JourneyMap, period: str) -> str:
    """The analyses' counting SQL over Grafana's time range, for every dimension of the map."""
    literals = {"scan_start": "$__fromTime", "end": "$__toTime", "period": f"'{period}'",
                "dims": _array(journey_map.dimension_names), "families": _array(DEFAULT_FAMILIES),
                "channel": "''", "segment": "''", "where_dim": "''", "where_value": "''"}
    return with_literals(counts_sql().replace(SCAN, "$__timeFilter(event_time)"), literals)


def _z() -> str:
    """Signed z of x/n against x0/n0 (Yates), or of x against the Poisson mean x0/B (volume)."""
    spread = "sqrt(((x + x0) / (n + n0)) * (1 - (x + x0) / (n + n0)) * (1 / n + 1 / n0))"
    diff = "(x / n - x0 / n0)"
    proportion = (f"if(n <= 0 OR n0 <= 0 OR {spread} = 0, 0, "
                  f"sign({diff}) * greatest(0, abs({diff}) - 0.5 * (1 / n + 1 / n0)) / {spread})")
    expected = f"(x0 / {BASELINE_PERIODS})"
    volume = (f"if({expected} <= 0, if(x = 0, 0, 2 * sqrt(x + 0.375)), "
              f"2 * (sqrt(x + 0.375) - sqrt({expected} + 0.375)))")
    return f"if(family = 'volume', {volume}, {proportion})"


def _trailing(partition: str, step: int) -> str:
    """A window over the `BASELINE_PERIODS` periods before this one (a missing period adds nothing)."""
    return (f"OVER (PARTITION BY {partition} ORDER BY moment "
            f"RANGE BETWEEN {step * BASELINE_PERIODS} PRECEDING AND 1 PRECEDING)")


def _judged(journey_map: JourneyMap, period: str) -> str:
    """Every counted cell of a period with a full baseline, with its baseline, rate and z, in one pass
    over the counts. A step or friction cell's denominator is the journeys at its (period,
    touchpoint, who), which every step cell of that place carries: the baseline's denominator is
    their trailing sum, whether or not the cell happened in those periods (as in the Python judge)."""
    step = PERIOD_S[period]
    return f"""SELECT *, if(family = 'volume', toFloat64(x), if(n > 0, x / n, 0)) AS period_rate,
       if(family = 'volume', x0 / {BASELINE_PERIODS}, if(n0 > 0, x0 / n0, 0)) AS period_baseline,
       {_z()} AS z
FROM (
    SELECT *, sum(x) {_trailing('family, touchpoint, what, who', step)} AS x0,
           sum(if(first_here, journeys, 0)) {_trailing('touchpoint, who', step)} AS n0
    FROM (
        SELECT period, family, touchpoint, what, who, numerator AS x, denominator AS n, toUInt32(period) AS moment,
               max(denominator) OVER (PARTITION BY period, touchpoint, who) AS journeys,
               row_number() OVER (PARTITION BY period, touchpoint, who ORDER BY family, what) = 1 AS first_here
        FROM ({counts(journey_map, period)})
    )
)
WHERE period >= $__fromTime + toIntervalSecond({step * BASELINE_PERIODS})"""


def _flagged() -> str:
    """The judge's rule: |z| past the threshold, and a rise (or fall) of enough events and ratio."""
    weight = "if(family = 'volume', 1, n)"
    rises = f"z > 0 AND x >= {DEFAULT_MIN_COUNT} AND period_rate >= period_baseline * {DEFAULT_MIN_RATIO}"
    falls = (f"z < 0 AND period_baseline * {weight} - x >= {DEFAULT_MIN_COUNT} "
             f"AND period_rate * {DEFAULT_MIN_RATIO} <= period_baseline")
    return f"abs(z) >= {DEFAULT_Z} AND (({rises}) OR ({falls}))"


def incidents_sql(journey_map: JourneyMap, period: str) -> str:
    """One row per incident: its first and last period, where (touchpoint), what (family and rule, step
    or volume), who, numerator and denominator, rate against the baseline rate, effect and score.
    An everyone-incident overlapping an incident of one dimension value (same where and what) gives way."""
    step = PERIOD_S[period]
    rate = "if(sum(n) > 0, sum(x) / sum(n), sum(x) / count())"
    return f"""SELECT first_period, last_period, touchpoint, family, what, who, periods, numerator, denominator,
       rate, baseline_rate, effect, score
FROM (
    SELECT *, groupArrayIf((first_period, last_period), who != '*')
              OVER (PARTITION BY family, touchpoint, what) AS specific
    FROM (
        SELECT family, touchpoint, what, who, min(period) AS first_period, max(period) AS last_period,
               count() AS periods, sum(x) AS numerator, sum(n) AS denominator, round({rate}, 4) AS rate,
               round(avg(period_baseline), 4) AS baseline_rate,
               if(avg(period_baseline) > 0, round({rate} / avg(period_baseline), 2), inf) AS effect,
               round(max(abs(z)), 2) AS score
        FROM (
            SELECT *, intDiv(moment, {step})
                      - row_number() OVER (PARTITION BY family, touchpoint, what, who, z > 0 ORDER BY period) AS island
            FROM ({_judged(journey_map, period)})
            WHERE {_flagged()}
        )
        GROUP BY family, touchpoint, what, who, z > 0, island
    )
)
WHERE who != '*' OR NOT arrayExists(span -> span.1 <= last_period AND first_period <= span.2, specific)"""


def _selected(journey_map: JourneyMap) -> tuple[str, ...]:
    """An incident about another value of a selected dimension is hidden; everyone's stay."""
    channels = (f"transform(touchpoint, {_array(tuple(t.id for t in journey_map.touchpoints))}, "
                f"{_array(tuple(t.channel for t in journey_map.touchpoints))}, '')")
    by_dimension = tuple(
        f"$__conditionalAll(splitByChar('=', who)[1] != '{d}' OR "
        f"has(arrayMap(v -> concat('{d}=', v), [${{{variable_name(d)}:singlequote}}]), who), ${variable_name(d)})"
        for d in journey_map.dimension_names)
    return (f"$__conditionalAll({channels} IN (${{channel:singlequote}}), $channel)",
            *by_dimension)


def panel(journey_map: JourneyMap, period: str) -> Panel:
    sql = (f"SELECT * FROM ({incidents_sql(journey_map, period)})\n{where(*_selected(journey_map))}\n"
           "ORDER BY last_period DESC, score DESC")
    return Panel(f"Incidents by {period}", "table", (Target(sql),), width=24, height=10,
                 columns=(Column("score", decimals=1, thresholds=SCORE), Column("rate", "percentunit"),
                          Column("baseline_rate", "percentunit")),
                 description=f"Each {period} of each touchpoint x rule, step or volume, for everyone and each "
                 f"dimension value, against its {BASELINE_PERIODS} trailing {period}s (the range's first "
                 f"{BASELINE_PERIODS} {period}s are the first baseline); consecutive flagged {period}s are one "
                 "incident. `journeys incidents` gives the same with the weekday season.")


def dashboard(journey_map: JourneyMap) -> Dashboard:
    # No touchpoint variable: each of its values would rerun months of judging (the table shows where).
    channel, _, _ = VARIABLES
    return Dashboard(UID, "Incidents",
                     "What changed against its baseline: where (touchpoint), what (rule, step or volume), who "
                     "(everyone or a dimension value), the rate against the baseline, and the score.",
                     (panel(journey_map, "week"), panel(journey_map, "day")),
                     variables(journey_map, (channel,)), time_from="now-90d")
