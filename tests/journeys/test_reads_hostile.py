"""The read endpoint against a careless or hostile client: each request found by an attacker's read
of `/v1/analyses`, `/v1/explain`, `/v1/incidents` and the named queries, answered as a 400 naming
what was wrong (or stopped at a limit), never a 500, a wrong answer or a worker out of memory.

Found 2026-12-04: repeated `dims` multiplied counts and took the worker from 0.5 to 6.3 GB; a
step with a comma became two steps when `journeys funnel` asked a running pipeline; a year before
1900 reached ClickHouse unpadded (500); negative stay limits and a conversion window of
centuries overflowed (500 or a silently wrong answer); a timeout on /v1/incidents was a 500;
filters a named query does not take were ignored with a 200.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from click.testing import CliRunner

from clickhouse.analyses.named import Extra, run_analysis
from clickhouse.client import connect
from clickhouse.migrate import migrate
from clickhouse.queries import Filters, WarehouseEmptyError, WindowError
from foundation.settings import ReadsSettings, Settings
from journeys.analysis_reads import AnalysisRequestError, analysis_params, extra_of
from journeys.cli import main
from journeys.incident_reads import IncidentRequestError
from journeys.reads import BadRequest, QueryTooBigError, QueryTooLongError, Reads
from schemas.journeymap import load_journey_map
from tests.clickhouse.test_analyses import env

JOURNEY_MAP = load_journey_map()
FUNNEL = {"steps": "web.product,web.checkout"}


@pytest.fixture
def reads(settings: Settings) -> Iterator[Reads]:
    served = Reads(settings.model_copy(update={"reads": ReadsSettings(port=0)}), JOURNEY_MAP)
    migrate(served._connected(), settings.clickhouse.ttl_days)
    try:
        yield served
    finally:
        served._connected().command(f"DROP DATABASE IF EXISTS `{settings.clickhouse.database}`")
        served.close()


def test_a_dimension_or_family_given_twice_is_refused(reads: Reads) -> None:
    with pytest.raises(AnalysisRequestError, match="given twice"):
        reads.analysis("incident_counts", {"dims": "device_type,device_type"})
    with pytest.raises(AnalysisRequestError, match="given twice"):
        reads.analysis("incident_counts", {"families": "step,step"})
    with pytest.raises(AnalysisRequestError, match="families are"):
        reads.analysis("incident_counts", {"families": "step,' OR 1=1--"})
    with pytest.raises(IncidentRequestError, match="given twice"):
        reads.incidents({"dims": "os,os"})
    with pytest.raises(AnalysisRequestError, match="given twice"):
        reads.explain({"from": "2026-02-01", "to": "2026-03-01", "dims": "os,os"})


def test_a_read_that_needs_too_much_memory_is_stopped(settings: Settings) -> None:
    small = Reads(settings.model_copy(update={"reads": ReadsSettings(port=0, max_query_memory_mb=64)}), JOURNEY_MAP)
    try:
        with (pytest.raises(QueryTooBigError, match=r"more than 64 MB.*MAX_QUERY_MEMORY_MB"),
              small._lock, small._bounded("a greedy read")):
            small._connected().query("SELECT length(groupArray(toString(number))) FROM numbers(50000000)")
    finally:
        small.close()


def test_a_step_with_a_comma_is_refused_not_split(settings: Settings) -> None:
    extra = Extra(steps=(":page_view,web.search", "web.checkout"))
    assert extra_of(analysis_params(Filters(), extra)).steps != extra.steps  # why: the lists travel comma-separated
    told = CliRunner().invoke(main, ["funnel", "--step", ":page_view,web.search", "--step", "web.checkout"],
                              env=env(settings))
    assert told.exit_code == 2 and "a step has no comma" in told.output


@pytest.mark.parametrize(("name", "params", "error"), [
    ("step_funnel", FUNNEL | {"from": "0001-01-01"}, "outside the times the warehouse holds"),
    ("step_funnel", FUNNEL | {"to": "2400-01-01"}, "outside the times the warehouse holds"),
    ("step_funnel", FUNNEL | {"within_s": "9223372036854775"}, "at most 366 days"),
    ("step_funnel", FUNNEL | {"within_s": "-5"}, "must be positive"),
    ("conformance", {"phases": ",".join(JOURNEY_MAP.phase_ids), "max_phase_s": "-1,-2,-3,-4"}, "stay limit"),
])
def test_values_out_of_range_are_named(reads: Reads, name: str, params: dict[str, str], error: str) -> None:
    with pytest.raises((AnalysisRequestError, WindowError), match=error):
        reads.analysis(name, params)


def test_explain_and_incidents_refuse_what_they_cannot_judge(reads: Reads) -> None:
    with pytest.raises(WindowError):
        reads.explain({"from": "0001-01-01", "to": "0002-02-01"})
    with pytest.raises(AnalysisRequestError, match="z must be"):
        reads.explain({"from": "2026-02-01", "to": "2026-03-01", "z": "nan"})
    with pytest.raises(IncidentRequestError, match="positive"):
        reads.incidents({"last_s": "-1"})
    with pytest.raises(IncidentRequestError, match="at least 1"):
        reads.incidents({"z": "0"})
    with pytest.raises(IncidentRequestError, match="baseline_periods"):
        reads.incidents({"baseline_periods": "100000000"})
    with pytest.raises(WindowError):
        reads.incidents({"start": "0001-01-02"})
    with pytest.raises(IncidentRequestError, match="more than 40000 periods"):
        reads.incidents({"period": "hour"})  # a century of hours: 876,600 periods judged in the worker
    with pytest.raises(AnalysisRequestError, match="shoe_size"):
        reads.analysis("step_funnel", FUNNEL | {"where": "shoe_size=44"})
    with pytest.raises(AnalysisRequestError, match="shoe_size"):
        reads.explain({"from": "2026-02-01", "to": "2026-03-01", "where": "shoe_size=44"})


def test_a_filter_a_named_query_does_not_take_is_refused(reads: Reads) -> None:
    with pytest.raises(BadRequest, match="incidents takes no touchpoint"):
        reads.query("incidents", {"touchpoint": "web.checkout"})
    with pytest.raises(BadRequest, match="funnel takes no limit, whatever"):
        reads.query("funnel", {"whatever": "1", "limit": "20"})  # the funnel has no limit: it would be ignored
    assert reads.query("funnel", {"from": "2026-01-01", "where": "device_type=mobile"}).rows == []  # answered
    assert reads.query("friction_top", {"limit": "3"}).rows == []  # a query with a limit takes it


def test_a_slow_incidents_read_is_stopped_like_the_others(settings: Settings) -> None:
    client = connect(settings)
    migrate(client, settings.clickhouse.ttl_days)
    client.command("INSERT INTO touchpoints (event_id, journey_id, event_time) "
                   "SELECT toString(number), toString(number % 1000), now64(3) FROM numbers(300000)")
    client.close()
    hurried = Reads(settings.model_copy(update={"reads": ReadsSettings(port=0, max_query_s=0.001)}), JOURNEY_MAP)
    try:
        with pytest.raises(QueryTooLongError):
            hurried.incidents({"period": "hour", "families": "step,friction,volume", "start": "2026-01-01",
                               "end": "2027-01-01"})
    finally:
        hurried.close()
        connect(settings).command(f"DROP DATABASE IF EXISTS `{settings.clickhouse.database}`")


def test_an_analysis_on_a_warehouse_never_migrated_says_what_to_run(settings: Settings) -> None:
    client = connect(settings)
    with pytest.raises(WarehouseEmptyError):
        run_analysis(client, "paths", Filters(), Extra())


def test_the_live_map_is_answered_while_a_long_read_holds_the_other_client(reads: Reads) -> None:
    """An analyst's read may run up to max_query_s (30 s); the operators' map must not wait for it."""
    holding, release = threading.Event(), threading.Event()

    def long_read() -> None:
        with reads._lock:  # as a query, analysis, explain or incidents request does while it runs
            holding.set()
            release.wait(30)

    reader = threading.Thread(target=long_read)
    reader.start()
    try:
        assert holding.wait(10)
        began = time.monotonic()
        fragment = reads.map_document({}, "fragment")
        assert time.monotonic() - began < 20 and fragment
    finally:
        release.set()
        reader.join()
