"""ClickHouse stage: the SQL texts of the named queries (clickhouse/queries.py), from fixed fragments.

Only constant fragments written here are joined into SQL; every user-supplied value is a bound
parameter (`{channel:String}` ...). Fragments repeat the binding semantics of docs/journeys.md:
newest version only (FINAL), retracted rows hidden, funnel "reached at or beyond".
"""

from __future__ import annotations

WINDOW = "{col} >= {{start:DateTime64(3, 'UTC')}} AND {col} < {{end:DateTime64(3, 'UTC')}}"
SEGMENT_JOURNEYS = ("({segment:String} = '' OR journey_id IN (SELECT journey_id FROM journeys FINAL "
                    "WHERE NOT retracted AND segment = {segment:String}))")
CHANNEL = "({channel:String} = '' OR channel = {channel:String})"
TOUCHPOINT = "({touchpoint:String} = '' OR touchpoint = {touchpoint:String})"
# Context dimensions (docs/analyst-guide.md): `where_dim`/`where_value` keep what carried that value
# (events themselves; journeys and frictions through their events); `dim` names the one to break down by.
CONTEXT = "({where_dim:String} = '' OR context[{where_dim:String}] = {where_value:String})"
CONTEXT_EVENTS = "SELECT event_id FROM touchpoints WHERE context[{where_dim:String}] = {where_value:String}"
JOURNEY_CONTEXT = ("({where_dim:String} = '' OR journey_id IN (SELECT journey_id FROM touchpoints FINAL "
                   "WHERE context[{where_dim:String}] = {where_value:String}))")
FRICTION_CONTEXT = ("({where_dim:String} = '' OR friction_id IN (SELECT friction_id FROM friction "
                    f"ARRAY JOIN evidence AS e WHERE e IN ({CONTEXT_EVENTS})))")
# A journey's value of a dimension: the one its first event carrying the dimension had ('' when none did).
JOURNEY_DIMENSION = ("(SELECT journey_id, argMin(context[{dim:String}], event_time) AS dimension_value "
                     "FROM touchpoints FINAL WHERE mapContains(context, {dim:String}) GROUP BY journey_id)")
FUNNEL_DIMENSIONS = {"segment": "segment", "first_channel": "first_channel",
                     "period": "toStartOfMonth(started_at)", "dimension_value": "dimension_value"}


def window(column: str) -> str:
    return WINDOW.format(col=column)


def funnel(dimension: str | None) -> str:
    """The funnel, optionally per dimension (a key of FUNNEL_DIMENSIONS, never user input).

    Journeys are counted once per (dimension, furthest phase); "reached at or beyond" and drop-off
    are then sums over those few counts, so the scan does no per-row array or Map work.
    """
    expr = FUNNEL_DIMENSIONS[dimension] if dimension else "'all'"
    name = dimension or "slice"
    head = f"{dimension}, " if dimension else ""
    joined = f"LEFT JOIN {JOURNEY_DIMENSION} AS d USING (journey_id)" if dimension == "dimension_value" else ""
    return f"""
SELECT {head}phases[k] AS phase,
       reached[k] AS journeys,
       round(reached[k] / nullIf(reached[1], 0), 4) AS share_of_start,
       round(if(k = 1, 1, reached[k] / nullIf(reached[k - 1], 0)), 4) AS from_previous,
       dropped[k] AS dropped_off,
       if(phases[k] = 'purchase', round(convert_s / nullIf(converted, 0) / 3600, 2), NULL) AS avg_hours_to_convert
FROM (
    SELECT {name}, {{phases:Array(String)}} AS phases,
           arrayMap(i -> arraySum(arrayMap((r, n) -> if(r >= i, n, 0), ranks, counts)), arrayEnumerate(phases))
               AS reached,
           arrayMap(i -> arraySum(arrayMap((r, n) -> if(r = i, n, 0), ranks, counts)), arrayEnumerate(phases))
               AS dropped,
           convert_s, converted
    FROM (
        SELECT {name}, groupArray(rank) AS ranks, groupArray(n) AS counts,
               sum(seconds) AS convert_s, sum(conversions) AS converted
        FROM (
            SELECT {expr} AS {name}, count() AS n,
                   transform(furthest_phase, {{phases:Array(String)}}, arrayEnumerate({{phases:Array(String)}}), 0)
                       AS rank,
                   sum(seconds_to_convert) AS seconds, countIf(converted) AS conversions
            FROM journeys FINAL {joined}
            WHERE NOT retracted AND {window('started_at')}
              AND ({{channel:String}} = '' OR has(channels, {{channel:String}}))
              AND ({{segment:String}} = '' OR segment = {{segment:String}}) AND {JOURNEY_CONTEXT}
            GROUP BY {name}, rank
        )
        GROUP BY {name}
    )
)
ARRAY JOIN arrayEnumerate(phases) AS k
ORDER BY {head}k
"""


FRICTION_WHERE = (f"NOT retracted AND {window('detected_at')} AND {CHANNEL} AND {TOUCHPOINT} AND {SEGMENT_JOURNEYS} "
                  f"AND {FRICTION_CONTEXT}")

