"""The stitcher's shortcuts change nothing: incremental layouts, remembered states, documents.

For random event orders, arrival delays (some beyond the allowed lateness) and batch cuts:
- a layout built on the previous one equals the layout recomputed from scratch;
- folding batches with the worker's memory of decoded states and layouts gives the same records
  and the same stored states as decoding and recomputing every batch;
- a state's JSON extended from its earlier records' is the JSON of the whole state;
- every document the worker sends is the JSON of the model the sink reads back from it.
"""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.journeymap import load_journey_map
from schemas.outputs import reader_of
from streams.codecs import decode_state as decode
from streams.codecs import encode_document as encode
from streams.codecs import encode_state, extended_json
from streams.core.commands import Command, Stitch
from streams.core.fold import CustomerState
from streams.core.layout import layout_of
from streams.core.records import Record, order_key, record_of
from streams.core.stitching import Stitching
from streams.customer_states import CustomerStates, Memory
from tests.streams.story import at, event

JOURNEY_MAP = load_journey_map()
CUSTOMER = "cust-0000000000000001"
KINDS: list[tuple[str, str, str, dict[str, Any]]] = [
    ("web", "page_view", "web.content", {}),
    ("web", "compare", "web.compare", {"segment": "families"}),
    ("web", "checkout_step", "web.checkout", {"checkout_step": 1}),
    ("web", "order_placed", "web.checkout", {"segment": "students"}),
    ("web", "page_view", "web.product", {"navigation_ease": 1}),
    ("web", "survey", "web.help", {"feedback": {"csat": 1, "nps": 3}}),
    ("call_centre", "call_answered", "call_centre.support", {"wait_s": 700, "transfers": 3, "resolved": False}),
    ("call_centre", "call_answered", "call_centre.sales", {"resolved": True}),
    ("email", "received", "email.support", {"direction": "inbound", "thread_id": "t1"}),
    ("email", "replied", "email.support", {"thread_id": "t1"}),
    ("store", "visit", "store.floor", {"queue_wait_s": 900}),
]
DELAYS_H = (0, 0, 0, 2, 80, 400)  # arrival after the event; 80 h and more is beyond the allowed lateness

moments = st.tuples(st.integers(0, len(KINDS) - 1), st.integers(0, 24 * 120), st.sampled_from(DELAYS_H))
histories = st.lists(moments, min_size=1, max_size=24)


def records_of(history: list[tuple[int, int, int]]) -> list[Record]:
    """Events in arrival order (received time), as the worker's compact records."""
    made = []
    for n, (kind, hours, delay_h) in enumerate(history):
        channel, event_type, touchpoint, extra = KINDS[kind]
        when = at(hours=hours)
        made.append(event(channel, event_type, when, touchpoint, event_id=f"e{n:03d}",
                          received=when + timedelta(hours=delay_h), anonymous_id="anna", **extra))
    made.sort(key=lambda e: (e.received_time, e.event_id))
    return [record_of(e, JOURNEY_MAP) for e in made]


def batches(records: list[Record], cuts: list[int]) -> list[list[Record]]:
    points = sorted({0, len(records), *(c % (len(records) + 1) for c in cuts)})
    return [records[a:b] for a, b in itertools.pairwise(points) if b > a]


@settings(max_examples=150, deadline=None)
@given(histories, st.lists(st.integers(0, 30), max_size=4))
def test_a_layout_built_on_the_previous_one_equals_one_from_scratch(history: list[tuple[int, int, int]],
                                                                     cuts: list[int]) -> None:
    seen: list[Record] = []
    previous = layout_of(CUSTOMER, seen, JOURNEY_MAP)
    for batch in batches(records_of(history), cuts):
        seen = sorted([*seen, *batch], key=order_key)
        incremental = layout_of(CUSTOMER, seen, JOURNEY_MAP, previous)
        assert incremental == layout_of(CUSTOMER, seen, JOURNEY_MAP)
        previous = incremental


@settings(max_examples=100, deadline=None)
@given(histories, st.integers(0, 30), st.integers(0, 9), st.sampled_from(["", "cust-survivor"]))
def test_a_state_extended_from_its_earlier_records_is_stored_the_same(history: list[tuple[int, int, int]], cut: int,
                                                                       revision: int, merged_into: str) -> None:
    records = sorted(records_of(history), key=order_key)
    known = cut % (len(records) + 1)
    state = CustomerState(revision, records, merged_into)
    extended = extended_json(orjson.dumps(records[:known]), known, records)
    assert extended == orjson.dumps(records)
    assert encode_state(state, extended) == encode_state(state)
    assert decode(encode_state(state, extended)) == state


def fold(commands: list[list[Command]], remember: bool) -> tuple[list[bytes], dict[str, bytes]]:
    stored: dict[str, bytes] = {}
    memory: Memory = {}
    sent: list[bytes] = []
    for batch in commands:
        states = CustomerStates(stored.get, memory if remember else {})
        work = Stitching(JOURNEY_MAP, states.load)
        out, _ = work.handle_batch(batch)
        sent += [encode(d) for d in out]
        stored.update(states.stored(work.changed()))
    return sent, stored


@settings(max_examples=100, deadline=None)
@given(histories, st.lists(st.integers(0, 30), max_size=4), st.booleans())
def test_remembered_states_and_layouts_change_no_record(history: list[tuple[int, int, int]], cuts: list[int],
                                                        replay: bool) -> None:
    cut = batches(records_of(history), cuts)
    commands: list[list[Command]] = [[Stitch(CUSTOMER, r) for r in batch] for batch in (cut + cut if replay else cut)]
    assert fold(commands, remember=True) == fold(commands, remember=False)


@settings(max_examples=100, deadline=None)
@given(histories, st.lists(st.integers(0, 30), max_size=4))
def test_every_document_is_the_json_of_its_model(history: list[tuple[int, int, int]], cuts: list[int]) -> None:
    stored: dict[str, bytes] = {}
    for batch in batches(records_of(history), cuts):
        commands: list[Command] = [Stitch(CUSTOMER, r) for r in batch]
        states = CustomerStates(stored.get, {})
        work = Stitching(JOURNEY_MAP, states.load)
        as_documents = work.handle_batch(commands)[0]
        as_models = [reader_of(d.topic).model_validate_json(encode(d)) for d in as_documents]  # as the sink reads them
        assert [orjson.loads(encode(d)) for d in as_documents] == [
            orjson.loads(m.model_dump_json(serialize_as_any=True)) for m in as_models]
        stored.update(states.stored(work.changed()))
