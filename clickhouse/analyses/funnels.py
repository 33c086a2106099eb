"""ClickHouse stage, analyses: the step funnel (ordered steps within a conversion window).

`journeys funnel --step web.product:product_view --step web.checkout:order_placed --within 1d
--period week --by device_type`: for each journey whose first step falls in the window,
ClickHouse's `windowFunnel` gives the furthest step reached in order within `within_s` of the
first ('strict' order: no other event of the journey in between). Journeys are counted per
period of their first step and per breakdown value, each step's count is compared with the
first step's and the previous step's, and each period with the one before it.

The steps are a bound Array(String) (see sqlparts); the SQL has MAX_STEPS condition slots, those
beyond the array's length never match, so one constant text serves every funnel.
"""

from __future__ import annotations

from clickhouse.analyses.sqlparts import BREAKDOWN, SCOPE, STEP_ROWS, period_of, step_match

MAX_STEPS = 8
ORDERS = ("any", "strict")  # 'any': other events may come between steps; 'strict': none may
_SLOTS = ", ".join(f"length(steps) >= {k} AND {step_match(f'steps[{k}]')}" for k in range(1, MAX_STEPS + 1))
_MODE = {"any": "", "strict": ", 'strict_order'"}


ENTERED_IN_WINDOW = "entered >= {start:DateTime64(3, 'UTC')} AND entered < {end:DateTime64(3, 'UTC')}"


def funnel_sql(order: str, entered_in_window: str = ENTERED_IN_WINDOW, step_rows: bool = False) -> str:
    """The step funnel in `order` (a key of ORDERS, never user text); Grafana passes its own
    time filter on `entered` (the first step's time) as `entered_in_window`. With `step_rows`
    (any order only: strict order must see the events between steps) only the rows at the steps'
    touchpoints are read (bound `step_touchpoints`), and the breakdown is that of the steps' events.
    Journeys are grouped by a 64-bit hash of their id (a number groups faster than a string; that two
    of a million journeys share one has a chance of 3 in 10^8)."""
    mode = _MODE[order]
    rows = STEP_ROWS if step_rows and order == "any" else "1"
    return f"""
WITH {{steps:Array(String)}} AS steps
SELECT period, breakdown, k AS step_no, steps[k] AS step, journeys,
       round(journeys / first_value(journeys) OVER by_step, 4) AS from_start,
       round(if(k = 1, 1, journeys / lagInFrame(journeys) OVER (by_step ROWS BETWEEN 1 PRECEDING AND CURRENT ROW)),
             4) AS from_previous_step,
       lagInFrame(toNullable(journeys)) OVER (by_period ROWS BETWEEN 1 PRECEDING AND CURRENT ROW)
           AS previous_period_journeys,
       round(journeys / nullIf(previous_period_journeys, 0) - 1, 4) AS change_vs_previous
FROM (
    SELECT {period_of('entered')} AS period, breakdown, k, count() AS journeys
    FROM (
        SELECT cityHash64(journey_id) AS journey, {BREAKDOWN} AS breakdown,
               minIf(event_time, {step_match('steps[1]')}) AS entered,
               windowFunnel({{within_ms:UInt64}}{mode})(toUInt64(toUnixTimestamp64Milli(event_time)), {_SLOTS})
                   AS level
        FROM touchpoints FINAL
        WHERE event_time >= {{start:DateTime64(3, 'UTC')}}
          AND event_time < {{end:DateTime64(3, 'UTC')}} + toIntervalMillisecond({{within_ms:UInt64}}) AND {SCOPE}
          AND {rows}
        GROUP BY journey
        HAVING level > 0 AND {entered_in_window}
    )
    ARRAY JOIN range(1, toUInt64(level) + 1) AS k
    GROUP BY period, breakdown, k
)
WINDOW by_step AS (PARTITION BY period, breakdown ORDER BY k),
       by_period AS (PARTITION BY breakdown, k ORDER BY period)
ORDER BY period, breakdown, k
"""
