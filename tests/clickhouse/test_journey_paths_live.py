"""Kept paths (`journey_paths`) in the states a live warehouse passes through: paths and loops read with
them give the rows they give with them switched off (`sql.replace(ROLLUP, "false")`).

Each test builds its own small warehouse from the records the worker sends (the pure pipeline's),
written by the real WarehouseWriter in an order or a state the live sink can reach: touchpoints of a
journey that grew written before its snapshot, a journey re-created under an id it had, journeys sent
without their steps (an older worker, over MAX_PATH_STEPS) with late events outside their span, a TTL
horizon through a journey, Grafana's window, `journeys forget` of an event that moved to another
customer, the upgrade's backfill. Each failed before its fix (a reviewer's reproducers). Not held
equal: a snapshot written by the sink before the touchpoints of its own version (the kept path is then
one sink batch ahead until they land; docs/operations.md).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client
from pydantic import BaseModel

from clickhouse import erasure as purge
from clickhouse.analyses.paths import BOUNDS, LOOPS_SQL, PATHS_SQL, ROLLUP
from clickhouse.client import connect
from clickhouse.migrate import discover, migrate
from clickhouse.sink import WarehouseWriter
from foundation.settings import ClickHouseSettings, Settings
from grafana.boards.paths import LITERALS, _transitions
from grafana.boards.step_funnel import with_literals
from grafana.macros import QueryContext, expand_macros
from schemas.journeymap import load_journey_map
from schemas.outputs import JourneySnapshot, JourneyStep
from streams.core.pipeline import Pipeline
from tests.streams.story import email, event

MAP = load_journey_map()
T0 = datetime(2026, 1, 5, tzinfo=UTC)
D, H = timedelta(days=1), timedelta(hours=1)
ANNA: dict[str, Any] = {"anonymous_id": "anna-phone"}
BOB: dict[str, Any] = {"anonymous_id": "bob-phone"}


@pytest.fixture
def make_warehouse(warehouse_dsn: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., Client]]:
    made: list[tuple[Client, str]] = []

    def make(ttl_days: int = 0) -> Client:
        database = f"journeys_review_{uuid.uuid4().hex[:8]}"
        client = connect(Settings(data_dir=tmp_path_factory.mktemp("review"),
                                  clickhouse=ClickHouseSettings(dsn=warehouse_dsn, database=database)))
        migrate(client, ttl_days)
        made.append((client, database))
        return client

    yield make
    for client, database in made:
        client.command(f"DROP DATABASE IF EXISTS `{database}`")


def params(start: datetime = T0, end: datetime = T0 + 200 * D, **changes: Any) -> dict[str, Any]:
    return {"start": start, "end": end, "anchor": "", "depth": 5, "direction": "from", "by": "", "limit": 1000,
            "channel": "", "segment": "", "where_dim": "", "where_value": ""} | changes


def kept_and_rebuilt(client: Client, sql: str = PATHS_SQL, **changes: Any) -> tuple[list[Any], list[Any]]:
    bound = params(**changes)
    return (client.query(sql, parameters=bound).result_rows,
            client.query(sql.replace(ROLLUP, "false"), parameters=bound).result_rows)


def transitions(rows: list[Any]) -> set[tuple[str, str]]:
    return {(r[2], r[3]) for r in rows}


def feed(pipeline: Pipeline, *events: Any) -> list[BaseModel]:
    return [r for e in events for r in pipeline.feed(e)]


def write_each(writer: WarehouseWriter, pipeline: Pipeline, *events: Any) -> None:
    """Each event's records as a batch of their own, as the live sink writes them (a single insert would
    collapse the versions of a row at once: ReplacingMergeTree's optimize_on_insert)."""
    for e in events:
        writer.write(pipeline.feed(e))


def steps_of(records: list[BaseModel]) -> list[BaseModel]:
    return [r for r in records if isinstance(r, JourneyStep)]


def all_but_steps(records: list[BaseModel]) -> list[BaseModel]:
    return [r for r in records if not isinstance(r, JourneyStep)]


# --- 1. live mode: the two topics reach the warehouse in either order -------------------------------------

def anna_so_far(pipeline: Pipeline) -> list[BaseModel]:
    return feed(pipeline, event("web", "page_view", T0 + 10 * D, "web.content", event_id="a1", **ANNA),
                event("web", "compare", T0 + 10 * D + H, "web.compare", event_id="a2", **ANNA))