FRICTION_TOP = f"""
SELECT touchpoint, rule, count() AS frictions, uniqExact(customer_id) AS customers,
       countIf(severity = 'high') AS high_severity,
       round(count() / sum(count()) OVER (), 4) AS share_of_frictions
FROM friction FINAL
WHERE {FRICTION_WHERE}
GROUP BY touchpoint, rule
ORDER BY frictions DESC, touchpoint, rule
LIMIT {{limit:UInt32}}
"""

FRICTION_BY_DIMENSION = f"""
SELECT dimension_value, touchpoint, rule, count() AS frictions, uniqExact(customer_id) AS customers,
       countIf(severity = 'high') AS high_severity,
       round(count() / sum(count()) OVER (PARTITION BY dimension_value), 4) AS share_of_value
FROM (
    SELECT f.friction_id AS friction_id, any(f.customer_id) AS customer_id, any(f.touchpoint) AS touchpoint,
           any(f.rule) AS rule, any(f.severity) AS severity, anyIf(t.dimension_value, t.dimension_value != '')
               AS dimension_value
    FROM (SELECT * FROM friction FINAL WHERE {FRICTION_WHERE}) AS f
    ARRAY JOIN f.evidence AS evidence_id
    LEFT JOIN (SELECT event_id, context[{{dim:String}}] AS dimension_value FROM touchpoints FINAL
               WHERE mapContains(context, {{dim:String}})) AS t ON t.event_id = evidence_id
    GROUP BY f.friction_id
)
GROUP BY dimension_value, touchpoint, rule
ORDER BY dimension_value, frictions DESC, touchpoint, rule
LIMIT {{limit:UInt32}} BY dimension_value
"""

FRICTION_OVER_TIME = f"""
SELECT toDate(detected_at) AS day, rule, count() AS frictions, uniqExact(customer_id) AS customers
FROM friction FINAL
WHERE {FRICTION_WHERE}
GROUP BY day, rule
ORDER BY day, rule
"""

TOUCHPOINT_WHERE = f"{window('event_time')} AND {CHANNEL} AND {SEGMENT_JOURNEYS} AND {CONTEXT}"


def _kpis(pairs: list[tuple[str, str]]) -> str:
    return "[" + ", ".join(f"('{name}', CAST({expr} AS Nullable(Float64)))" for name, expr in pairs) + "]"


def _if_channel(channel: str, expr: str) -> str:
    return f"if(any(channel) = '{channel}', {expr}, NULL)"


MEASURE_KPIS = _kpis([
    ("events", "count()"),
    ("customers", "uniqExact(customer_id)"),
    ("avg_time_on_page_s", "avg(dwell_s)"),
    ("avg_navigation_ease", "avg(navigation_ease)"),
    ("online_sales", _if_channel("web", "countIf(event_type = 'order_placed')")),
    ("avg_wait_s", "avg(wait_s)"),
    ("transfer_rate", "countIf(transfers > 0) / nullIf(count(transfers), 0)"),
    ("first_contact_resolution", "countIf(resolved) / nullIf(count(resolved), 0)"),
    ("avg_response_s", "avg(response_s)"),
    ("bounces", _if_channel("email", "countIf(event_type = 'bounced')")),
    ("store_visits", _if_channel("store", "countIf(event_type = 'visit')")),
    ("store_purchases", _if_channel("store", "countIf(event_type = 'purchase')")),
    ("avg_queue_wait_s", "avg(queue_wait_s)"),
])
FEEDBACK_KPIS = _kpis([
    ("csat_avg", "avg(csat)"),
    ("csat_responses", "count(csat)"),
    ("nps", "(countIf(nps >= 9) - countIf(nps <= 6)) * 100 / nullIf(count(nps), 0)"),
    ("nps_responses", "count(nps)"),
])
STORE_KPIS = _kpis([("store_conversion", "countIf(event_type = 'purchase') / nullIf(countIf(event_type = 'visit'), 0)")])

SCORECARD = f"""
WITH base AS (SELECT * FROM touchpoints FINAL WHERE {TOUCHPOINT_WHERE})
SELECT touchpoint, kv.1 AS kpi, round(assumeNotNull(kv.2), 4) AS value
FROM (
    SELECT touchpoint, {MEASURE_KPIS} AS kpis FROM base GROUP BY touchpoint
    UNION ALL
    SELECT toString(coalesce(feedback_touchpoint, touchpoint)) AS touchpoint, {FEEDBACK_KPIS} AS kpis
    FROM base WHERE csat IS NOT NULL OR nps IS NOT NULL GROUP BY touchpoint
    UNION ALL
    SELECT 'store' AS touchpoint, {STORE_KPIS} AS kpis FROM base WHERE channel = 'store' HAVING count() > 0
    UNION ALL
    SELECT touchpoint, [('checkout_abandonment_rate', CAST(abandoned / (abandoned + orders) AS Nullable(Float64)))]
    FROM (
        SELECT touchpoint, countIf(kind = 'abandoned') AS abandoned, countIf(kind = 'order') AS orders
        FROM (
            SELECT toString(touchpoint) AS touchpoint, 'abandoned' AS kind FROM friction FINAL
            WHERE rule = 'abandoned_checkout' AND NOT retracted AND {window('detected_at')} AND {CHANNEL}
              AND {SEGMENT_JOURNEYS} AND {FRICTION_CONTEXT}
            UNION ALL
            SELECT toString(touchpoint), 'order' FROM base WHERE event_type = 'order_placed'
        )
        GROUP BY touchpoint HAVING abandoned + orders > 0
    )
)
ARRAY JOIN kpis AS kv
WHERE kv.2 IS NOT NULL AND {TOUCHPOINT}
ORDER BY touchpoint, kpi
"""

