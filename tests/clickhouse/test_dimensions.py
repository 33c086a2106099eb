"""Breaking down by a context dimension, end to end: events with a device through the broker and the
worker into the warehouse, then `journeys query ... --by device_type` and `--where device_type=mobile`.

The shop's story: on mobile, checkout breaks (a payment error, then the customer gives up and reads
the help centre); on desktop, people order. The funnel split by device and the frictions of mobile
only must say exactly that, counted from the events below.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner
from clickhouse_connect.driver.client import Client

from clickhouse.sink import WarehouseWriter, decode
from foundation.kafka import topic
from foundation.settings import Settings
from journeys.cli import main
from producers.importer import import_file
from producers.mapping import load_mapping
from producers.publisher import Publisher
from schemas.outputs import FRICTION_TOPIC, STATE_TOPIC, STEPS_TOPIC
from schemas.validation import Rejection, validate
from tests.producers.test_clickstream_import import BAD_TIME_ROW, MAPPINGS, SAMPLE, UNKNOWN_NAME_ROW, sample_rows
from tests.reliability.harness import prepare_topics
from tests.streams.test_worker_e2e import read_all, run_until_idle

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
MOBILE, DESKTOP = 3, 2


def web(who: str, n: int, at: datetime, touchpoint: str, event_type: str, device: str, **measures: Any) -> Any:
    payload = {"source_id": f"{who}-{n}", "event_time": at.isoformat(), "channel": "web", "touchpoint": touchpoint,
               "event_type": event_type, "identifiers": {"anonymous_id": who}, "measures": measures,
               "context": {"device_type": device, "browser": "safari" if device == "mobile" else "firefox"}}
    event = validate(orjson.dumps(payload), "test")
    assert not isinstance(event, Rejection), event
    return event


def shop_events() -> list[Any]:
    events = []
    for i in range(MOBILE):
        who, t = f"mob-{i}", T0 + timedelta(hours=i)
        events += [web(who, 1, t, "web.product", "product_view", "mobile", path="/p/kettle"),
                   web(who, 2, t + timedelta(minutes=2), "web.checkout", "checkout_step", "mobile", checkout_step=1),
                   web(who, 3, t + timedelta(minutes=3), "web.checkout", "error", "mobile", error_kind="payment",
                       error_code="card_declined"),
                   web(who, 4, t + timedelta(hours=3), "web.help", "help_view", "mobile", path="/help/payment")]
    for i in range(DESKTOP):
        who, t = f"desk-{i}", T0 + timedelta(hours=i)
        events += [web(who, 1, t, "web.product", "product_view", "desktop", path="/p/kettle"),
                   web(who, 2, t + timedelta(minutes=2), "web.checkout", "checkout_step", "desktop", checkout_step=1),
                   web(who, 3, t + timedelta(minutes=5), "web.checkout", "order_placed", "desktop",
                       order_id=f"o-{i}", order_amount=30.0)]
    return events


@pytest.fixture
def warehouse_with_shop(settings: Settings, warehouse: Client) -> Settings:
    local = settings.model_copy(update={"kafka": settings.kafka.model_copy(update={"local_broker": True})})
    prepare_topics(local)
    with Publisher.connect(local, source="test") as publisher:
        publisher.publish_many(shop_events())
    run_until_idle(local)
    WarehouseWriter(warehouse).write(stitched(local))
    return local


def stitched(settings: Settings) -> list[Any]:
    """Everything the worker published, read as the sink reads it."""
    return [decode(kind, orjson.dumps(r), "test", T0)
            for kind in (STEPS_TOPIC, STATE_TOPIC, FRICTION_TOPIC) for r in read_all(settings, topic(settings, kind))]


def query(settings: Settings, *args: str) -> Any:
    env = {"JOURNEYS_CLICKHOUSE__DSN": settings.warehouse_dsn(),
           "JOURNEYS_CLICKHOUSE__DATABASE": settings.clickhouse.database}
    result = CliRunner().invoke(main, ["query", *args, "--format", "json"], env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return orjson.loads(result.output)


def test_funnel_by_device_and_frictions_of_mobile_only(warehouse_with_shop: Settings) -> None:
    funnel = query(warehouse_with_shop, "funnel", "--by", "device_type")
    purchase = {row["dimension_value"]: row["journeys"] for row in funnel if row["phase"] == "purchase"}
    assert purchase == {"mobile": MOBILE, "desktop": DESKTOP}  # all reached checkout...
    converted = query(warehouse_with_shop, "touchpoint_scorecard", "--where", "device_type=desktop")
    sales = {row["kpi"]: row["value"] for row in converted if row["touchpoint"] == "web.checkout"}
    assert sales["online_sales"] == DESKTOP  # ...only desktop bought
    mobile = query(warehouse_with_shop, "friction_top", "--where", "device_type=mobile")
    assert {(row["touchpoint"], row["rule"]): row["frictions"] for row in mobile} == {
        ("web.checkout", "abandoned_checkout"): MOBILE}
    assert query(warehouse_with_shop, "friction_top", "--where", "device_type=desktop") == []
    by_device = query(warehouse_with_shop, "friction_top", "--by", "device_type")
    assert [(r["dimension_value"], r["rule"], r["frictions"]) for r in by_device] == [
        ("mobile", "abandoned_checkout", MOBILE)]


def test_dimension_options_name_what_is_wrong(warehouse_with_shop: Settings) -> None:
    env = {"JOURNEYS_CLICKHOUSE__DSN": warehouse_with_shop.warehouse_dsn(),
           "JOURNEYS_CLICKHOUSE__DATABASE": warehouse_with_shop.clickhouse.database}
    runner = CliRunner()
    unknown = runner.invoke(main, ["query", "funnel", "--by", "shoe_size"], env=env)
    assert unknown.exit_code == 2 and "'shoe_size' is not a dimension of the journey map" in unknown.output
    malformed = runner.invoke(main, ["query", "friction_top", "--where", "device_type"], env=env)
    assert malformed.exit_code == 2 and "--where takes DIM=VALUE" in malformed.output
    no_by = runner.invoke(main, ["query", "journey_health", "--by", "device_type"], env=env)
    assert no_by.exit_code == 2 and "does not take --by" in no_by.output


def test_a_clickstream_export_breaks_down_by_device(settings: Settings, warehouse: Client, tmp_path: Path) -> None:
    """A third-party export's device column lands as a context dimension; the analyst asks per device."""
    local = settings.model_copy(update={"kafka": settings.kafka.model_copy(update={"local_broker": True,
                                                                                   "partitions": 2})})
    prepare_topics(local)
    rows = [r for r in sample_rows() if r["event_id"] not in (UNKNOWN_NAME_ROW, BAD_TIME_ROW)]
    with Publisher.connect(local, source="importer") as pub:
        import_file(pub, SAMPLE, load_mapping(MAPPINGS / "webshop_clickstream.yaml"), "web", tmp_path / "rejects.jsonl")
    run_until_idle(local)
    WarehouseWriter(warehouse).write(stitched(local))

    first_device: dict[str, str] = {}
    for row in rows:  # each visitor's journey counts under the device of its first event
        first_device.setdefault(row["user_pseudo_id"], row["device_category"])
    started = {r["dimension_value"]: r["journeys"] for r in query(local, "funnel", "--by", "device_type")
               if r["phase"] == "research"}
    assert started == {d: list(first_device.values()).count(d) for d in set(first_device.values())}
    mobile_cells = query(local, "experience_map", "--where", "device_type=mobile")
    assert sum(c["steps"] for c in mobile_cells) == sum(1 for r in rows if r["device_category"] == "mobile")
    mobile = query(local, "friction_top", "--where", "device_type=mobile")
    everyone = query(local, "friction_top")
    assert sum(r["frictions"] for r in mobile) <= sum(r["frictions"] for r in everyone)


def test_a_dimension_value_is_shown_as_data_not_as_terminal_markup() -> None:
    """Found by an attacker's review: a browser value of "[/x]" made the table render raise MarkupError."""
    from clickhouse.queries import QueryResult
    from journeys.tables import render

    table = render(QueryResult(("dimension_value", "journeys"), [("[/x]", 1), ("[link=http://evil.example]c[/link]", 2)]),
                   "table")
    assert "[/x]" in table and "[link=http://evil.example]c[/link]" in table


def test_the_experience_map_draws_one_device_alone(warehouse_with_shop: Settings, warehouse: Client) -> None:
    from grafana.experience_map.service import MapRequest, draw_from
    from schemas.journeymap import load_journey_map

    everyone, _ = draw_from(warehouse, load_journey_map(), MapRequest())
    mobile, _ = draw_from(warehouse, load_journey_map(), MapRequest(where=("device_type", "mobile")))
    assert (everyone.customers, mobile.customers) == (MOBILE + DESKTOP, MOBILE)