def test_touchpoints_written_before_the_snapshot_of_a_journey_that_grew(make_warehouse: Callable[..., Client]) -> None:
    """The journey's new step is in touchpoints before its snapshot: its placeholder (2 x the step's version
    + 1) outranks the older snapshot, so the journey is read from its touchpoints, new step included (with
    placeholders at 0 the old kept path won and the step was left out)."""
    client, pipeline = make_warehouse(), Pipeline(MAP)
    writer = WarehouseWriter(client)
    writer.write(anna_so_far(pipeline))
    grew = feed(pipeline, event("web", "checkout_step", T0 + 10 * D + 2 * H, "web.checkout", event_id="a3",
                                checkout_step=1, **ANNA))
    writer.write(steps_of(grew))  # the steps topic's batch first: the snapshot is in the next one
    kept, rebuilt = kept_and_rebuilt(client)
    assert transitions(rebuilt) == {("web.content:page_view", "web.compare:compare"),
                                    ("web.compare:compare", "web.checkout:checkout_step")}
    assert kept == rebuilt


# --- 2. TTL: the kept path outlives its expired touchpoints -------------------------------------------------

def test_a_journey_across_the_ttl_horizon_is_read_without_its_expired_steps(make_warehouse: Callable[..., Client]) -> None:
    """TTL 90 days: touchpoints expire one by one (event_time), the kept path as a whole by last_at, and it is
    no longer known once its first step expired (a column TTL): the journey is read from the touchpoints
    left (before, it was read whole from journey_paths, expired step included)."""
    now = datetime.now(UTC).replace(microsecond=0)
    client, pipeline = make_warehouse(ttl_days=90), Pipeline(MAP)
    WarehouseWriter(client).write(feed(
        pipeline, event("web", "page_view", now - 100 * D, "web.content", event_id="t1", **ANNA),
        event("web", "compare", now - 80 * D, "web.compare", event_id="t2", **ANNA),
        event("web", "checkout_step", now - 80 * D + H, "web.checkout", event_id="t3", checkout_step=1, **ANNA)))
    for table in ("touchpoints", "journey_paths"):
        client.command(f"OPTIMIZE TABLE {table} FINAL")  # TTL deletes on merge
    assert client.query("SELECT arraySort(groupArray(event_id)) FROM touchpoints FINAL").result_rows[0][0] == ["t2", "t3"]
    kept, rebuilt = kept_and_rebuilt(client, start=now - 365 * D, end=now + D)
    assert kept == rebuilt


# --- 3. unknown paths (older worker, over MAX_PATH_STEPS): BOUNDS trusts the snapshot's times ----------------

def late_anna() -> list[BaseModel]:
    """Anna's journey starts on day 50; an event of day 45 arrives late (days behind her clock) and is
    placed in that journey (the first one: none started before it), before its start."""
    return feed(Pipeline(MAP),
                event("web", "page_view", T0 + 50 * D, "web.content", event_id="u1", **ANNA),
                event("web", "compare", T0 + 50 * D + H, "web.compare", event_id="u2", **ANNA),
                event("web", "checkout_step", T0 + 60 * D, "web.checkout", event_id="u3", checkout_step=1, **ANNA),
                event("store", "visit", T0 + 45 * D, "store.floor", event_id="late", received=T0 + 60 * D + H, **ANNA))


def test_an_older_workers_journey_keeps_its_late_step_before_its_start(make_warehouse: Callable[..., Client]) -> None:
    """Written by a worker older than JourneySnapshot.path (path None): its span (started_at, last_event_at)
    leaves the late event out, so it is not `bounded` and the whole window is read (BOUNDS trusted that span
    and dropped the late step)."""
    client = make_warehouse()
    records = [r.model_copy(update={"path": None}) if isinstance(r, JourneySnapshot) else r for r in late_anna()]
    WarehouseWriter(client).write(records)
    assert client.query("SELECT late FROM touchpoints FINAL WHERE event_id = 'late'").result_rows == [(True,)]
    kept, rebuilt = kept_and_rebuilt(client)
    assert ("store.floor:visit", "web.content:page_view") in transitions(rebuilt)
    assert kept == rebuilt


