"""Migrations apply in order, re-run safely, refuse an edited file, and follow the TTL setting."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from clickhouse_connect.driver.client import Client

from clickhouse.analyses.incidents import IncidentQuery, counts
from clickhouse.analyses.named import Extra, run_analysis
from clickhouse.client import connect
from clickhouse.migrate import MIGRATIONS_DIR, apply_ttl, discover, migrate
from clickhouse.queries import Filters
from foundation.settings import Settings
from schemas.errors import MigrationError, WarehouseError

TABLES = {"touchpoints", "journey_steps", "journeys", "friction", "identity_links", "pipeline_health",
          "dead_letters", "journeys_current", "friction_current", "funnel_daily", "touchpoint_daily",
          "schema_migrations", "step_names", "step_names_writer", "dimension_values", "dimension_values_writer",
          "journey_paths", "journey_paths_placeholders"}


def tables(client: Client) -> set[str]:
    rows = client.query("SELECT name FROM system.tables WHERE database = currentDatabase()").result_rows
    return {name for (name,) in rows}


def engine(client: Client, table: str) -> str:
    return str(client.query("SELECT engine_full FROM system.tables WHERE database = currentDatabase() "
                            "AND name = {t:String}", parameters={"t": table}).result_rows[0][0])


def test_migrations_create_every_table_and_record_checksums(warehouse: Client) -> None:
    assert tables(warehouse) == TABLES
    ledger = warehouse.query("SELECT version, checksum FROM schema_migrations ORDER BY version").result_rows
    assert ledger == [(m.version, m.checksum) for m in discover()]
    assert "ReplacingMergeTree(version)" in engine(warehouse, "journeys")
    assert "customer_id" not in engine(warehouse, "journeys").split("ORDER BY")[1].split("SETTINGS")[0]


def test_rerun_applies_nothing_and_keeps_data(warehouse: Client) -> None:
    warehouse.command("INSERT INTO identity_links (link_id, kind, customer_id, rule, event_time, recorded_at) "
                      "VALUES ('l1', 'link', 'c', 'r', now64(3), now64(3))")
    assert migrate(warehouse) == []
    assert migrate(warehouse) == []
    assert warehouse.query("SELECT count() FROM identity_links").result_rows == [(1,)]
    assert warehouse.query("SELECT count() FROM schema_migrations").result_rows == [(len(discover()),)]


def test_an_edited_migration_is_refused(warehouse: Client, tmp_path: Path) -> None:
    edited = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, edited)
    first = sorted(edited.glob("*.sql"))[0]
    first.write_text(first.read_text() + "\n-- an innocent-looking edit\n")
    with pytest.raises(MigrationError) as refused:
        migrate(warehouse, directory=edited)
    assert refused.value.version == first.name[:4]


def test_a_new_migration_is_applied_once(warehouse: Client, tmp_path: Path) -> None:
    extra = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, extra)
    (extra / "9999_extra.sql").write_text("CREATE TABLE IF NOT EXISTS extra (x UInt8) ENGINE = MergeTree ORDER BY x;")
    assert migrate(warehouse, directory=extra) == ["9999"]
    assert migrate(warehouse, directory=extra) == []
    assert "extra" in tables(warehouse)


def test_a_badly_named_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "create_things.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationError):
        discover(tmp_path)


def test_ttl_follows_the_setting(warehouse: Client) -> None:
    apply_ttl(warehouse, 30)
    assert "TTL toDateTime(event_time) + toIntervalDay(30)" in engine(warehouse, "touchpoints")
    assert "toIntervalDay(30)" in engine(warehouse, "journey_steps")
    migrate(warehouse, ttl_days=0)
    assert " TTL " not in engine(warehouse, "touchpoints")


def test_versioned_tables_settle_after_the_setting(warehouse: Client) -> None:
    """Reads with FINAL pay for every part a month is left in: parts an hour old are merged together."""
    migrate(warehouse)
    for table in ("touchpoints", "journey_steps", "journeys", "friction"):
        assert "min_age_to_force_merge_seconds = 3600" in engine(warehouse, table)
    migrate(warehouse, settle_after_s=0)
    assert "min_age_to_force_merge_seconds = 0" in engine(warehouse, "touchpoints")


def test_connect_creates_the_database_once_and_refuses_bad_names(settings: Settings) -> None:
    first = connect(settings)
    assert first.query("SELECT currentDatabase()").result_rows == [(settings.clickhouse.database,)]
    again = connect(settings)  # the database exists now: looked up, not re-created
    assert again.query("SELECT currentDatabase()").result_rows == [(settings.clickhouse.database,)]
    bad = settings.model_copy(update={"clickhouse": settings.clickhouse.model_copy(update={"database": "x`; DROP"})})
    with pytest.raises(WarehouseError):
        connect(bad)
    first.command(f"DROP DATABASE `{settings.clickhouse.database}`")


def migrated_before(version: str, settings: Settings, tmp_path: Path) -> Client:
    """A client on the test's database with the migrations before `version` applied, as an older release left it."""
    client, before = connect(settings), tmp_path / "before"
    before.mkdir()
    for path in MIGRATIONS_DIR.glob("*.sql"):
        if path.name < version:
            shutil.copy(path, before / path.name)
    migrate(client, directory=before)
    return client


