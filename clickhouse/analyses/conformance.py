"""ClickHouse stage, analyses: conformance to the designed journey (the map's phases, in order).

The journey map orders its phases (research, compare, purchase, after-sales). Per touchpoint, this
counts the journeys that, at an event there, went back to an earlier phase than one they had
reached (**reversed**), jumped over a phase from the furthest one reached (**skipped**: research
straight to purchase; a journey's first event is never a skip, customers arrive anywhere), or had
been in the event's phase longer than the limit bound for it (**overstayed**: `max_phase_s`,
aligned with `phases`, 0 = no limit). Each share is of the journeys with an event at the
touchpoint. Time in a phase runs from the journey's first event in it.
"""

from __future__ import annotations

from clickhouse.analyses.sqlparts import EVENT_WINDOW, SCOPE

CONFORMANCE_SQL = f"""
WITH {{phases:Array(String)}} AS order_of, {{max_phase_s:Array(UInt64)}} AS limits
SELECT touchpoint, uniqExact(journey_id) AS journeys,
       uniqExactIf(journey_id, reached > 0 AND idx < reached) AS reversed,
       uniqExactIf(journey_id, reached > 0 AND idx > reached + 1) AS skipped,
       uniqExactIf(journey_id, limits[idx] > 0 AND dateDiff('second', entered, event_time) > limits[idx])
           AS overstayed,
       round(reversed / journeys, 4) AS reversed_share, round(skipped / journeys, 4) AS skipped_share,
       round(overstayed / journeys, 4) AS overstayed_share
FROM (
    SELECT journey_id, touchpoint, event_time, idx,
           max(idx) OVER (PARTITION BY journey_id ORDER BY event_time, event_id
                          ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS reached,
           min(event_time) OVER (PARTITION BY journey_id, idx) AS entered
    FROM (
        SELECT journey_id, event_id, toString(touchpoint) AS touchpoint, event_time,
               toUInt32(indexOf(order_of, toString(phase))) AS idx
        FROM touchpoints FINAL
        WHERE {EVENT_WINDOW} AND {SCOPE} AND has(order_of, toString(phase))
    )
)
GROUP BY touchpoint
HAVING reversed + skipped + overstayed > 0
ORDER BY reversed + skipped + overstayed DESC, touchpoint
LIMIT {{limit:UInt32}}
"""