def test_a_journey_over_max_path_steps_keeps_its_late_step_before_its_start(make_warehouse: Callable[..., Client]) -> None:
    """A journey of more than 1,000 events is sent without its steps but with its span, late events in it."""
    client, pipeline = make_warehouse(), Pipeline(MAP)
    long = [event("web", "page_view" if i % 2 else "compare", T0 + 50 * D + i * timedelta(minutes=1),
                  "web.content" if i % 2 else "web.compare", event_id=f"n{i:04d}", **ANNA) for i in range(1001)]
    late = event("store", "visit", T0 + 45 * D, "store.floor", event_id="late", received=T0 + 52 * D, **ANNA)
    records = feed(pipeline, *long, late)
    WarehouseWriter(client).write([r for r in records if not isinstance(r, JourneySnapshot)]
                                  + [r for r in records if isinstance(r, JourneySnapshot)][-1:])
    assert client.query("SELECT known FROM journey_paths FINAL").result_rows == [(False,)]
    kept, rebuilt = kept_and_rebuilt(client)
    assert ("store.floor:visit", "web.compare:compare") in transitions(rebuilt)
    assert kept == rebuilt


# --- 4. Grafana: $__timeFilter (whole seconds, inclusive) against COVERED's last_at < $__toTime_ms ---------

def grafana_rows(client: Client, start: datetime, end: datetime) -> tuple[list[Any], list[Any]]:
    sql = _transitions()
    off = sql.replace(with_literals(ROLLUP, LITERALS), "false")
    assert off != sql
    ctx = QueryContext(start, end)
    return client.query(expand_macros(sql, ctx)).result_rows, client.query(expand_macros(off, ctx)).result_rows


@pytest.mark.parametrize("case", ["to with milliseconds", "journey starting at a whole-second to"])
def test_grafana_paths_panel(make_warehouse: Callable[..., Client], case: str) -> None:
    client, pipeline = make_warehouse(), Pipeline(MAP)
    end = T0 + 200 * D
    if case == "to with milliseconds":
        # "Last 200 days" ends at now, with milliseconds; the panel's event filter ends at its whole second
        end += timedelta(milliseconds=700)
        records = feed(pipeline, event("web", "page_view", T0 + 199 * D, "web.content", **ANNA),
                       event("web", "compare", T0 + 200 * D + timedelta(milliseconds=300), "web.compare", **ANNA))
    else:
        # a range ending on a whole second (absolute, or a day's end) and a journey that begins right then
        records = feed(pipeline, event("web", "page_view", end, "web.content", event_id="b1", **BOB),
                       event("web", "compare", end, "web.compare", event_id="b2", **BOB))
    WarehouseWriter(client).write(records)
    kept, rebuilt = grafana_rows(client, T0, end)
    assert kept == rebuilt


# --- 5. `journeys forget`: an erased event that now belongs to someone else stays in their kept path -----

def family_tablet(client: Client, noon: datetime) -> datetime:
    """A view on the family tablet is first Anna's, then moved to Ben by his late sign-in (a `move`, not a
    merge: Ben is not in Anna's closure). Returns the time of that view."""
    tablet = {"anonymous_id": "family-tablet"}
    viewed = noon + 8 * H + timedelta(minutes=5)
    write_each(WarehouseWriter(client), Pipeline(MAP),
               event("web", "login", noon, "web.account", event_id="anna-in", email_hash=email(1), **tablet),
               event("web", "page_view", noon + timedelta(minutes=1), "web.product", event_id="anna-view", **tablet),
               event("web", "page_view", viewed, "web.product", event_id="ben-view", **tablet),
               event("web", "login", noon + 8 * H, "web.account", event_id="ben-in", email_hash=email(2), **tablet),
               event("store", "purchase", noon + 9 * H, "store.checkout", event_id="ben-buys", loyalty_id="L-ben",
                     email_hash=email(2)))
    return viewed


def forget_anna(client: Client, viewed: datetime) -> None:
    """Forgetting Anna erases the view from touchpoints (its old row names her) and from every kept path
    (Ben's, and his journey's retraction, whose row kept the step before retractions were written without
    steps), which give way to a placeholder bounded by the touchpoints left."""
    subject = purge.find(client, purge.subject_of(f"email_hash:{email(1)}"))
    purge.erase(client, subject)
    client.command("OPTIMIZE TABLE journey_paths FINAL")
    assert client.query("SELECT count() FROM touchpoints WHERE event_id = 'ben-view'").result_rows == [(0,)]
    holding = client.query("SELECT journey_id, row_version, known FROM journey_paths WHERE has(times, {t:DateTime64(3, 'UTC')})",
                           parameters={"t": viewed}).result_rows
    assert holding == [] and not any(purge.remaining(client, subject).values())


