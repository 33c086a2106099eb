"""Identity is a function of the log, not of the order it is read in (property-based).

Random households (shared tablets with anonymous browsing between sign-ins, store purchases that
link loyalty cards, calls and e-mails that link CRM ids, two CRM ids for one e-mail, a small
identifier cap) are cut into partitions by their Kafka key. Each partition keeps one order (not
event time: sign-ins come late), the partitions are interleaved at random and cut into batches of
random size, and run through stages 2 and 3 without Kafka (partitions drained in a random order)
and through the one-loop pipeline. Customers, journeys and frictions must equal those of the same
events fed in event-time order. Customer ids are names, not claimed independent (docs/journeys.md).
"""

from __future__ import annotations

import random
import zlib
from collections import deque
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.events import TouchpointEventBase
from schemas.journeymap import JourneyMap, load_journey_map
from schemas.outputs import FrictionEvent, JourneySnapshot, JourneyStep, Output
from streams.core.commands import Command, resolve
from streams.core.identity import IdentityGraph
from streams.core.pipeline import Pipeline
from streams.core.records import record_of
from streams.core.render import model_of
from streams.core.stitching import Stitching
from streams.core.view import current
from streams.customer_states import CustomerStates, Memory
from streams.work import by_partition
from tests.streams import truth
from tests.streams.story import at, email, event

PARTITIONS, RAW_PARTITIONS = 3, 3
MAP = load_journey_map()
SMALL_CAP = MAP.model_copy(update={"identity": MAP.identity.model_copy(update={"max_identifiers_per_customer": 4})})
PEOPLE, TABLETS = 3, 2


def _person_event(kind: str, n: int, person: int, other: int, minute: int) -> TouchpointEventBase:
    when, eid, mail = at(minutes=minute), f"e{n:03d}", email(person + 1)
    if kind == "sign_in":
        return event("web", "login", when, "web.account", event_id=eid, anonymous_id=f"tablet-{other % TABLETS}",
                     email_hash=mail)
    if kind == "view":
        return event("web", "page_view", when, "web.product", event_id=eid, anonymous_id=f"tablet-{other % TABLETS}")
    if kind == "purchase":
        return event("store", "purchase", when, "store.checkout", event_id=eid, loyalty_id=f"L-{person}-{other}",
                     email_hash=mail)
    if kind == "call":
        return event("call_centre", "call_answered", when, event_id=eid, crm_id=f"CRM-{other % 2}", email_hash=mail,
                     wait_s=60 + 300 * (other % 3))
    return event("email", "replied", when, "email.support", event_id=eid, crm_id=f"CRM-{other % 2}", email_hash=mail)


KINDS = st.sampled_from(["sign_in", "sign_in", "view", "view", "view", "purchase", "call", "reply"])
SCENARIO = st.lists(st.tuples(KINDS, st.integers(0, PEOPLE - 1), st.integers(0, 5), st.integers(0, 36 * 60)),
                    min_size=3, max_size=22)


def scenario_events(drawn: list[tuple[str, int, int, int]]) -> list[TouchpointEventBase]:
    return [_person_event(kind, n, person, other, minute) for n, (kind, person, other, minute) in enumerate(drawn)]


def partitions_of(events: list[TouchpointEventBase], rng: random.Random) -> list[list[TouchpointEventBase]]:
    """Events cut by their key (the strongest identifier), each partition in an order of its own."""
    parts: list[list[TouchpointEventBase]] = [[] for _ in range(RAW_PARTITIONS)]
    for e in events:
        parts[zlib.crc32(e.identifiers.primary().encode()) % RAW_PARTITIONS].append(e)
    for part in parts:
        rng.shuffle(part)
    return parts


def interleaved(parts: list[list[TouchpointEventBase]], rng: random.Random) -> list[TouchpointEventBase]:
    queues = [deque(p) for p in parts]
    out = []
    while any(queues):
        out.append(rng.choice([q for q in queues if q]).popleft())
    return out


def topology(events: list[TouchpointEventBase], journey_map: JourneyMap, rng: random.Random) -> list[Output]:
    """Stages 2 and 3 over in-memory partitions: random batches, partitions drained in random order."""
    graph = IdentityGraph(journey_map, {}, {}, {}, {})
    stored: dict[str, bytes] = {}
    memory: Memory = {}
    queues: list[deque[list[Command]]] = [deque() for _ in range(PARTITIONS)]
    outputs: list[Output] = []
    records = [record_of(e, journey_map) for e in events]
    while records or any(queues):
        if records and (not any(queues) or rng.random() < 0.5):
            size = rng.randint(1, 6)
            commands, _ = resolve(graph, records[:size])
            records = records[size:]
            _enqueue(queues, commands)
            continue
        partition = rng.choice([p for p, q in enumerate(queues) if q])
        states = CustomerStates(stored.get, memory)
        work = Stitching(journey_map, states.load)
        out, forwards = work.handle_batch(queues[partition].popleft())
        outputs += [model_of(document) for document in out]
        _enqueue(queues, forwards)
        stored.update(states.stored(work.changed()))
    return outputs


def _enqueue(queues: list[deque[list[Command]]], commands: list[Command]) -> None:
    for partition, some in by_partition(commands, PARTITIONS).items():
        queues[partition].append(some)


def pipeline(events: list[TouchpointEventBase], journey_map: JourneyMap) -> list[Output]:
    one_loop = Pipeline(journey_map)
    return [o for e in events for o in one_loop.feed(e) if not hasattr(o, "link_id")]  # type: ignore[misc]


def outcome(outputs: list[Output]) -> tuple[Any, ...]:
    def view(kind: type) -> dict[str, dict[str, Any]]:
        return current(o.model_dump(mode="json") for o in outputs if isinstance(o, kind))

    steps = view(JourneyStep)
    return truth.customers(steps), truth.journeys(steps, view(JourneySnapshot)), truth.friction(view(FrictionEvent))


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(SCENARIO, st.integers(0, 2**32 - 1), st.booleans())
def test_customers_journeys_and_frictions_do_not_depend_on_arrival_order_or_batches(
        drawn: list[tuple[str, int, int, int]], seed: int, small_cap: bool) -> None:
    journey_map = SMALL_CAP if small_cap else MAP
    events = scenario_events(drawn)
    in_event_time = sorted(events, key=lambda e: (e.event_time, e.event_id))
    expected = outcome(pipeline(in_event_time, journey_map))
    rng = random.Random(seed)
    arrival = interleaved(partitions_of(events, rng), rng)
    assert outcome(pipeline(arrival, journey_map)) == expected
    assert outcome(topology(arrival, journey_map, rng)) == expected