def test_frictions_written_before_0007_get_the_context_of_their_evidence(settings: Settings, tmp_path: Path) -> None:
    """Incidents read who suffered a friction from the friction itself now: the migration that adds the
    column fills it for the frictions already written, from their evidence events, at their newest version."""
    client = migrated_before("0007", settings, tmp_path)
    moment = datetime(2026, 3, 2, 9, tzinfo=UTC)
    contexts = {"e1": {"device_type": "mobile"}, "e2": {"device_type": "desktop", "locale": "en-GB"}, "e3": {}}
    client.insert("touchpoints", [[event_id, moment, moment, "web", "web.checkout", "error", "c1", "j1", 1, "{}", context]
                                  for event_id, context in contexts.items()],
                  column_names=["event_id", "event_time", "received_time", "channel", "touchpoint", "event_type",
                                "customer_id", "journey_id", "version", "measures_json", "context"])
    columns = ["friction_id", "customer_id", "journey_id", "rule", "touchpoint", "severity", "detected_at", "evidence",
               "version"]
    client.insert("friction", [["f1", "c1", "j1", "checkout_errors", "web.checkout", "low", moment, ["e1", "e2"], 1],
                               ["f2", "c1", "j1", "checkout_errors", "web.checkout", "low", moment, ["e3"], 1]],
                  column_names=columns)
    client.insert("friction", [["f1", "c1", "j1", "checkout_errors", "web.checkout", "high", moment, ["e1", "e2"], 2]],
                  column_names=columns)
    assert migrate(client)[0] == "0007"
    read = "SELECT friction_id, severity, version, evidence_context FROM friction FINAL ORDER BY friction_id"
    expected = [("f1", "high", 2, {"device_type": ["desktop", "mobile"], "locale": ["en-GB"]}), ("f2", "low", 1, {})]
    assert client.query(read).result_rows == expected
    client.command("OPTIMIZE TABLE friction FINAL")
    assert client.query(read).result_rows == expected
    client.command(f"DROP DATABASE `{settings.clickhouse.database}`")


def test_paths_name_the_steps_and_values_written_before_0008_and_after(settings: Settings, tmp_path: Path) -> None:
    """Paths look names up in `step_names` and `dimension_values`: the migration fills them from the
    touchpoints already written, and their views from every touchpoint written later."""
    client = migrated_before("0008", settings, tmp_path)
    moment = datetime(2026, 3, 2, 9, tzinfo=UTC)
    columns = ["event_id", "event_time", "received_time", "channel", "touchpoint", "event_type", "customer_id",
               "journey_id", "segment", "version", "measures_json", "context"]
    def write(journey: str, steps: list[tuple[str, str, dict[str, str]]]) -> None:
        client.insert("touchpoints", [[f"{journey}-{n}", moment + timedelta(minutes=n), moment, "web", touchpoint,
                                       event_type, "c1", journey, "family", 1, "{}", context]
                                      for n, (touchpoint, event_type, context) in enumerate(steps)],
                      column_names=columns)
    write("j1", [("web.product", "product_view", {"device_type": "mobile"}), ("web.checkout", "checkout_step", {})])
    migrate(client)
    write("j2", [("web.product", "product_view", {"device_type": "tablet"}), ("web.help", "page_view", {})])
    window = Filters(start=moment - timedelta(days=1), end=moment + timedelta(days=1), limit=20)
    rows = run_analysis(client, "paths", window, Extra(anchor="web.product:product_view", depth=1, by="device_type")).as_dicts()
    assert sorted((r["breakdown"], r["from_step"], r["to_step"]) for r in rows) == [
        ("mobile", "web.product:product_view", "web.checkout:checkout_step"),
        ("tablet", "web.product:product_view", "web.help:page_view")]
    client.command(f"DROP DATABASE `{settings.clickhouse.database}`")


