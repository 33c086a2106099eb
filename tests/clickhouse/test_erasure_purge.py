"""The warehouse's purge: exact matches only, and no clear identifier left in mutation records or on disk.

Against the real warehouse (the session's chDB path, or a server with --clickhouse). Ann has an
e-mail hash, a device, a customer id, steps, a journey, friction, links and two dead letters (one
names her e-mail address as typed). Dead letters of other visitors mention `web` everywhere
(channel, paths, ids that start with it). Forgetting an id nobody has deletes nothing; forgetting
Ann leaves her ids in no table, in no mutation record, and (embedded) in no file of the warehouse.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import orjson
from clickhouse_connect.driver.client import Client

from clickhouse import erasure as purge
from clickhouse.client import is_embedded
from clickhouse.sink import WarehouseWriter
from foundation.settings import Settings
from schemas.ids import customer_id_for
from schemas.outputs import DeadLetter, IdentityLink
from tests.clickhouse.scenario import T0, event, friction, journey, step


def visitor_letters(count: int) -> list[DeadLetter]:
    """Rejected web events of other visitors: `web` is in every payload, never as anyone's whole id."""
    def payload(n: int) -> str:
        return orjson.dumps({"channel": "web", "identifiers": {"anonymous_id": f"web-{n}"},
                             "measures": {"path": "/web"}, "event_type": "page_view"}).decode()
    return [DeadLetter(source=f"topic:touchpoints.web/0/{n}", reason="invalid event", kind="validation",
                       problems=("event_time: missing",), payload=payload(n), channel="web", rejected_at=T0)
            for n in range(count)]


def ann_records(email_hash: str, device: str, customer: str) -> list[object]:
    view = event(f"ev-{device}", "web", "web.product", "product_view", T0, device)
    letters = [DeadLetter(source="collector", reason="bad", kind="validation", problems=(), rejected_at=T0,
                          payload=orjson.dumps({"identifiers": {"email_hash": email_hash}}).decode(), channel="web"),
               DeadLetter(source="collector", reason="bad", kind="validation", problems=(), rejected_at=T0,
                          payload=f'{{"email": "{device}@example.com", "broken', channel="web")]
    return [step(view, customer, f"j-{customer}", 0, "research", 0),
            journey(f"j-{customer}", customer, 0, T0, T0, 1, ("web",), {"research": T0}),
            friction(f"f-{customer}", customer, f"j-{customer}", "slow", "web.product", "research", T0, 0),
            IdentityLink(link_id=f"l-{customer}", kind="link", customer_id=customer,
                         identifiers=(f"anonymous_id:{device}", f"email_hash:{email_hash}"), rule="web_login",
                         evidence_event_id=view.event_id, event_time=T0, recorded_at=T0), *letters]


def dead_letters(client: Client) -> int:
    return int(client.query("SELECT count() FROM dead_letters").result_rows[0][0])


def files_naming(root: Path, needles: set[str]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path in (p for p in root.rglob("*") if p.is_file()):
        content = path.read_bytes()
        for needle in (n for n in needles if n.encode() in content):
            found.setdefault(needle, []).append(str(path.relative_to(root)))
    return found


def test_forgetting_an_id_nobody_has_deletes_no_dead_letter(warehouse: Client) -> None:
    WarehouseWriter(warehouse).write(visitor_letters(40))
    assert dead_letters(warehouse) == 40
    purge.erase(warehouse, purge.find(warehouse, purge.subject_of("anonymous_id:web")))
    assert dead_letters(warehouse) == 40
    purge.erase(warehouse, purge.find(warehouse, purge.subject_of("anonymous_id:web-7")))  # whole ids: exactly
    assert dead_letters(warehouse) == 39


def test_the_purge_leaves_no_identifier_in_mutations_or_files(warehouse: Client, settings: Settings) -> None:
    email_hash, device = secrets.token_hex(32), f"dev-{secrets.token_hex(6)}"
    customer = f"cust-{secrets.token_hex(8)}"
    WarehouseWriter(warehouse).write([*ann_records(email_hash, device, customer), *visitor_letters(3)])  # type: ignore[list-item]
    needles = {email_hash, device, customer, f"{device}@example.com"}
    root = Path(settings.warehouse_dsn().removeprefix("chdb://"))
    embedded = is_embedded(settings.warehouse_dsn())
    if embedded:
        assert set(files_naming(root, needles)) == needles  # the search finds them while they are there

    start = purge.subject_of(f"email_hash:{email_hash}")
    start.raw.add(f"email:{device}@example.com")  # as `journeys forget email:ADDRESS` adds it
    subject = purge.find(warehouse, start)
    removed = purge.erase(warehouse, subject)

    assert removed["dead_letters"] == 2 and removed["touchpoints"] == 1 and removed["journeys"] == 1
    assert not any(purge.remaining(warehouse, subject).values())
    assert dead_letters(warehouse) == 3
    mutations = "\n".join(row[0] for row in warehouse.query(
        "SELECT command FROM system.mutations WHERE database = currentDatabase()").result_rows)
    assert not {n for n in needles if n in mutations}
    for table in ("touchpoints", "journeys", "dead_letters"):  # merges run again on the rebuilt tables
        warehouse.command(f"OPTIMIZE TABLE {table} FINAL")
    if embedded:
        assert files_naming(root, needles) == {}



def test_the_customer_her_device_made_before_she_signed_in_is_hers_too(warehouse: Client) -> None:
    """In event time a view before the sign-in stays with the device's own customer (customer_id_for the
    device's key), which no link or merge row names: forgetting her finds it through her device."""
    email_hash, device = secrets.token_hex(32), f"dev-{secrets.token_hex(6)}"
    customer = f"cust-{secrets.token_hex(8)}"
    device_customer = customer_id_for(f"anonymous_id:{device}")
    earlier = event(f"ev-early-{device}", "web", "web.product", "product_view", T0, device)
    WarehouseWriter(warehouse).write([  # type: ignore[list-item]
        *ann_records(email_hash, device, customer),
        step(earlier, device_customer, f"j-{device_customer}", 0, "research", 0),
        journey(f"j-{device_customer}", device_customer, 0, T0, T0, 1, ("web",), {"research": T0})])

    subject = purge.find(warehouse, purge.subject_of(f"email_hash:{email_hash}"))
    assert device_customer in subject.customers and f"j-{device_customer}" in subject.journeys
    purge.erase(warehouse, subject)
    assert not any(purge.remaining(warehouse, subject).values())
