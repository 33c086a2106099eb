"""ClickHouse stage, analyses: the incident judge written in SQL, for clients that run SQL only.

`journeys incidents` counts in SQL and judges in Python (clickhouse/analyses/baseline.py). Grafana's
ClickHouse plugin runs SQL only, and so does a client in any language that asks the read endpoint
for a named query: both get this judge over the same counts (`counts_sql`). Per period, each
touchpoint x (rule | step | volume) x who (everyone, each `dim=value`) against the sum of its
`BASELINE_PERIODS` trailing periods, by the same two-proportion z-test with continuity correction
(volume: Poisson, Anscombe), the same minimum count and ratio; consecutive flagged periods join into
one incident, and an everyone-incident covered by a dimension-value incident gives way to it. Two
simplifications against the Python judge, both in the docs: flagged periods stay in the baseline of
the periods after them, and no weekday season. The range's first `BASELINE_PERIODS` periods are the
first baseline, so only periods after them are judged.
"""

from __future__ import annotations

from clickhouse.analyses.baseline import DEFAULT_BASELINE_PERIODS, DEFAULT_MIN_COUNT, DEFAULT_MIN_RATIO, DEFAULT_Z
from clickhouse.analyses.counting import DEFAULT_FAMILIES, SCAN, counts_sql
from clickhouse.analyses.sqlparts import PARAMETER

PERIOD_S = {"hour": 3_600, "day": 86_400, "week": 604_800}
BASELINE_PERIODS = DEFAULT_BASELINE_PERIODS
# Every dimension an event carries: the map lets only its declared dimensions into `context`.
EVERY_DIMENSION = "mapKeys(context)"


def substituted(sql: str, literals: dict[str, str]) -> str:
    """`sql` with the `{name:Type}` parameters named in `literals` written as those; the rest stay bound."""
    return PARAMETER.sub(lambda m: literals.get(m.group(1), m.group(0)), sql)


def sql_array(values: tuple[str, ...]) -> str:
    return "[" + ",".join(f"'{v}'" for v in values) + "]"


def counts_over(period: str, range_start: str, range_end: str, dims: str, scan: str = "") -> str:
    """The analyses' counting SQL over one range, in calendar periods, for the dimensions `dims` (an
    SQL array); `scan` replaces the touchpoints' window (Grafana's time filter macro). Channel,
    segment and `where` stay bound parameters."""
    literals = {"scan_start": range_start, "end": range_end, "period": f"'{period}'", "dims": dims,
                "families": sql_array(DEFAULT_FAMILIES)}
    return substituted(counts_sql().replace(SCAN, scan) if scan else counts_sql(), literals)


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


def _judged(counts: str, period: str, range_start: str) -> str:
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
        FROM ({counts})
    )
)
WHERE period >= {range_start} + toIntervalSecond({step * BASELINE_PERIODS})"""


def _flagged() -> str:
    """The judge's rule: |z| past the threshold, and a rise (or fall) of enough events and ratio."""
    weight = "if(family = 'volume', 1, n)"
    rises = f"z > 0 AND x >= {DEFAULT_MIN_COUNT} AND period_rate >= period_baseline * {DEFAULT_MIN_RATIO}"
    falls = (f"z < 0 AND period_baseline * {weight} - x >= {DEFAULT_MIN_COUNT} "
             f"AND period_rate * {DEFAULT_MIN_RATIO} <= period_baseline")
    return f"abs(z) >= {DEFAULT_Z} AND (({rises}) OR ({falls}))"


def judged_incidents_sql(counts: str, period: str, range_start: str) -> str:
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
            FROM ({_judged(counts, period, range_start)})
            WHERE {_flagged()}
        )
        GROUP BY family, touchpoint, what, who, z > 0, island
    )
)
WHERE who != '*' OR NOT arrayExists(span -> span.1 <= last_period AND first_period <= span.2, specific)"""


START = "{start:DateTime64(3, 'UTC')}"
END = "{end:DateTime64(3, 'UTC')}"
# The named query `incidents`: weekly, every dimension, over the query's window (its first four
# weeks the baseline); channel, segment and `where` are its filters, bound as every named query's.
NAMED_INCIDENTS_SQL = (f"SELECT * FROM ({judged_incidents_sql(counts_over('week', START, END, EVERY_DIMENSION), 'week', START)})\n"
                       "ORDER BY last_period DESC, score DESC, touchpoint, what, who")
