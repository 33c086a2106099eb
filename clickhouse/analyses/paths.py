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
               arrayFilter((x, previous, i) -> i = 1 OR x.2 != previous, raw,
                           arrayPushFront(arrayPopBack(arrayMap(x -> x.2, raw)), ''), arrayEnumerate(raw)) AS runs,
               arrayMap(x -> x.2, runs) AS labels, arrayMap(x -> x.1, runs) AS times
        FROM touchpoints FINAL WHERE {event_window} AND {SCOPE} AND {only}
        GROUP BY journey_id
    )
    WHERE at > 0
"""


# The transitions of a path that paths count, as the first index `lo` and their number `n`: `depth` from
# the anchor onwards ('from') or leading to it ('to'). Slices of the path, not an ARRAY JOIN over its
# indexes that would copy the whole path once per transition.
FIRST = "toUInt64(if({direction:String} = 'from', at, greatest(toInt64(at) - {depth:UInt8}, 1)))"
LAST = "toInt64(if({direction:String} = 'from', least(at + {depth:UInt8} - 1, length(labels) - 1), at - 1))"


def paths_sql(event_window: str = EVENT_WINDOW, only_anchored: bool = False) -> str:
    return f"""
SELECT breakdown, position, from_step, to_step, count() AS transitions, uniqExact(journey_id) AS journeys,
       round(transitions / sum(transitions) OVER (PARTITION BY breakdown, position, from_step), 4) AS share,
       round(quantile(0.5)(seconds), 1) AS median_s
FROM (
    SELECT journey_id, breakdown, if({{direction:String}} = 'from', i - at + 1, i - at) AS position,
           from_step, to_step, dateDiff('millisecond', t0, t1) / 1000 AS seconds
    FROM (
        SELECT journey_id, breakdown, labels, times, at, {FIRST} AS lo, toUInt64(greatest({LAST} - lo + 1, 0)) AS n
        FROM ({journey_paths(event_window, only_anchored)})
    )
    ARRAY JOIN range(lo, lo + n) AS i, arraySlice(labels, lo, n) AS from_step, arraySlice(labels, lo + 1, n) AS to_step,
               arraySlice(times, lo, n) AS t0, arraySlice(times, lo + 1, n) AS t1
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
    SELECT journey_id, breakdown, step, via, dateDiff('millisecond', t0, t2) / 1000 AS seconds
    FROM (SELECT journey_id, breakdown, labels, times, greatest(length(labels), 2) - 2 AS n FROM ({journey_paths()}))
    ARRAY JOIN arraySlice(labels, 1, n) AS step, arraySlice(labels, 2, n) AS via, arraySlice(labels, 3, n) AS back,
               arraySlice(times, 1, n) AS t0, arraySlice(times, 3, n) AS t2
    WHERE step = back
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