JOURNEY_HEALTH = f"""
SELECT kv.1 AS metric, round(kv.2, 2) AS value
FROM (
    SELECT [('journeys_active', toFloat64(countIf(status = 'active'))),
            ('journeys_stalled', toFloat64(countIf(status = 'stalled'))),
            ('journeys_closed', toFloat64(countIf(status = 'closed')))] AS kpis
    FROM journeys FINAL
    WHERE NOT retracted AND last_event_at >= {{start:DateTime64(3, 'UTC')}}
      AND started_at < {{end:DateTime64(3, 'UTC')}}
      AND ({{channel:String}} = '' OR has(channels, {{channel:String}}))
      AND ({{segment:String}} = '' OR segment = {{segment:String}}) AND {JOURNEY_CONTEXT}
    UNION ALL
    SELECT [('dead_letters', toFloat64(count()))] FROM dead_letters FINAL
    WHERE {window('rejected_at')} AND ({{channel:String}} = '' OR channel = {{channel:String}})
    UNION ALL
    SELECT [('events', toFloat64(sumIf(events, stage = 'worker'))),
            ('lag_max', toFloat64(maxIf(lag, stage = 'worker'))),
            ('latency_ms_p50_avg', ifNotFinite(avgIf(latency_ms_p50, stage = 'worker'), 0)),
            ('latency_ms_p95_max', toFloat64(ifNull(maxIf(latency_ms_p95, stage = 'worker'), 0))),
            ('sink_errors', toFloat64(sumIf(errors, stage = 'sink'))),
            ('sink_retries', toFloat64(sumIf(retries, stage = 'sink')))] AS kpis
    FROM pipeline_health FINAL
    WHERE minute >= {{start:DateTime64(3, 'UTC')}} AND minute < {{end:DateTime64(3, 'UTC')}}
      AND ({{channel:String}} = '' OR channel IN ({{channel:String}}, 'all'))
)
ARRAY JOIN kpis AS kv
ORDER BY metric
"""

EXPERIENCE_MAP = f"""
WITH base AS (SELECT * FROM touchpoints FINAL WHERE {TOUCHPOINT_WHERE} AND phase != ''),
steps AS (
    SELECT phase, toString(touchpoint) AS touchpoint, count() AS steps, uniqExact(customer_id) AS customers
    FROM base GROUP BY phase, touchpoint
),
scores AS (
    SELECT phase, toString(coalesce(feedback_touchpoint, touchpoint)) AS touchpoint, avg(csat) AS avg_csat
    FROM base WHERE csat IS NOT NULL GROUP BY phase, touchpoint
),
pains AS (
    SELECT phase, touchpoint, sum(n) AS frictions, argMin(rule, (-n, rule)) AS top_friction_rule
    FROM (
        SELECT phase, toString(touchpoint) AS touchpoint, rule, count() AS n FROM friction FINAL
        WHERE {FRICTION_WHERE}
        GROUP BY phase, touchpoint, rule
    )
    GROUP BY phase, touchpoint
),
cells AS (SELECT DISTINCT phase, touchpoint FROM (SELECT phase, touchpoint FROM steps
                                                 UNION ALL SELECT phase, touchpoint FROM pains)),
total AS (SELECT uniqExact(customer_id) AS customers FROM base)
SELECT c.phase AS phase, c.touchpoint AS touchpoint, coalesce(v.steps, 0) AS steps,
       coalesce(v.customers, 0) AS customers,
       round(coalesce(v.customers, 0) / nullIf(total.customers, 0), 4) AS share_of_customers,
       coalesce(p.frictions, 0) AS frictions, round(coalesce(p.frictions, 0) / nullIf(v.steps, 0), 4) AS friction_rate,
       coalesce(p.top_friction_rule, '') AS top_friction_rule, round(s.avg_csat, 2) AS avg_csat
FROM cells AS c
CROSS JOIN total
LEFT JOIN steps AS v ON v.phase = c.phase AND v.touchpoint = c.touchpoint
LEFT JOIN pains AS p ON p.phase = c.phase AND p.touchpoint = c.touchpoint
LEFT JOIN scores AS s ON s.phase = c.phase AND s.touchpoint = c.touchpoint
WHERE ({{touchpoint:String}} = '' OR c.touchpoint = {{touchpoint:String}})
ORDER BY indexOf({{phases:Array(String)}}, c.phase), c.touchpoint
SETTINGS join_use_nulls = 1
"""
