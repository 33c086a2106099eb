"""ClickHouse stage, analyses: paths (the transitions customers really take) and loops.

A journey's path is its events in time order as `touchpoint:event_type` steps, repeats of one
step in a row counted once (three checkout_step events in a row are one visit to the step). The
paths query counts transitions from a chosen step onwards (`direction` 'from') or leading to it
('to'), `depth` transitions deep; no step means from each journey's start. Each transition has
its count, its journeys, its share of the transitions leaving the same step at the same position
and the median seconds between the two steps. The loops query counts A -> B -> A: going back
again and again is a pain point no single event shows.
"""

from __future__ import annotations

from clickhouse.analyses.sqlparts import BREAKDOWN, EVENT_WINDOW, LABEL, SCOPE

DIRECTIONS = ("from", "to")
MAX_DEPTH = 20


def anchor_match(label: str) -> str:
    """A path label matches the anchor: the same step, any event at a touchpoint, or an event type anywhere."""
    return (f"({label} = {{anchor:String}} OR startsWith({label}, concat({{anchor:String}}, ':')) "
            f"OR (startsWith({{anchor:String}}, ':') AND endsWith({label}, {{anchor:String}})))")


ANCHOR = anchor_match("l")


def anchored(event_window: str) -> str:
    """Only the journeys that reached the anchor, found through the primary key (the anchor's
    touchpoint, bound as `anchor_touchpoint`: '' for an event type anywhere) before any path is built."""
    return (f"({{anchor:String}} = '' OR journey_id IN (SELECT journey_id FROM touchpoints WHERE {{anchor:String}} != '' "
            f"AND ({{anchor_touchpoint:String}} = '' OR touchpoint = {{anchor_touchpoint:String}}) AND {event_window} "
            f"AND {anchor_match(LABEL)}))")


def journey_paths(event_window: str = EVENT_WINDOW, only_anchored: bool = False) -> str:
    """Each journey's path (labels and times) and the index of its anchor; Grafana passes its own
    time filter as `event_window`. `only_anchored` reads only the journeys with the anchor."""
    only = anchored(event_window) if only_anchored else "1"
    return f"""
    SELECT journey_id, breakdown, labels, times,
           if({{anchor:String}} = '', 1, arrayFirstIndex(l -> {ANCHOR}, labels)) AS at
    FROM (
        SELECT journey_id, {BREAKDOWN} AS breakdown,
               arraySort(x -> x.1, groupArray((event_time, {LABEL}))) AS raw,
               arrayFilter((x, i) -> i = 1 OR x.2 != raw[i - 1].2, raw, arrayEnumerate(raw)) AS runs,
               arrayMap(x -> x.2, runs) AS labels, arrayMap(x -> x.1, runs) AS times
        FROM touchpoints FINAL WHERE {event_window} AND {SCOPE} AND {only}
        GROUP BY journey_id
    )
    WHERE at > 0
"""


def paths_sql(event_window: str = EVENT_WINDOW, only_anchored: bool = False) -> str:
    return f"""
SELECT breakdown, position, from_step, to_step, count() AS transitions, uniqExact(journey_id) AS journeys,
       round(transitions / sum(transitions) OVER (PARTITION BY breakdown, position, from_step), 4) AS share,
       round(quantile(0.5)(seconds), 1) AS median_s
FROM (
    SELECT journey_id, breakdown, if({{direction:String}} = 'from', i - at + 1, i - at) AS position,
           labels[i] AS from_step, labels[i + 1] AS to_step,
           dateDiff('millisecond', times[i], times[i + 1]) / 1000 AS seconds
    FROM ({journey_paths(event_window, only_anchored)})
    ARRAY JOIN range(1, toUInt64(length(labels))) AS i
    WHERE if({{direction:String}} = 'from', i >= at AND i < at + {{depth:UInt8}}, i < at AND i + {{depth:UInt8}} >= at)
)
GROUP BY breakdown, position, from_step, to_step
ORDER BY breakdown, abs(position), transitions DESC, from_step, to_step
LIMIT {{limit:UInt32}} BY breakdown, position
"""


PATHS_SQL = paths_sql(only_anchored=True)
LOOPS_SQL = f"""
SELECT breakdown, step, via, count() AS loops, uniqExact(journey_id) AS journeys,
       round(journeys / any(with_step), 4) AS share_of_journeys_at_step,
       round(quantile(0.5)(seconds), 1) AS median_loop_s
FROM (
    SELECT journey_id, breakdown, labels[i] AS step, labels[i + 1] AS via,
           dateDiff('millisecond', times[i], times[i + 2]) / 1000 AS seconds
    FROM ({journey_paths()})
    ARRAY JOIN range(1, toUInt64(greatest(length(labels), 2) - 1)) AS i
    WHERE labels[i] = labels[i + 2]
) AS l
LEFT JOIN (
    SELECT breakdown, step, uniqExact(journey_id) AS with_step
    FROM ({journey_paths()}) ARRAY JOIN arrayDistinct(labels) AS step
    GROUP BY breakdown, step
) AS s USING (breakdown, step)
WHERE {{anchor:String}} = '' OR step = {{anchor:String}} OR via = {{anchor:String}}
GROUP BY breakdown, step, via
ORDER BY breakdown, loops DESC, step, via
LIMIT {{limit:UInt32}} BY breakdown
"""