def test_forgetting_anna_erases_a_moved_view_from_touchpoints_and_from_bens_kept_path(
        make_warehouse: Callable[..., Client]) -> None:
    client = make_warehouse()
    viewed = family_tablet(client, T0 + 10 * D + 3 * H)
    assert kept_and_rebuilt(client)[0] == kept_and_rebuilt(client)[1]
    forget_anna(client, viewed)
    kept, rebuilt = kept_and_rebuilt(client)
    assert kept == rebuilt
    bound = params()
    assert client.query(f"SELECT {BOUNDS}", parameters=bound).result_rows[0][0] != (
        bound["end"].replace(tzinfo=None), bound["start"].replace(tzinfo=None))  # not every touchpoint read again


def test_forgetting_anna_with_a_ttl_erases_the_view_from_a_path_no_longer_known(
        make_warehouse: Callable[..., Client]) -> None:
    """With a TTL of 90 days and Ben's sign-in just expired, his kept path is no longer `known`: forget must
    still find it (it matched known rows only)."""
    now = datetime.now(UTC).replace(microsecond=0)
    client = make_warehouse(ttl_days=90)
    viewed = family_tablet(client, now - 90 * D - 8 * H - timedelta(minutes=2))
    client.command("OPTIMIZE TABLE journey_paths FINAL")
    forget_anna(client, viewed)


# --- 6. the upgrade: the migration's backfill leaves a placeholder for every retracted journey ----------------

def test_after_the_backfill_no_placeholder_is_left_to_make_long_windows_read_everything(
        make_warehouse: Callable[..., Client]) -> None:
    """0009's backfill writes placeholders from the newest touchpoints (FINAL) and the paths of retracted
    journeys as retracted: a journey retracted by a merge whose old touchpoint rows are not merged yet
    left a placeholder no snapshot would replace, and every long window read all its touchpoints again."""
    client, pipeline = make_warehouse(), Pipeline(MAP)
    write_each(WarehouseWriter(client), pipeline,
               event("web", "page_view", T0 + 10 * D, "web.content", event_id="m1", anonymous_id="c-2"),
               event("store", "purchase", T0 + 11 * D, "store.checkout", event_id="m2", loyalty_id="L9",
                     email_hash=email(1)),
               event("web", "login", T0 + 13 * D, "web.account", event_id="m4", anonymous_id="c-2",
                     email_hash=email(1)))
    bound = params()
    assert client.query(f"SELECT {BOUNDS}", parameters=bound).result_rows[0][0] == (T0.replace(tzinfo=None),
                                                                                    (T0 + 200 * D).replace(tzinfo=None))
    client.command("TRUNCATE TABLE journey_paths")  # as the upgrade finds it: no kept path yet
    for statement in next(m for m in discover() if m.version == "0009").statements()[-2:]:
        client.command(statement)
    assert kept_and_rebuilt(client)[0] == kept_and_rebuilt(client)[1]  # still right, but slow:
    stale = client.query("SELECT journey_id FROM journey_paths FINAL WHERE row_version = 0").result_rows
    bounds = client.query(f"SELECT {BOUNDS}", parameters=bound).result_rows[0][0]
    assert bounds == (T0.replace(tzinfo=None), (T0 + 200 * D).replace(tzinfo=None)), (
        f"the whole window is read again: bounds {bounds}, placeholders no snapshot will replace: {stale}")


# --- checked fine: `journeys forget` copies journey_paths with its kept columns, and the view still writes ---

def test_forget_keeps_the_other_journeys_paths_and_the_placeholder_view(make_warehouse: Callable[..., Client]) -> None:
    client, pipeline = make_warehouse(), Pipeline(MAP)
    writer = WarehouseWriter(client)
    writer.write(anna_so_far(pipeline) + feed(
        pipeline, event("web", "page_view", T0 + 20 * D, "web.content", event_id="b1", **BOB),
        event("web", "compare", T0 + 20 * D + H, "web.compare", event_id="b2", **BOB)))
    before = client.query("SELECT journey_id, codes, times, first_at, last_at, first_values FROM journey_paths FINAL "
                          "WHERE known ORDER BY journey_id").result_rows
    purge.erase(client, purge.find(client, purge.subject_of("anonymous_id:anna-phone")))
    after = client.query("SELECT journey_id, codes, times, first_at, last_at, first_values FROM journey_paths FINAL "
                         "WHERE known ORDER BY journey_id").result_rows
    assert len(before) == 2 and after == [row for row in before if row in after] and len(after) == 1
    assert after[0][1]  # codes kept through the copy, not recomputed from the (empty) EPHEMERAL columns
    writer.write(feed(pipeline, event("web", "page_view", T0 + 30 * D, "web.content", **BOB)))
    assert client.query("SELECT count() FROM journey_paths WHERE row_version % 2 = 1 AND NOT known").result_rows[0][0] >= 1
    kept, rebuilt = kept_and_rebuilt(client)
    assert kept == rebuilt


