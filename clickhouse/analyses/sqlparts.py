"""ClickHouse stage, analyses: SQL fragments shared by step funnels, paths and incidents.

Constant text only; every user value is a bound parameter. A step is written
`touchpoint:event_type` (`web.checkout:order_placed`), `touchpoint` (any event there),
`:event_type` (that event anywhere) or `phase:NAME` (any event in that phase): `STEP_MATCH` reads
one such string from a bound array, so steps never become SQL text.
"""

from __future__ import annotations

import re

PERIODS = ("hour", "day", "week", "month")
# A bound parameter in the SQL text, `{name:Type}`: clients that bind none (Grafana) get literals.
PARAMETER = re.compile(r"\{(\w+):[A-Za-z0-9]+(?:\([^)]*\))?\}")
# The period a moment falls in, as a UTC DateTime (weeks start on Monday).
PERIOD = ("multiIf({{period:String}} = 'hour', toStartOfHour({t}), {{period:String}} = 'day', toStartOfDay({t}), "
          "{{period:String}} = 'week', toDateTime(toMonday({t}), 'UTC'), toDateTime(toStartOfMonth({t}), 'UTC'))")
LABEL = "concat(toString(touchpoint), ':', toString(event_type))"


def period_of(column: str) -> str:
    return PERIOD.format(t=column)


def step_match(step: str) -> str:
    """Whether the current row is `step` (an expression yielding one step string)."""
    part = f"splitByChar(':', {step})"
    return (f"if(startsWith({step}, 'phase:'), phase = substring({step}, 7), "
            f"({part}[1] IN ('', '*') OR toString(touchpoint) = {part}[1]) AND "
            f"(length({part}) < 2 OR {part}[2] IN ('', '*') OR toString(event_type) = {part}[2]))")


# The breakdown of a journey (`by` = '' | 'segment' | 'channel' | a context dimension), as an aggregate
# over its rows: the segment or the channel of its first event, or the value of the dimension on its
# first event carrying it ('' when none did). One aggregate, not one per kind of `by` chosen by
# multiIf: ClickHouse computes every branch's aggregate, and that doubled the time of a path.
BREAKDOWN_VALUE = ("multiIf({by:String} = '', 'all', {by:String} = 'segment', toString(segment), "
                   "{by:String} = 'channel', toString(channel), context[{by:String}])")
BREAKDOWN_ROW = "({by:String} IN ('', 'segment', 'channel') OR mapContains(context, {by:String}))"
BREAKDOWN = f"argMinIf({BREAKDOWN_VALUE}, event_time, {BREAKDOWN_ROW})"
# The same as a number (paths and loops): a String aggregate state costs several times a number's over
# a million journeys. `BREAKDOWN_NAMES` gives the numbers' values back. A journey without the
# dimension (argMinIf's 0) gets the number of '', as its value is '' in BREAKDOWN: one '' group, not two.
_FIRST_CODE = f"argMinIf(cityHash64({BREAKDOWN_VALUE}), event_time, {BREAKDOWN_ROW})"
BREAKDOWN_CODE = f"if({_FIRST_CODE} = 0, cityHash64(''), {_FIRST_CODE})"


# A scalar subquery: (numbers, values) of the values the breakdown can take, from `dimension_values`
# (migration 0008), which holds each value once: finding them among a year of touchpoints took 0.25 s.
# No value is '' (BREAKDOWN_CODE gives it the number of '', and `transform`'s default is '').
BREAKDOWN_NAMES = ("(SELECT tuple(groupArray(cityHash64(v)), groupArray(v)) FROM (SELECT DISTINCT "
                   "if({by:String} = '', 'all', value) AS v FROM dimension_values WHERE {by:String} = '' OR "
                   "dimension = {by:String}))")


EVENT_WINDOW = ("event_time >= {start:DateTime64(3, 'UTC')} AND event_time < {end:DateTime64(3, 'UTC')}")
# The subquery's own `where_dim != ''` makes it read nothing without a `where` filter: ClickHouse
# builds an IN set even when the OR before it is already true, and context[''] = '' holds everywhere.
# It reads the newest versions (FINAL): an event a re-cut moved to another journey no longer makes its
# old journey carry the value (settled parts make FINAL cost nothing; clickhouse/migrate.py).
WHERE_SCOPE = ("({where_dim:String} = '' OR journey_id IN (SELECT journey_id FROM touchpoints FINAL "
               "WHERE {where_dim:String} != '' AND context[{where_dim:String}] = {where_value:String}))")
SCOPE = ("({channel:String} = '' OR channel = {channel:String}) AND ({segment:String} = '' OR segment = "
         f"{{segment:String}}) AND {WHERE_SCOPE}")

# Only the rows at the steps' touchpoints (the primary key's first column: ClickHouse reads just their
# granules), unless a step can match anywhere (a phase, an event type at any touchpoint): then
# `step_touchpoints` is empty and every row is read.
STEP_ROWS = "(empty({step_touchpoints:Array(String)}) OR touchpoint IN {step_touchpoints:Array(String)})"


def step_touchpoints(steps: tuple[str, ...]) -> list[str]:
    """The touchpoints the steps name, or [] when one of them can match at any touchpoint."""
    named = [step.partition(":")[0] for step in steps]
    if any(step.startswith("phase:") for step in steps) or any(t in ("", "*") for t in named):
        return []
    return sorted(set(named))
