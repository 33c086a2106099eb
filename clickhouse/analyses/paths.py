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

from clickhouse.analyses.sqlparts import BREAKDOWN_CODE, BREAKDOWN_NAMES, EVENT_WINDOW, LABEL, SCOPE, WHERE_SCOPE

DIRECTIONS = ("from", "to")
MAX_DEPTH = 20
# A step as a number while paths are built: arrays of numbers are grouped, sorted and compared several
# times faster than arrays of labels. `STEPS` gives the labels back at the end.
CODE = "cityHash64(touchpoint, event_type)"


def anchor_match(label: str) -> str:
    """A path label matches the anchor: the same step, any event at a touchpoint, or an event type anywhere."""
    return (f"({label} = {{anchor:String}} OR startsWith({label}, concat({{anchor:String}}, ':')) "
            f"OR (startsWith({{anchor:String}}, ':') AND endsWith({label}, {{anchor:String}})))")


# A scalar subquery: every step written so far as (numbers, labels, the numbers that match the anchor),
# from `step_names` (migration 0008), which holds each step once: finding them among a year of touchpoints
# took 0.25 s at 10M rows. Steps no longer in the window only make the look-up longer.
STEPS = (f"(SELECT tuple(groupArray(code), groupArray(label), arrayFilter((c, l) -> {anchor_match('l')}, "
         f"groupArray(code), groupArray(label))) FROM (SELECT DISTINCT code, {LABEL} AS label FROM step_names))")


START, END = "{start:DateTime64(3, 'UTC')}", "{end:DateTime64(3, 'UTC')}"
# Reading kept paths pays over long windows only: `journey_paths` is in journey order, so a short window
# reads every journey's path to keep its own few (at 10M touchpoints, 0.2 s for any window), where the
# touchpoints give a quarter's paths in 0.3 s and a week's in a tenth of that. bench/RESULTS.md, sixth pass.
ROLLUP_FROM_DAYS = 120
ROLLUP = f"dateDiff('day', {START}, {END}) >= {ROLLUP_FROM_DAYS}"
# A journey whose whole path `journey_paths` (migration 0009) holds and whose every event lies in the window,
# with no filter on single events: its path is read as kept there, not built again from its touchpoints.
COVERED = (f"{ROLLUP} AND known AND NOT retracted AND first_at >= {START} AND last_at < {END} AND {{channel:String}} = '' "
           "AND {segment:String} = ''")
# The other journeys with events in the window (all of them when a channel or segment filter picks single
# events; those whose span is unknown wherever they lie): built from their touchpoints as before.
UNCOVERED = f"{ROLLUP} AND NOT retracted AND NOT ({COVERED}) AND (NOT bounded OR (first_at < {END} AND last_at >= {START}))"
# The times their events in the window can have: from the start to the last event of those that began
# before it, and from the first event of those that began inside it to the end; the whole window when single
# events are filtered or a journey's span is unknown (a placeholder: no snapshot yet, its times those of one
# insert of its touchpoints; or a worker older than the path). Over a year of a year's data, nothing.
BOUNDS = (f"(SELECT if(NOT ({ROLLUP}) OR countIf(NOT bounded) > 0 OR {{channel:String}} != '' OR {{segment:String}} != '', "
          f"tuple({END}, {START}), tuple(if(countIf(first_at < {START}) = 0, {START}, maxIf(last_at, first_at < {START})), "
          f"if(countIf(first_at >= {START}) = 0, {END}, minIf(first_at, first_at >= {START})))) "
          f"FROM journey_paths FINAL WHERE {UNCOVERED})")


# The WITH clause giving the step labels (`steps`) and the breakdown values (`names`).
NAMED = f"WITH {STEPS} AS steps, {BREAKDOWN_NAMES} AS names, {BOUNDS} AS bounds"


# A hashed look-up (`transform`), not `indexOf`, which walks the whole list for every row: a breakdown by a
# dimension with thousands of values would cost their square.
STEP = "transform({code}, steps.1, steps.2, '')"
NAME = "transform({code}, names.1, names.2, '')"


def journey_paths(event_window: str = EVENT_WINDOW) -> str:
    """Each journey's path (step numbers and times, in time order; events at the same millisecond in
    the order of their step numbers, so every run gives the same paths) and the index of its anchor.
    Journeys are grouped by a 64-bit hash of their id: over a year at 10M rows, a million string keys
    cost 1.6 s to group, their hashes 0.8 s (that two of a million share one: a chance of 3 in 10^8).
    Journeys inside the window come whole from `journey_paths`, the others from their touchpoints (read
    only between `BOUNDS`). Only journeys that reached the anchor are sorted; Grafana passes its own time
    filter as `event_window`."""
    return f"""
    SELECT journey, breakdown, codes, times,
           if({{anchor:String}} = '', 1, arrayFirstIndex(c -> has(steps.3, c), codes)) AS at
    FROM (
        SELECT journey, cityHash64(if({{by:String}} = '', 'all', first_values[{{by:String}}])) AS breakdown, codes, times
        FROM journey_paths FINAL
        WHERE {COVERED} AND {WHERE_SCOPE} AND ({{anchor:String}} = '' OR hasAny(codes, steps.3))
        UNION ALL
        SELECT journey, breakdown, codes, times FROM (
            SELECT journey, breakdown, arraySort((c, t) -> (t, c), cs, ts) AS sorted, arraySort(ts) AS sorted_times,
                   arrayPushFront(arrayPopBack(sorted), 0) AS previous,
                   arrayFilter((c, p) -> c != p, sorted, previous) AS codes,
                   arrayFilter((t, c, p) -> c != p, sorted_times, sorted, previous) AS times
            FROM (
                SELECT cityHash64(journey_id) AS journey, {BREAKDOWN_CODE} AS breakdown, groupArray({CODE}) AS cs,
                       groupArray(event_time) AS ts
                FROM touchpoints FINAL
                WHERE {event_window} AND {SCOPE} AND (event_time <= bounds.1 OR event_time >= bounds.2)
                  AND (NOT ({ROLLUP}) OR cityHash64(journey_id) IN (SELECT journey FROM journey_paths FINAL WHERE {UNCOVERED}))
                GROUP BY journey
                HAVING {{anchor:String}} = '' OR hasAny(cs, steps.3)
            )
        )
    )
    WHERE at > 0
"""


