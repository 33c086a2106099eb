"""The macro expander against the ClickHouse plugin's own test cases (pkg/macros/macros_test.go,
src/data/CHDatasource.test.ts) and Grafana's variable formats."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from grafana.macros import (
    QueryContext,
    expand_alert_query,
    expand_macros,
    expand_panel_query,
    format_interval,
    time_to_date,
    time_to_datetime,
    time_to_datetime64,
)
from grafana.templating import ALL, VariableState, apply_conditional_all, interpolate_variables
from schemas.errors import MacroError

FROM = datetime(2014, 11, 12, 11, 45, 26, 371000, tzinfo=UTC)
TO = datetime(2015, 11, 12, 11, 45, 26, 371000, tzinfo=UTC)
PLUGIN_RANGE = QueryContext(FROM, TO, interval_ms=20_000)
INTERPOLATE_RANGE = QueryContext(datetime(2014, 11, 12, 11, 45, 26, 123000, tzinfo=UTC),
                                 datetime(2015, 11, 12, 11, 45, 26, 456000, tzinfo=UTC),
                                 table="my_table", column="my_col")


def test_time_helpers_match_the_plugin() -> None:
    assert time_to_date(FROM) == "toDate('2014-11-12')"
    assert time_to_datetime(datetime.fromtimestamp(1708430068, UTC)) == "toDateTime(1708430068)"
    assert time_to_datetime64(datetime.fromtimestamp(1708430068.123, UTC)) == "fromUnixTimestamp64Milli(1708430068123)"


@pytest.mark.parametrize(("sql", "expected"), [
    ("$__fromTime", "toDateTime(1415792726)"),
    ("$__toTime", "toDateTime(1447328726)"),
    ("$__fromTime_ms", "fromUnixTimestamp64Milli(1415792726371)"),
    ("$__toTime_ms", "fromUnixTimestamp64Milli(1447328726371)"),
    ("$__dateFilter(dateCol)", "dateCol >= toDate('2014-11-12') AND dateCol <= toDate('2015-11-12')"),
    ("$__dateTimeFilter(dateCol, timeCol)",
     "(dateCol >= toDate('2014-11-12') AND dateCol <= toDate('2015-11-12')) AND "
     "(timeCol >= toDateTime(1415792726) AND timeCol <= toDateTime(1447328726))"),
    ("$__dt(dateCol, timeCol)",
     "(dateCol >= toDate('2014-11-12') AND dateCol <= toDate('2015-11-12')) AND "
     "(timeCol >= toDateTime(1415792726) AND timeCol <= toDateTime(1447328726))"),
    ("select $__timeInterval(col) from foo", "select toStartOfInterval(toDateTime(col), INTERVAL 20 second) from foo"),
    ("select $__timeInterval_ms(col) from foo",
     "select toStartOfInterval(toDateTime64(col, 3), INTERVAL 20000 millisecond) from foo"),
    ("select toStartOfInterval(col, INTERVAL $__interval_s second) AS time from foo",
     "select toStartOfInterval(col, INTERVAL 20 second) AS time from foo"),
])
def test_plugin_macro_cases(sql: str, expected: str) -> None:
    assert expand_macros(sql, PLUGIN_RANGE) == expected


@pytest.mark.parametrize(("sql", "expected"), [
    ("select * from foo where $__timeFilter(cast(sth as timestamp))",
     "select * from foo where cast(sth as timestamp) >= toDateTime(1415792726) AND cast(sth as timestamp) <= toDateTime(1447328726)"),
    ("select * from foo where $__timeFilter(cast(sth as timestamp) )",
     "select * from foo where cast(sth as timestamp) >= toDateTime(1415792726) AND cast(sth as timestamp) <= toDateTime(1447328726)"),
    ("select * from foo where $__timeFilter_ms(cast(sth as timestamp))",
     "select * from foo where cast(sth as timestamp) >= fromUnixTimestamp64Milli(1415792726123) AND cast(sth as timestamp) <= fromUnixTimestamp64Milli(1447328726456)"),
    ("select * from foo where $__timeFilter_ms(cast(sth as timestamp) )",
     "select * from foo where cast(sth as timestamp) >= fromUnixTimestamp64Milli(1415792726123) AND cast(sth as timestamp) <= fromUnixTimestamp64Milli(1447328726456)"),
    ("select * from foo where ( date >= $__fromTime and date <= $__toTime ) limit 100",
     "select * from foo where ( date >= toDateTime(1415792726) and date <= toDateTime(1447328726) ) limit 100"),
    ("select * from foo where ( date >= $__fromTime ) and ( date <= $__toTime ) limit 100",
     "select * from foo where ( date >= toDateTime(1415792726) ) and ( date <= toDateTime(1447328726) ) limit 100"),
    ("select * from foo where ( date >= $__fromTime_ms and date <= $__toTime_ms ) limit 100",
     "select * from foo where ( date >= fromUnixTimestamp64Milli(1415792726123) and date <= fromUnixTimestamp64Milli(1447328726456) ) limit 100"),
    ("select * from foo where ( date >= $__fromTime_ms ) and ( date <= $__toTime_ms ) limit 100",
     "select * from foo where ( date >= fromUnixTimestamp64Milli(1415792726123) ) and ( date <= fromUnixTimestamp64Milli(1447328726456) ) limit 100"),
])
def test_plugin_interpolate_cases(sql: str, expected: str) -> None:
    assert expand_macros(sql, INTERPOLATE_RANGE) == expected


def test_sdk_defaults_the_plugin_keeps() -> None:
    ctx = QueryContext(FROM, TO, interval_ms=600_000, table="t", column="c")
    assert expand_macros("$__timeFrom(ts) $__timeTo(ts)", ctx) == \
        "ts >= '2014-11-12T11:45:26Z' ts <= '2015-11-12T11:45:26Z'"
    assert expand_macros("$__interval $__interval_ms $__table.$__column", ctx) == "10m 600000 t.c"


def test_interval_is_at_least_one_unit_and_truncated() -> None:
    ctx = QueryContext(FROM, TO, interval_ms=1500)
    assert expand_macros("$__interval_s $__timeInterval(t)", ctx) == \
        "1 toStartOfInterval(toDateTime(t), INTERVAL 1 second)"
    assert expand_macros("$__timeInterval_ms(t)", QueryContext(FROM, TO, interval_ms=0)) == \
        "toStartOfInterval(toDateTime64(t, 3), INTERVAL 1 millisecond)"
    assert [format_interval(ms) for ms in (5, 20_000, 300_000, 7_200_000, 86_400_000 * 2)] == \
        ["5ms", "20s", "5m", "2h", "2d"]


def test_nested_brackets_are_one_argument() -> None:
    assert expand_macros("$__timeFilter(toDateTime(ts, 'UTC'))", PLUGIN_RANGE) == \
        "toDateTime(ts, 'UTC') >= toDateTime(1415792726) AND toDateTime(ts, 'UTC') <= toDateTime(1447328726)"


def test_bad_arguments_are_errors_with_the_macro_name() -> None:
    with pytest.raises(MacroError, match=r"timeFilter.*expected 1 argument, received 2"):
        expand_macros("$__timeFilter(a, b)", PLUGIN_RANGE)
    with pytest.raises(MacroError, match=r"dateTimeFilter.*expected 2"):
        expand_macros("$__dateTimeFilter(a)", PLUGIN_RANGE)
    with pytest.raises(MacroError, match="missing close bracket"):
        expand_macros("$__timeFilter(ts", PLUGIN_RANGE)


def _var(current: str | tuple[str, ...], options: tuple[str, ...] = ("a", "b"), all_value: str | None = None
         ) -> dict[str, VariableState]:
    return {"fieldVal": VariableState("fieldVal", current, options, all_value)}


def test_conditional_all_plugin_case() -> None:
    sql = "select stuff from table where $__conditionalAll(fieldVal in ($fieldVal), $fieldVal);"
    assert apply_conditional_all(sql, _var(ALL)) == "select stuff from table where 1=1;"
    assert apply_conditional_all(sql, _var((ALL,))) == "select stuff from table where 1=1;"
    assert apply_conditional_all(sql, _var(())) == "select stuff from table where 1=1;"
    assert apply_conditional_all(sql, _var(("a",))) == "select stuff from table where fieldVal in ($fieldVal);"


def test_conditional_all_reads_braced_names_but_not_formatted_ones() -> None:
    braced = "x AND $__conditionalAll(c IN (${fieldVal:singlequote}), ${fieldVal})"
    assert apply_conditional_all(braced, _var(ALL)) == "x AND 1=1"
    formatted = "$__conditionalAll(c IN ($fieldVal), ${fieldVal:singlequote})"
    assert apply_conditional_all(formatted, _var(ALL)) == "c IN ($fieldVal)"


def test_several_conditional_alls_right_to_left() -> None:
    variables = {**_var(ALL), "seg": VariableState("seg", ("vip",), ("vip", "new"))}
    sql = "$__conditionalAll(f IN ($fieldVal), $fieldVal) AND $__conditionalAll(s IN ($seg), $seg)"
    assert apply_conditional_all(sql, variables) == "1=1 AND s IN ($seg)"


@pytest.mark.parametrize(("current", "sql", "expected"), [
    (("a", "b"), "c IN ($fieldVal)", "c IN ('a','b')"),
    (("a",), "c IN (${fieldVal})", "c IN ('a')"),
    ("a", "c = '$fieldVal'", "c = 'a'"),
    (ALL, "c IN ($fieldVal)", "c IN ('a','b')"),
    (("o'k",), "c IN (${fieldVal:singlequote})", "c IN ('o\\'k')"),
    (("o'k", "b"), "c IN (${fieldVal:sqlstring})", "c IN ('o''k','b')"),
    (("a", "b"), "${fieldVal:csv}|${fieldVal:pipe}|${fieldVal:doublequote}|[[fieldVal]]", "a,b|a|b|\"a\",\"b\"|'a','b'"),
])
def test_variable_formats(current: str | tuple[str, ...], sql: str, expected: str) -> None:
    assert interpolate_variables(sql, _var(current)) == expected


def test_custom_all_value_is_inserted_raw() -> None:
    assert interpolate_variables("c LIKE ${fieldVal:singlequote}", _var(ALL, all_value="'%'")) == "c LIKE '%'"


def test_unknown_names_and_plugin_macros_are_left_for_the_backend() -> None:
    sql = "$__timeFilter(ts) AND $unknown AND $__interval_s"
    assert interpolate_variables(sql, _var("a"), {"__interval": "1m"}) == sql


def test_unsupported_format_is_an_error() -> None:
    with pytest.raises(MacroError, match="format 'percentencode'"):
        interpolate_variables("${fieldVal:percentencode}", _var("a"))


def test_panel_query_all_steps_in_order() -> None:
    variables = {"channel": VariableState("channel", ("web", "store"), ("web", "store", "email"))}
    ctx = QueryContext(FROM, TO, interval_ms=60_000)
    sql = ("SELECT $__timeInterval(t) AS time FROM x WHERE $__timeFilter(t) "
           "AND $__conditionalAll(channel IN (${channel:singlequote}), $channel) AND $__interval_ms > 0")
    assert expand_panel_query(sql, variables, ctx) == (
        "SELECT toStartOfInterval(toDateTime(t), INTERVAL 60 second) AS time FROM x "
        "WHERE t >= toDateTime(1415792726) AND t <= toDateTime(1447328726) "
        "AND channel IN ('web','store') AND 60000 > 0")


def test_alert_query_leaves_variables_alone() -> None:
    sql = "SELECT count() FROM x WHERE $__timeFilter(t) AND c IN ($channel)"
    assert expand_alert_query(sql, PLUGIN_RANGE) == \
        "SELECT count() FROM x WHERE t >= toDateTime(1415792726) AND t <= toDateTime(1447328726) AND c IN ($channel)"