# --- 1b. a journey retracted, then re-created with the same id: its placeholder loses to the retraction --------

def test_a_journey_recreated_with_its_retracted_id_is_read_from_its_touchpoints_until_its_snapshot(
        make_warehouse: Callable[..., Client]) -> None:
    """The records the worker sends for a journey j retracted at version 2 and stitched again at version 3
    (ids are journey_id_for(customer, first event)), the steps of version 3 written before its snapshot: the
    placeholder (2 x 3 + 1) outranks the retraction (2 x 2 + 2), and j is read from its touchpoints."""
    from schemas.outputs import JourneyPath
    from tests.clickhouse.scenario import event as raw_event
    from tests.clickhouse.scenario import journey, step
    client = make_warehouse()
    e1 = raw_event("r1", "web", "web.content", "page_view", T0 + 10 * D, "ann")
    e2 = raw_event("r2", "web", "web.compare", "compare", T0 + 10 * D + H, "ann")
    path = JourneyPath(touchpoints=("web.content", "web.compare"), event_types=("page_view", "compare"),
                       times_ms=tuple(int(e.event_time.timestamp() * 1000) for e in (e1, e2)), first_values={},
                       first_ms=int(e1.event_time.timestamp() * 1000), last_ms=int(e2.event_time.timestamp() * 1000))
    snap = journey("j-x", "cust-ann", 1, e1.event_time, e2.event_time, 2, ("web",), {}).model_copy(update={"path": path})
    writer = WarehouseWriter(client)
    writer.write([step(e1, "cust-ann", "j-x", 0, "research", 1), step(e2, "cust-ann", "j-x", 1, "research", 1), snap])
    writer.write([snap.model_copy(update={"version": 2, "retracted": True})])
    writer.write([step(e1, "cust-ann", "j-y", 0, "research", 2), step(e2, "cust-ann", "j-y", 1, "research", 2),
                  snap.model_copy(update={"journey_id": "j-y", "version": 2})])
    assert kept_and_rebuilt(client)[0] == kept_and_rebuilt(client)[1]
    # version 3: j-x again (the steps first, its snapshot in the sink's next batch), j-y retracted
    writer.write([step(e1, "cust-ann", "j-x", 0, "research", 3), step(e2, "cust-ann", "j-x", 1, "research", 3)])
    writer.write([snap.model_copy(update={"journey_id": "j-y", "version": 3, "retracted": True})])
    kept, rebuilt = kept_and_rebuilt(client)
    assert transitions(rebuilt) == {("web.content:page_view", "web.compare:compare")}
    assert kept == rebuilt


# --- checked fine: events on the window's bounds, a `where` filter, journeys straddling either end ------------

@pytest.mark.parametrize("changes", [{}, {"where_dim": "device_type", "where_value": "mobile"}, {"by": "device_type"},
                                     {"anchor": "web.compare", "direction": "to"}])
def test_events_on_the_windows_bounds(make_warehouse: Callable[..., Client], changes: dict[str, Any]) -> None:
    client, pipeline = make_warehouse(), Pipeline(MAP)
    start, end = T0 + 10 * D, T0 + 200 * D
    mobile = {"device_type": "mobile"}
    write_each(WarehouseWriter(client), pipeline,
               # straddles the start; its last event is the start itself
               event("web", "page_view", start - H, "web.content", context=mobile, **ANNA),
               event("web", "compare", start, "web.compare", **ANNA),
               # inside, first event at the start
               event("web", "page_view", start, "web.content", context=mobile, **BOB),
               event("web", "compare", start + H, "web.compare", **BOB),
               event("web", "checkout_step", start + 2 * H, "web.checkout", checkout_step=1, **BOB),
               # straddles the end: an event a millisecond before it and one at the end itself
               event("web", "page_view", end - H, "web.content", anonymous_id="cy"),
               event("web", "compare", end - timedelta(milliseconds=1), "web.compare", context=mobile, anonymous_id="cy"),
               event("web", "checkout_step", end, "web.checkout", checkout_step=1, anonymous_id="cy"),
               # a journey beginning at the end
               event("web", "page_view", end, "web.content", anonymous_id="dd"),
               event("web", "compare", end + H, "web.compare", anonymous_id="dd"))
    for sql in (PATHS_SQL, LOOPS_SQL):
        kept, rebuilt = kept_and_rebuilt(client, sql, start=start, end=end, **changes)
        assert kept == rebuilt and (kept or sql is LOOPS_SQL)
