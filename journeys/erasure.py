"""`journeys forget IDENTIFIER`: erase one customer everywhere the pipeline keeps them, for good.

The identifier is `email:<address>` or `phone:<number>` (hashed here with the PII secret, exactly
as the producers hash them), an identifier key (`email_hash:<hex>`, `crm_id:...`, `loyalty_id:...`,
`phone_hash:...`, `anonymous_id:...`) or `customer_id:cust-...`. In order:
1. the customer is found in the warehouse (clickhouse/erasure.py): identifiers, customer ids,
   events, journeys, friction, dead letters;
2. keyed tokens (HMAC with the PII secret) of every identifier key and customer id go on the
   erasure list (journeys.erasure_list): from then on the worker refuses the customer's events and
   every sink, and any replay, refuses their records;
3. a forget record naming only those tokens goes to identity.links (the audit trail);
4. tombstones (null values) for the customer's keys go to every compacted topic: journeys.state
   (journey ids), journeys.friction (friction ids), identity.links (customer ids) and the worker's
   table changelogs (customer states, identity-graph entries);
5. the warehouse is purged, old parts included, and the forget record is written as the audit row.
With the embedded warehouse (chDB, one process per data path) run it while the worker is stopped.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime

import click

from foundation.settings import Settings
from schemas.errors import ErasureError
from schemas.events import Identifiers
from schemas.outputs import IDENTITY_TOPIC, IdentityLink

ERASURE_RULE = "erasure_request"
FLUSH_TIMEOUT_S = 30.0
# A running sink (ClickHouse server) sees a new erasure within about a second; a batch it screened
# just before may still be written. Purging after this wait keeps such a batch out of the warehouse.
LIST_SETTLE_S = 3.0


@dataclass(frozen=True)
class ForgetReport:
    tombstone: IdentityLink
    identifiers: int
    customers: int
    events: int
    removed: dict[str, int]


def identifier_key(text: str, settings: Settings) -> tuple[str | None, str | None]:
    """(identifier key, customer id) named by the command's argument; raw e-mail and phone are hashed."""
    from schemas.pii import PiiError, hash_email, hash_phone

    kind, sep, value = text.partition(":")
    if not sep or not value:
        raise ErasureError(text, "expected KIND:VALUE, e.g. email:ann@example.com or crm_id:C-1")
    secret = settings.pii_secret.get_secret_value().encode("utf-8")
    try:
        if kind == "email":
            return f"email_hash:{hash_email(value, secret)}", None
        if kind == "phone":
            return f"phone_hash:{hash_phone(value, secret, settings.default_phone_region)}", None
    except PiiError as err:
        raise ErasureError(kind + ":…", str(err)) from None
    if kind == "customer_id":
        return None, value
    if kind not in Identifiers.model_fields:
        known = ", ".join(["email", "phone", "customer_id", *Identifiers.model_fields])
        raise ErasureError(text, f"unknown kind {kind!r}; known: {known}")
    return text, None


def erasure_tokens(keys: set[str], customers: set[str], settings: Settings) -> set[str]:
    """The erasure list's tokens for a customer: one per identifier key and per customer id."""
    from journeys.erasure_list import secret_of
    from schemas.erasure import customer_key, erased_token

    secret = secret_of(settings)
    return {erased_token(key, secret) for key in keys | {customer_key(c) for c in customers}}


def tombstone(tokens: set[str], now: datetime) -> IdentityLink:
    """The forget record: tokens only (it names nobody)."""
    from schemas.ids import short_hash
    from streams.erasure import FORGET_KIND, FORGOTTEN_CUSTOMER

    ordered = tuple(sorted(tokens))
    return IdentityLink(link_id="forget-" + short_hash(",".join(ordered) + now.isoformat()), kind=FORGET_KIND,
                        customer_id=FORGOTTEN_CUSTOMER, identifiers=ordered, rule=ERASURE_RULE,
                        event_time=now, recorded_at=now)


def publish_forget_record(settings: Settings, link: IdentityLink) -> None:
    """Put the forget record on identity.links (the audit trail) and wait until Kafka has acknowledged it."""
    from kafka import KafkaProducer

    from foundation.kafka import ensure_topics, producer_options, topic
    from schemas.errors import DeliveryError

    ensure_topics(settings)
    producer = KafkaProducer(**producer_options(settings))
    try:
        producer.send(topic(settings, IDENTITY_TOPIC), key=link.customer_id.encode(),
                      value=link.model_dump_json().encode()).get(timeout=FLUSH_TIMEOUT_S)
    except Exception as err:
        raise DeliveryError(topic(settings, IDENTITY_TOPIC), None, str(err) or type(err).__name__) from err
    finally:
        producer.close()


def forget(settings: Settings, text: str, dry_run: bool = False) -> ForgetReport:
    """Erase the customer named by `text` (see the module docstring for the order of the steps)."""
    from clickhouse import erasure as warehouse
    from clickhouse.client import connect, is_embedded
    from clickhouse.sink import WarehouseWriter
    from foundation.kafka import ensure_topics
    from journeys import erasure_list
    from journeys.erasure_tombstones import publish_tombstones

    key, customer_id = identifier_key(text, settings)
    client = connect(settings)
    start = warehouse.subject_of(key, customer_id)
    if text.startswith("email:"):  # old rejects may carry the address as typed, in an `email` field
        start.raw.add("email:" + text.partition(":")[2].strip().lower())
    subject = warehouse.find(client, start)
    tokens = erasure_tokens(subject.identifiers, subject.customers, settings)
    link = tombstone(tokens, datetime.now(UTC))
    removed: dict[str, int] = {}
    if not dry_run:
        ensure_topics(settings)
        erasure_list.publish(settings, tokens)  # first: from here on, nothing of theirs is written again
        publish_forget_record(settings, link)
        publish_tombstones(settings, subject)
        if not is_embedded(settings.warehouse_dsn()):  # embedded: no sink runs beside forget
            time.sleep(LIST_SETTLE_S)
        removed = warehouse.erase(client, subject)
        WarehouseWriter(client).write([link])
    return ForgetReport(link, len(subject.identifiers), len(subject.customers), len(subject.events), removed)


@click.command("forget")
@click.argument("identifier")
@click.option("--dry-run", is_flag=True, help="Only say what would be erased.")
@click.pass_context
def forget_command(ctx: click.Context, identifier: str, dry_run: bool) -> None:
    """Erase one customer (IDENTIFIER: email:ADDRESS, phone:NUMBER, KIND:VALUE or customer_id:ID)."""
    from journeys.cli import settings_of

    report = forget(settings_of(ctx), identifier, dry_run)
    click.echo(f"{'would erase' if dry_run else 'erased'}: {report.customers} customer id(s), "
               f"{report.identifiers} identifier(s), {report.events} event(s)")
    for table, rows in report.removed.items():
        click.echo(f"  {table:<15} {rows:>8} rows removed")
    if not dry_run:
        click.echo(f"erasure list: {len(report.tombstone.identifiers)} token(s); tombstones on the compacted "
                   f"topics; forget record {report.tombstone.link_id} on {IDENTITY_TOPIC} and in identity_links")


def register(main: click.Group) -> None:
    main.add_command(forget_command)
