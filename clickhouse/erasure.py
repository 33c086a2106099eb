"""ClickHouse stage, erasure: find everything the warehouse holds about one customer, and delete it.

`journeys forget` (journeys/erasure.py) calls these. A customer is found from one identifier key
by following the identity graph's audit trail (identity_links `link` and `merge` rows) to a
closure: every identifier, customer id (merged ones too) and event id that belongs to them. Then
every table that holds them is purged with `ALTER TABLE ... DELETE` (a mutation that rewrites the
parts, so the rows are gone from disk, not only hidden), waiting for it to finish: touchpoints,
journey_steps, journeys, friction, identity_links, and dead_letters whose payload names them.
Every value is a bound parameter; table names come from the constant list below.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from clickhouse_connect.driver.client import Client

from streams.core.identity import customer_id_for

MAX_CLOSURE_ROUNDS = 20
NEEDLES_PER_SEARCH = 200  # multiSearchAny takes at most 255 needles
MUTATION_SETTINGS = {"mutations_sync": 2}
CLOSURE = """
SELECT customer_id, ifNull(merged_customer_id, ''), identifiers FROM identity_links
WHERE kind IN ('link', 'merge')
  AND (hasAny(identifiers, {ids:Array(String)}) OR has({customers:Array(String)}, customer_id)
       OR has({customers:Array(String)}, ifNull(merged_customer_id, '')))
"""
EVENTS = """
SELECT DISTINCT event_id FROM journey_steps WHERE has({customers:Array(String)}, customer_id)
UNION DISTINCT
SELECT DISTINCT event_id FROM touchpoints WHERE has({customers:Array(String)}, customer_id)
"""
OF_CUSTOMER = "has({customers:Array(String)}, customer_id)"
OF_EVENT = "has({events:Array(String)}, event_id)"
WHERE = {
    "touchpoints": f"{OF_CUSTOMER} OR {OF_EVENT}",
    "journey_steps": f"{OF_CUSTOMER} OR {OF_EVENT}",
    "journeys": OF_CUSTOMER,
    "friction": f"{OF_CUSTOMER} OR hasAny(evidence, {{events:Array(String)}})",
    "identity_links": (f"{OF_CUSTOMER} OR has({{customers:Array(String)}}, ifNull(merged_customer_id, '')) "
                       "OR hasAny(identifiers, {ids:Array(String)})"),
    "dead_letters": "multiSearchAnyCaseInsensitive(payload, {needles:Array(String)})",
}


@dataclass
class Subject:
    """Everything that identifies one customer in the warehouse."""

    identifiers: set[str] = field(default_factory=set)  # `kind:value` keys
    customers: set[str] = field(default_factory=set)
    events: set[str] = field(default_factory=set)
    raw_values: set[str] = field(default_factory=set)  # e.g. the e-mail address as typed, in old rejects

    def needles(self) -> list[str]:
        """Strings whose presence in a dead letter's payload ties it to this customer (JSON-quoted)."""
        values = {key.split(":", 1)[1] for key in self.identifiers} | self.customers | self.events
        return sorted({f'"{value}"' for value in values | self.raw_values if value})


def subject_of(identifier: str | None, customer_id: str | None = None) -> Subject:
    """The starting point: an identifier key (with the customer it would have created), or a customer id."""
    subject = Subject()
    if identifier:
        subject.identifiers.add(identifier)
        subject.customers.add(customer_id_for(identifier))
    if customer_id:
        subject.customers.add(customer_id)
    return subject


def find(client: Client, subject: Subject) -> Subject:
    """Follow links and merges until nothing new appears; then collect the customer's event ids."""
    for _ in range(MAX_CLOSURE_ROUNDS):
        before = (len(subject.identifiers), len(subject.customers))
        rows = client.query(CLOSURE, parameters=_bound(subject)).result_rows
        for customer, merged, identifiers in rows:
            subject.customers |= {customer, merged} - {""}
            subject.identifiers |= set(identifiers)
        if (len(subject.identifiers), len(subject.customers)) == before:
            break
    subject.events = {row[0] for row in client.query(EVENTS, parameters=_bound(subject)).result_rows}
    return subject


def erase(client: Client, subject: Subject) -> dict[str, int]:
    """Delete the subject's rows from every table that holds them; returns rows removed per table."""
    removed: dict[str, int] = {}
    for table, condition in WHERE.items():
        removed[table] = 0
        for parameters in _batches(subject, table):
            count = client.query(f"SELECT count() FROM {table} WHERE {condition}", parameters=parameters)
            found = int(count.result_rows[0][0])
            if found:
                client.command(f"ALTER TABLE {table} DELETE WHERE {condition}", parameters=parameters,
                               settings=MUTATION_SETTINGS)
            removed[table] += found
    return removed


def remaining(client: Client, subject: Subject) -> dict[str, int]:
    """Rows per table that still name the subject (all zero after `erase`)."""
    return {table: sum(int(client.query(f"SELECT count() FROM {table} WHERE {condition}",
                                        parameters=parameters).result_rows[0][0])
                       for parameters in _batches(subject, table))
            for table, condition in WHERE.items()}


def _bound(subject: Subject) -> dict[str, list[str]]:
    return {"ids": sorted(subject.identifiers), "customers": sorted(subject.customers),
            "events": sorted(subject.events)}


def _batches(subject: Subject, table: str) -> list[dict[str, list[str]]]:
    if table != "dead_letters":
        return [_bound(subject)]
    needles = subject.needles()
    return [{"needles": needles[i:i + NEEDLES_PER_SEARCH]} for i in range(0, len(needles), NEEDLES_PER_SEARCH)]
