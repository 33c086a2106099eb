"""ClickHouse stage, erasure: find everything the warehouse holds about one customer, and purge it.

`journeys forget` (journeys/erasure.py) calls these. A customer is found from one identifier key
by following the identity graph's audit trail (identity_links `link` and `merge` rows) to a
closure: every identifier, customer id (merged ones too), event id, journey id and friction id
that belongs to them. Dead letters are theirs when a parsed field of the payload names one of
those exactly (schemas.erasure.payload_keys), never on a substring.

The purge must leave no clear identifier on disk. `ALTER TABLE … DELETE` would not do: its
mutation record (mutation_*.txt, system.mutations) keeps the statement, and the parts it
rewrote stay on disk as outdated parts until a background cleanup whose timing is not ours
(seen: 30 s to more than 2 minutes on chDB). So each table that holds the customer is rebuilt:
merges stopped (the set of parts then only grows), a copy made without the customer's rows,
swapped in with `EXCHANGE TABLES`, the rows inserted meanwhile copied over, and the old table
dropped with `SYNC` (its directory goes at once: parts, outdated parts, deduplication logs). The
ids never appear in a statement: they sit in a Memory table (never on disk) that the copies
read. The same SQL runs on chDB and on a ClickHouse server (Atomic databases, MergeTree tables).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from clickhouse_connect.driver.client import Client

from schemas.erasure import EVENT_KIND, customer_key, payload_keys
from schemas.ids import customer_id_for

MAX_CLOSURE_ROUNDS = 20
NEEDLES_PER_SEARCH = 200  # multiSearchAny takes at most 255 needles
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
# Journeys of others that hold one of the customer's events (an event a sign-in moved to another customer
# keeps its old rows until merges: erasing it from touchpoints takes it out of that journey too).
HOLDING = "SELECT DISTINCT journey_id FROM touchpoints WHERE has({events:Array(String)}, event_id)"
# After the purge, such a journey's kept path is dropped for a placeholder (clickhouse/migrations/0009),
# bounded by the touchpoints left: it is read from them until its next snapshot.
HELD_AGAIN = """
INSERT INTO journey_paths (journey_id, customer_id, row_version, retracted, known, bounded, first_at, last_at)
SELECT journey_id, any(customer_id), 2 * max(version) + 1, false, false, true, min(event_time), max(event_time)
FROM touchpoints FINAL WHERE journey_id IN (SELECT value FROM {subject} WHERE kind = 'holding') GROUP BY journey_id
"""
KEYS = {  # the customer's keys on the compacted output topics (for the tombstones)
    "journeys": "SELECT DISTINCT journey_id FROM journeys WHERE has({customers:Array(String)}, customer_id)",
    "frictions": "SELECT DISTINCT friction_id FROM friction WHERE has({customers:Array(String)}, customer_id)",
}
LETTERS = ("SELECT dead_letter_id, payload FROM dead_letters WHERE payload_encoding = 'utf-8' "
           "AND multiSearchAny(payload, {needles:Array(String)})")
# `{subject}` is the Memory table of (kind, value) rows that names the customer's ids.
CUSTOMERS = "(SELECT value FROM {subject} WHERE kind = 'customer')"
EVENT_IDS = "(SELECT value FROM {subject} WHERE kind = 'event')"
WHERE = {
    # a journey that held an event: its snapshots' rows (even), which may carry the step, and its view's
    # placeholders (unbounded): HELD_AGAIN's bounded placeholder is then its only row
    "journey_paths": (f"customer_id IN {CUSTOMERS} OR (journey_id IN (SELECT value FROM {{subject}} "
                      "WHERE kind = 'holding') AND (row_version % 2 = 0 OR NOT bounded))"),
    "touchpoints": f"customer_id IN {CUSTOMERS} OR event_id IN {EVENT_IDS}",
    "journey_steps": f"customer_id IN {CUSTOMERS} OR event_id IN {EVENT_IDS}",
    "journeys": f"customer_id IN {CUSTOMERS}",
    "friction": f"customer_id IN {CUSTOMERS} OR hasAny(evidence, (SELECT groupArray(value) FROM {{subject}} "
                "WHERE kind = 'event'))",
    "identity_links": (f"customer_id IN {CUSTOMERS} OR ifNull(merged_customer_id, '') IN {CUSTOMERS} OR "
                       "hasAny(identifiers, (SELECT groupArray(value) FROM {subject} WHERE kind = 'identifier'))"),
    "dead_letters": "dead_letter_id IN (SELECT value FROM {subject} WHERE kind = 'dead_letter')",
}


@dataclass
class Subject:
    """Everything that identifies one customer in the warehouse."""

    identifiers: set[str] = field(default_factory=set)  # `kind:value` keys
    customers: set[str] = field(default_factory=set)
    events: set[str] = field(default_factory=set)
    raw: set[str] = field(default_factory=set)  # `email:<address>` as given, for old rejects that carry it
    journeys: set[str] = field(default_factory=set)
    holding: set[str] = field(default_factory=set)  # journeys (anyone's) that hold one of the events
    frictions: set[str] = field(default_factory=set)
    dead_letters: set[str] = field(default_factory=set)

    def keys(self) -> set[str]:
        """Every `kind:value` key that names this customer in a payload's fields."""
        return (self.identifiers | self.raw | {customer_key(c) for c in self.customers}
                | {f"{EVENT_KIND}:{e}" for e in self.events})

    def values(self) -> list[str]:
        """The bare values of the keys: a cheap pre-filter for the exact field match."""
        return sorted({key.split(":", 1)[1] for key in self.keys()} - {""})


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
    """Follow links and merges until nothing new appears; then collect the customer's ids and dead letters.

    Each identifier found brings the customer it founds on its own (`customer_id_for` its key): in
    event time, her device's events before she signed in stay with the device's customer, which no
    link or merge row names."""
    for _ in range(MAX_CLOSURE_ROUNDS):
        before = (len(subject.identifiers), len(subject.customers))
        for customer, merged, identifiers in client.query(CLOSURE, parameters=_bound(subject)).result_rows:
            subject.customers |= {customer, merged} - {""}
            subject.identifiers |= set(identifiers)
        subject.customers |= {customer_id_for(identifier) for identifier in subject.identifiers}
        if (len(subject.identifiers), len(subject.customers)) == before:
            break
    subject.events = _column(client, EVENTS, subject)
    subject.journeys = _column(client, KEYS["journeys"], subject)
    subject.holding = _column(client, HOLDING, subject)
    subject.frictions = _column(client, KEYS["frictions"], subject)
    subject.dead_letters = matching_dead_letters(client, subject)
    return subject


