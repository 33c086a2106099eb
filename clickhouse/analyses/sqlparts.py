"""ClickHouse stage, analyses: SQL fragments shared by step funnels, paths and incidents.

Constant text only; every user value is a bound parameter. A step is written
`touchpoint:event_type` (`web.checkout:order_placed`), `touchpoint` (any event there),
`:event_type` (that event anywhere) or `phase:NAME` (any event in that phase): `STEP_MATCH` reads
one such string from a bound array, so steps never become SQL text.
"""

from __future__ import annotations

PERIODS = ("hour", "day", "week", "month")
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
# over its rows: its segment, the channel of its first event, or the value of the dimension on its
# first event carrying it ('' when none did).
BREAKDOWN = ("multiIf({by:String} = '', 'all', {by:String} = 'segment', any(segment), {by:String} = 'channel', "
             "toString(argMin(channel, event_time)), argMinIf(context[{by:String}], event_time, "
             "mapContains(context, {by:String})))")
EVENT_WINDOW = ("event_time >= {start:DateTime64(3, 'UTC')} AND event_time < {end:DateTime64(3, 'UTC')}")
SCOPE = ("({channel:String} = '' OR channel = {channel:String}) AND ({segment:String} = '' OR segment = "
         "{segment:String}) AND ({where_dim:String} = '' OR journey_id IN (SELECT journey_id FROM touchpoints "
         "WHERE context[{where_dim:String}] = {where_value:String}))")
