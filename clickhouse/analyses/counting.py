"""ClickHouse stage, analyses: the counting SQL of incidents, as text.

Apart from the incident query (clickhouse/analyses/incidents.py) so that the named queries
(clickhouse/queries.py), which that query's filters come from, can build the judge written in SQL
(clickhouse/analyses/judge_sql.py) on the same counts. Constant text only; every value is bound.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from clickhouse.analyses.sqlparts import SCOPE, period_of

FAMILIES = ("step", "friction", "volume")
DEFAULT_FAMILIES = ("step", "friction")  # volume follows traffic's own trends: opt in with --what volume
PERIOD_LENGTH = {"hour": timedelta(hours=1), "day": timedelta(days=1), "week": timedelta(weeks=1)}
# Everyone ('*') and each chosen dimension the event carries as `dim=value`. The lambdas see only their
# own arguments and the bound constant: a lambda that reads the row's context map copies the map once
# per element of the array it walks.
_CHOSEN = "mapFilter((k, v) -> has({dims:Array(String)}, k), context)"
WHO = f"arrayConcat(['*'], arrayMap((k, v) -> concat(k, '=', v), mapKeys({_CHOSEN}), mapValues({_CHOSEN})))"
# As numbers while the touchpoints are counted (0: everyone): grouping 18M rows by a number instead of a
# `dim=value` string built per row saved a fifth of the counting over a year at 10M events. `WHO_NAMES`
# (every `dim=value` by its number, from `dimension_values`, migration 0008) gives the strings back.
WHO_CODE = f"arrayConcat([0], arrayMap((k, v) -> cityHash64(k, v), mapKeys({_CHOSEN}), mapValues({_CHOSEN})))"
WHO_NAMES = ("(SELECT tuple(groupArray(cityHash64(dimension, value)), groupArray(concat(dimension, '=', value))) "
             "FROM (SELECT DISTINCT dimension, value FROM dimension_values))")
# A friction's who: everyone and each chosen dimension's values its evidence events carried (kept on the
# friction: looking the evidence up among the window's touchpoints cost a fifth of the counting). Read as
# `context`, so that `{dims}` written as every dimension (`mapKeys(context)`, judge_sql) means the friction's own.
_CHOSEN_EVIDENCE = "mapFilter((k, vs) -> has({dims:Array(String)}, k), context)"
FRICTION_WHO = (f"arrayConcat(['*'], arrayFlatten(arrayMap((k, vs) -> arrayMap(v -> concat(k, '=', v), vs), "
                f"mapKeys({_CHOSEN_EVIDENCE}), mapValues({_CHOSEN_EVIDENCE}))))")
# A journey counted by a 64-bit hash of its id: uniqExact keeps numbers instead of 128-bit string hashes,
# about three times faster at 10M events; that two of a million journeys share a hash has a chance of 3 in 10^8.
JOURNEY = "cityHash64(journey_id)"
IN_WINDOW = "{t} >= {{scan_start:DateTime64(3, 'UTC')}} AND {t} < {{end:DateTime64(3, 'UTC')}}"
SCAN = IN_WINDOW.format(t="event_time")
# Frictions of the journeys in scope; the scan for them is skipped (a constant false) when no filter is set.
FILTERED = "({channel:String} != '' OR {segment:String} != '' OR {where_dim:String} != '')"
FRICTION_SCOPE = (f"(NOT {FILTERED} OR journey_id IN (SELECT journey_id FROM touchpoints FINAL "
                  f"WHERE {FILTERED} AND {SCAN} AND {SCOPE}))")


FRICTION_ROWS = (f"NOT retracted AND has({{families:Array(String)}}, 'friction') AND {IN_WINDOW.format(t='detected_at')} "
                 f"AND {FRICTION_SCOPE}")
# A friction written by a worker older than `evidence_context` (evidence_context_known false): who from its
# evidence events among the window's touchpoints. The scan for them is skipped (a constant false, the scalar
# folded before the read) when the window holds no such friction.
_UNKNOWN = f"NOT evidence_context_known AND {IN_WINDOW.format(t='detected_at')}"
_LOOKED_UP_WHO = f"""SELECT any(f.detected_at), any(toString(f.touchpoint)), any(f.rule), any(f.journey_id),
               arrayDistinct(arrayConcat(['*'], groupArrayArray(t.who)))
        FROM (SELECT * FROM friction FINAL WHERE {FRICTION_ROWS} AND NOT evidence_context_known) AS f
        ARRAY JOIN f.evidence AS evidence_id
        LEFT JOIN (SELECT event_id, {WHO} AS who FROM touchpoints
                   WHERE (SELECT count() > 0 FROM friction WHERE {_UNKNOWN}) AND {SCAN}
                   AND event_id IN (SELECT arrayJoin(evidence) FROM friction WHERE {_UNKNOWN})) AS t
            ON t.event_id = evidence_id
        GROUP BY f.friction_id"""


def counts_sql(period_of: Callable[[str], str] = period_of, looked_up: bool = True) -> str:
    """The counting SQL, with `period_of(column)` giving the period of a moment (explain passes
    'baseline' / 'current' windows). One pass over the touchpoints: GROUPING SETS count each event
    type's journeys and (event type '') all the touchpoint's journeys and events at once; the
    frictions carry who suffered them; a window over the cells hands each one its
    touchpoint's journeys as denominator."""
    return f"""
WITH {WHO_NAMES} AS who_names,
at_touchpoint AS (
    SELECT period, toString(touchpoint) AS touchpoint, toString(event_type) AS what,
           if(who_code = 0, '*', transform(who_code, who_names.1, who_names.2, '')) AS who, journeys, events
    FROM (
        SELECT period, touchpoint, event_type, who_code, uniqExact({JOURNEY}) AS journeys, count() AS events
        FROM (
            SELECT {period_of('event_time')} AS period, touchpoint, event_type, journey_id, arrayJoin({WHO_CODE}) AS who_code
            FROM touchpoints FINAL WHERE {SCAN} AND {SCOPE}
        )
        GROUP BY GROUPING SETS ((period, touchpoint, who_code, event_type), (period, touchpoint, who_code))
    )
),
frictions AS (
    SELECT {period_of('detected_at')} AS period, touchpoint, rule AS what, arrayJoin(whos) AS who,
           uniqExact({JOURNEY}) AS journeys
    FROM (
        SELECT detected_at, toString(touchpoint) AS touchpoint, rule, journey_id, {FRICTION_WHO} AS whos
        FROM (SELECT detected_at, touchpoint, rule, journey_id, evidence_context AS context FROM friction FINAL
              WHERE {FRICTION_ROWS} AND evidence_context_known)
        {"UNION ALL" if looked_up else ""}
        {_LOOKED_UP_WHO if looked_up else ""}
    )
    GROUP BY period, touchpoint, what, who
)
SELECT period, family, touchpoint, what, who, numerator, denominator
FROM (
    SELECT period, family, touchpoint, what, who, numerator,
           maxIf(numerator, family = 'step' AND what = '') OVER (PARTITION BY period, touchpoint, who) AS present,
           if(family = 'volume', 0, present) AS denominator
    FROM (
        -- one reference to at_touchpoint (a CTE is computed again at each): a totals row also yields volume
        SELECT a.period AS period, kind AS family, a.touchpoint AS touchpoint,
               if(kind = 'volume', 'events', a.what) AS what, a.who AS who,
               if(kind = 'volume', a.events, a.journeys) AS numerator
        FROM at_touchpoint AS a ARRAY JOIN if(a.what = '', ['step', 'volume'], ['step']) AS kind
        UNION ALL
        SELECT period, 'friction', touchpoint, what, who, journeys FROM frictions
    )
)
WHERE present > 0 AND if(family = 'step', what != '', true) AND has({{families:Array(String)}}, family)
"""


COUNTS_SQL = counts_sql()
# Without the look-up for frictions of older workers, when the window holds none (`UNKNOWN_FRICTIONS_SQL`):
# the branch that is skipped inside COUNTS_SQL still cost 0.14 s of 1.6 over a year at 10M events.
KNOWN_COUNTS_SQL = counts_sql(looked_up=False)
UNKNOWN_FRICTIONS_SQL = f"SELECT count() FROM friction WHERE {_UNKNOWN}"