def matching_dead_letters(client: Client, subject: Subject) -> set[str]:
    """Dead letters whose payload names the subject in a field, exactly (a pre-filter, then a parse)."""
    keys, found, values = subject.keys(), set(), subject.values()
    for start in range(0, len(values), NEEDLES_PER_SEARCH):
        rows = client.query(LETTERS, parameters={"needles": values[start:start + NEEDLES_PER_SEARCH]}).result_rows
        found |= {letter for letter, payload in rows if payload_keys(payload) & keys}
    return found


def erase(client: Client, subject: Subject) -> dict[str, int]:
    """Delete the subject's rows from every table that holds them and their old parts from disk;
    returns rows removed per table."""
    with _subject_table(client, subject, "erasure_subject") as name:
        counts = {table: _count(client, table, condition.format(subject=name)) for table, condition in WHERE.items()}
        _purge(client, [table for table, rows in counts.items() if rows], name)
        client.command(HELD_AGAIN.format(subject=name))
    return counts


def remaining(client: Client, subject: Subject) -> dict[str, int]:
    """Rows per table that still name the subject (all zero after `erase`)."""
    with _subject_table(client, subject, "erasure_check") as name:
        return {table: _count(client, table, condition.format(subject=name)) for table, condition in WHERE.items()}


@contextmanager
def _subject_table(client: Client, subject: Subject, prefix: str) -> Iterator[str]:
    """A Memory table (never on disk) of the subject's ids, which statements read instead of naming them."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    client.command(f"CREATE TABLE {name} (kind String, value String) ENGINE = Memory")
    try:
        client.insert(name, _subject_rows(subject), column_names=["kind", "value"])
        yield name
    finally:
        client.command(f"DROP TABLE IF EXISTS {name} SYNC")


def _purge(client: Client, tables: list[str], subject_table: str) -> None:
    for table in tables:
        _rebuild(client, table, WHERE[table].format(subject=subject_table))


def _rebuild(client: Client, table: str, erased: str) -> None:
    """Swap in a copy of `table` without the rows matching `erased`, then drop the old table's files."""
    copy = f"{table}_erasure_{uuid.uuid4().hex[:8]}"
    client.command(f"SYSTEM STOP MERGES {table}")  # no merge may fold new rows into the parts being copied
    try:
        parts = _part_names(client, table, active_only=True)
        client.command(f"CREATE TABLE {copy} AS {table}")
        _copy_rows(client, table, copy, erased, parts, of_parts=True)
        client.command(f"EXCHANGE TABLES {table} AND {copy}")
    except Exception:
        client.command(f"SYSTEM START MERGES {table}")
        client.command(f"DROP TABLE IF EXISTS {copy} SYNC")
        raise
    _copy_rows(client, copy, table, erased, parts, of_parts=False)  # what was inserted while copying
    client.command(f"DROP TABLE {copy} SYNC")


def _copy_rows(client: Client, source: str, target: str, erased: str, parts: set[str], of_parts: bool) -> None:
    """Rows of `source` (of the given parts, or of all other parts) that are not erased, into `target`."""
    chosen = "IN" if of_parts else "NOT IN"
    client.command(f"INSERT INTO {target} SELECT * FROM {source} WHERE _part {chosen} {{parts:Array(String)}} "
                   f"AND NOT ({erased})", parameters={"parts": sorted(parts)})


def _subject_rows(subject: Subject) -> list[list[str]]:
    kinds = (("customer", subject.customers), ("event", subject.events), ("identifier", subject.identifiers),
             ("dead_letter", subject.dead_letters), ("holding", subject.holding))
    return [[kind, value] for kind, values in kinds for value in sorted(values)] or [["none", ""]]


def _count(client: Client, table: str, condition: str) -> int:
    return int(client.query(f"SELECT count() FROM {table} WHERE {condition}").result_rows[0][0])


def _part_names(client: Client, table: str, active_only: bool = False) -> set[str]:
    query = ("SELECT name FROM system.parts WHERE database = currentDatabase() AND table = {table:String}"
             + (" AND active" if active_only else ""))
    return {row[0] for row in client.query(query, parameters={"table": table}).result_rows}


def _column(client: Client, query: str, subject: Subject) -> set[str]:
    return {row[0] for row in client.query(query, parameters=_bound(subject)).result_rows}


def _bound(subject: Subject) -> dict[str, list[str]]:
    return {"ids": sorted(subject.identifiers), "customers": sorted(subject.customers),
            "events": sorted(subject.events)}