# The transitions of a path that paths count, as the first index `lo` and their number `n`: `depth` from
# the anchor onwards ('from') or leading to it ('to'). Slices of the path, not an ARRAY JOIN over its
# indexes that would copy the whole path once per transition.
FIRST = "toUInt64(if({direction:String} = 'from', at, greatest(toInt64(at) - {depth:UInt8}, 1)))"
LAST = "toInt64(if({direction:String} = 'from', least(at + {depth:UInt8} - 1, length(codes) - 1), at - 1))"


def paths_sql(event_window: str = EVENT_WINDOW) -> str:
    """A journey passes a position once, so its transitions there are its journeys there (`journeys`)."""
    return f"""
{NAMED}
SELECT {NAME.format(code='b')} AS breakdown, position, {STEP.format(code='f')} AS from_step,
       {STEP.format(code='t')} AS to_step, transitions, transitions AS journeys, share, median_s
FROM (
    SELECT breakdown AS b, position, from_code AS f, to_code AS t, count() AS transitions,
           round(transitions / sum(transitions) OVER (PARTITION BY b, position, f), 4) AS share,
           round(quantile(0.5)(seconds), 1) AS median_s
    FROM (
        SELECT breakdown, if({{direction:String}} = 'from', i - at + 1, i - at) AS position,
               from_code, to_code, dateDiff('millisecond', t0, t1) / 1000 AS seconds
        FROM (
            SELECT breakdown, codes, times, at, {FIRST} AS lo, toUInt64(greatest({LAST} - lo + 1, 0)) AS n
            FROM ({journey_paths(event_window)})
        )
        ARRAY JOIN range(lo, lo + n) AS i, arraySlice(codes, lo, n) AS from_code, arraySlice(codes, lo + 1, n) AS to_code,
                   arraySlice(times, lo, n) AS t0, arraySlice(times, lo + 1, n) AS t1
    )
    GROUP BY b, position, f, t
)
ORDER BY breakdown, abs(position), transitions DESC, from_step, to_step
LIMIT {{limit:UInt32}} BY breakdown, position
"""


PATHS_SQL = paths_sql()
# Loops read every journey: the anchor only picks which loops are listed. One pass over the paths gives
# each journey's loops (A -> B -> A, with B) and each step it had once (B = 0): the journeys at a step,
# the share's denominator, were a second build of every path, half the loops' time.
_EVERY_PATH = journey_paths().replace("{anchor:String} = ''", "true")
LOOPS_SQL = f"""
{NAMED}
SELECT {NAME.format(code='b')} AS breakdown, {STEP.format(code='s')} AS step, {STEP.format(code='v')} AS via,
       loops, journeys, round(journeys / with_step, 4) AS share_of_journeys_at_step, median_loop_s
FROM (
    SELECT b, s, v, loops, journeys, median_loop_s, max(at_step) OVER (PARTITION BY b, s) AS with_step
    FROM (
        SELECT breakdown AS b, item.1 AS s, item.2 AS v, countIf(v != 0) AS loops, uniqExactIf(journey, v != 0) AS journeys,
               countIf(v = 0) AS at_step, round(quantileIf(0.5)(item.3, v != 0), 1) AS median_loop_s
        FROM (SELECT journey, breakdown, codes, times, greatest(length(codes), 2) - 2 AS n FROM ({_EVERY_PATH}))
        ARRAY JOIN arrayConcat(
            arrayFilter(x -> x.1 = x.4 AND ({{anchor:String}} = '' OR has(steps.3, x.1) OR has(steps.3, x.2)),
                        arrayMap((s, v, t0, t2, back) -> (s, v, dateDiff('millisecond', t0, t2) / 1000, back),
                                 arraySlice(codes, 1, n), arraySlice(codes, 2, n), arraySlice(times, 1, n),
                                 arraySlice(times, 3, n), arraySlice(codes, 3, n))),
            arrayMap(c -> (c, toUInt64(0), 0., c), arrayDistinct(codes))) AS item
        GROUP BY b, s, v
    )
)
WHERE v != 0
ORDER BY breakdown, loops DESC, step, via
LIMIT {{limit:UInt32}} BY breakdown
"""