def test_a_friction_the_sink_reads_again_after_0007_still_counts_under_its_evidence_context(
        settings: Settings, tmp_path: Path) -> None:
    """The sink may read a friction record again (its offsets lagged the worker's at the upgrade, or it
    reads the output topics from the start): the record on the topic was made before evidence_context
    existed, at the version the warehouse holds, and may replace the row 0007 wrote at that same version.
    Written as not knowing its context, its evidence is looked up again: incidents still count it by device."""
    from clickhouse.rows import dedup_token
    from clickhouse.sink import WarehouseWriter
    from schemas.outputs import FrictionEvent
    client = migrated_before("0007", settings, tmp_path)
    moment = datetime(2026, 3, 2, 9, tzinfo=UTC)
    client.insert("touchpoints", [["e1", moment, moment, "web", "web.checkout", "error", "c1", "j1", 1, "{}",
                                   {"device_type": "mobile"}]],
                  column_names=["event_id", "event_time", "received_time", "channel", "touchpoint", "event_type",
                                "customer_id", "journey_id", "version", "measures_json", "context"])
    on_topic = FrictionEvent.model_validate_json(
        '{"friction_id": "f1", "customer_id": "c1", "journey_id": "j1", "rule": "checkout_errors", '
        '"touchpoint": "web.checkout", "channel": "web", "phase": "purchase", "severity": "low", '
        '"detected_at": "2026-03-02T09:00:00Z", "evidence": ["e1"], "version": 1}')  # as the old worker sent it
    columns = ["friction_id", "customer_id", "journey_id", "rule", "touchpoint", "channel", "phase", "severity",
               "detected_at", "evidence", "version"]  # as the sink of the older release wrote it, in a batch of two
    written = [[on_topic.friction_id, "c1", "j1", "checkout_errors", "web.checkout", "web", "purchase", "low", moment,
                ["e1"], 1], ["f0", "c1", "j1", "checkout_errors", "web.checkout", "web", "purchase", "low", moment, [], 1]]
    client.insert("friction", written, column_names=columns, settings={"insert_deduplication_token": dedup_token(
        "friction", [{"friction_id": "f1", "version": 1}, {"friction_id": "f0", "version": 1}])})
    migrate(client)
    read = "SELECT evidence_context FROM friction FINAL WHERE friction_id = 'f1'"
    assert client.query(read).result_rows == [({"device_type": ["mobile"]},)]
    query = IncidentQuery(start=moment - timedelta(days=1), end=moment + timedelta(days=1), period="day",
                          dimensions=("device_type",), families=("friction",))
    def frictions() -> list[tuple[str, str, int]]:
        return sorted((c.what, c.who, c.numerator) for c in counts(client, query) if c.family == "friction")
    expected = [("checkout_errors", "*", 1), ("checkout_errors", "device_type=mobile", 1)]
    assert frictions() == expected
    WarehouseWriter(client).write([on_topic])  # read once more: it may win over the row 0007 wrote
    assert frictions() == expected
    client.command(f"DROP DATABASE `{settings.clickhouse.database}`")


def test_forgetting_a_customer_after_0007_leaves_the_others_frictions_their_context(
        settings: Settings, tmp_path: Path) -> None:
    """0007 writes each friction again at the same version, trusting FINAL to keep the last inserted of
    the two. `journeys forget` rebuilds the friction table by copying every other row in one INSERT
    SELECT over its parts, read in parallel: which of two equal versions comes last is then chance."""
    from clickhouse import erasure as purge
    client = migrated_before("0007", settings, tmp_path)
    moment, size = datetime(2026, 3, 2, 9, tzinfo=UTC), 20_000
    for part in range(4):
        numbers = range(part * size // 4, (part + 1) * size // 4)
        client.insert("touchpoints", [[f"e{n}", moment, moment, "web", "web.checkout", "error", f"c{n}", f"j{n}", 1, "{}",
                                       {"device_type": "mobile"}] for n in numbers],
                      column_names=["event_id", "event_time", "received_time", "channel", "touchpoint", "event_type",
                                    "customer_id", "journey_id", "version", "measures_json", "context"])
        client.insert("friction", [[f"f{n}", f"c{n}", f"j{n}", "checkout_errors", "web.checkout", "low", moment,
                                    [f"e{n}"], 1] for n in numbers],
                      column_names=["friction_id", "customer_id", "journey_id", "rule", "touchpoint", "severity",
                                    "detected_at", "evidence", "version"])
    migrate(client)
    without = "SELECT countIf(empty(evidence_context)), count() FROM friction FINAL"
    assert client.query(without).result_rows == [(0, size)]
    purge.erase(client, purge.find(client, purge.subject_of(None, "c5")))
    assert client.query(without).result_rows == [(0, size - 1)]
    client.command(f"DROP DATABASE `{settings.clickhouse.database}`")
