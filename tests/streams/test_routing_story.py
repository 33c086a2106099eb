"""The worker's topology without Kafka: stage 2 routes commands to partitions, stage 3 folds them.

Batches are cut at random sizes and partitions drained in a shuffled order, as several workers
would; the outcome must equal the simulator's ground truth all the same.
"""

from __future__ import annotations

import hashlib
import random
from collections import deque
from datetime import UTC, datetime
from typing import Any

import orjson

from producers.simulator.core import simulate
from schemas.events import TouchpointEventBase
from schemas.journeymap import load_journey_map
from schemas.outputs import FrictionEvent, JourneySnapshot, JourneyStep, Output
from streams.codecs import commands_of, pack, unpack
from streams.core.commands import Command, resolve
from streams.core.identity import IdentityGraph
from streams.core.records import record_of
from streams.core.render import model_of
from streams.core.stitching import Stitching
from streams.core.view import current
from streams.customer_states import CustomerStates, Memory
from streams.work import by_partition, command_messages, work_messages
from tests.streams import truth

PARTITIONS = 4


def run_topology(events: list[TouchpointEventBase], seed: int, message_limit: int = 0) -> list[Output]:
    """Stages 2 and 3 over in-memory queues; with `message_limit`, work travels as the worker sends
    it, in JSON messages of at most that many bytes (streams.work.work_messages)."""
    journey_map, rng = load_journey_map(), random.Random(seed)
    graph = IdentityGraph(journey_map, {}, {}, {})
    stored: dict[str, bytes] = {}
    memory: Memory = {}
    queues: list[deque[list[Command]]] = [deque() for _ in range(PARTITIONS)]
    outputs: list[Output] = []
    records = [record_of(e, journey_map) for e in events]
    while records or any(queues):
        if records and (not any(queues) or rng.random() < 0.5):
            size = rng.randint(1, 300)
            commands, _ = resolve(graph, records[:size])
            records = records[size:]
            enqueue(queues, commands, message_limit)
            continue
        partition = rng.choice([p for p, q in enumerate(queues) if q])
        states = CustomerStates(stored.get, memory)
        work = Stitching(journey_map, states.load)
        out, forwards = work.handle_batch(queues[partition].popleft())
        outputs += [model_of(document) for document in out]
        enqueue(queues, forwards, message_limit)
        stored.update(states.stored(work.changed()))
    return outputs


def enqueue(queues: list[deque[list[Command]]], commands: list[Command], message_limit: int = 0) -> None:
    for partition, some in by_partition(commands, PARTITIONS).items():
        if not message_limit:
            queues[partition].append(some)
            continue
        for message in command_messages(some, message_limit):
            queues[partition].append(commands_of(message))


def view(outputs: list[Output], kind: type) -> dict[str, dict[str, Any]]:
    return current(o.model_dump(mode="json") for o in outputs if isinstance(o, kind))


def test_routed_batches_over_partitions_match_the_ground_truth() -> None:
    simulation = simulate(150, 99, 60, datetime(2026, 1, 5, tzinfo=UTC), load_journey_map(), b"routing")
    outputs = run_topology(simulation.events(), seed=3)
    steps = view(outputs, JourneyStep)
    assert truth.customers(steps) == truth.truth_customers(simulation.truth)
    assert truth.journeys(steps, view(outputs, JourneySnapshot)) == truth.truth_journeys(simulation.truth)
    assert truth.friction(view(outputs, FrictionEvent)) == truth.truth_friction(simulation.truth)
    assert any(isinstance(o, JourneySnapshot) and o.retracted for o in outputs)  # merges happened


def test_work_cut_into_small_messages_matches_the_ground_truth() -> None:
    """Work larger than a message may be is cut, the hand-over of a merge too; nothing changes."""
    simulation = simulate(150, 99, 60, datetime(2026, 1, 5, tzinfo=UTC), load_journey_map(), b"routing")
    outputs = run_topology(simulation.events(), seed=3, message_limit=1500)
    steps = view(outputs, JourneyStep)
    assert truth.customers(steps) == truth.truth_customers(simulation.truth)
    assert truth.journeys(steps, view(outputs, JourneySnapshot)) == truth.truth_journeys(simulation.truth)
    assert truth.friction(view(outputs, FrictionEvent)) == truth.truth_friction(simulation.truth)


def test_work_messages_stay_under_the_limit_and_keep_every_item_in_order() -> None:
    records = [[n, f"e{n:05d}", "web", hashlib.sha256(b"%d" % n).hexdigest()[:n % 50]] for n in range(3000)]
    assert work_messages(records, 10**9) == [pack(records)]  # one message when it fits
    messages = work_messages(records, 4096)
    assert len(messages) > 10 and all(len(m) <= 4096 for m in messages)
    assert [item for m in messages for item in unpack(m)] == records
    handover = ["a", "cust-1", 7, records]
    packed = work_messages([handover], 4096)
    parts = [unpack(m) for m in packed]
    assert all(len(m) <= 4096 for m in packed) and len(parts) > 10
    assert all(p[0][:3] == ["a", "cust-1", 7] and len(p) == 1 for p in parts)
    assert [r for p in parts for r in p[0][3]] == records


def test_work_messages_are_packed_and_plain_json_ones_still_read() -> None:
    """Packed, a message carries several times the records plain JSON would; a worker upgraded in
    place still reads the plain JSON messages queued before."""
    records = [[1767600000000 + n * 61_000, f"ev-{n:06d}", "web", "web.product_page", "page_view", "research",
                None, {"dwell_s": n % 90}, None, [f"anonymous_id:cookie-{n % 700}"], None, 1767600000000 + n * 61_000]
               for n in range(2000)]
    plain = orjson.dumps(records)
    packed = pack(records)
    assert len(packed) * 3 < len(plain)
    assert unpack(packed) == records == unpack(plain)


def test_replaying_every_command_twice_changes_nothing() -> None:
    simulation = simulate(60, 5, 60, datetime(2026, 1, 5, tzinfo=UTC), load_journey_map(), b"routing")
    events = simulation.events()
    once = run_topology(events, seed=1)
    twice = run_topology([e for e in events for _ in range(2)], seed=1)
    for kind in (JourneyStep, JourneySnapshot, FrictionEvent):
        strip = lambda records: {k: {**r, "version": 0} for k, r in records.items()}  # noqa: E731
        assert strip(view(once, kind)) == strip(view(twice, kind))


def test_a_replay_after_a_crash_routes_events_to_survivors_and_changes_no_result() -> None:
    """After a crash stage 2's graph can be ahead of its input: replayed events go straight to the
    survivor of merges made later, before the absorbed customer's events reach it. The survivor's
    records must still win over the absorbed customer's retractions (steps and frictions move)."""
    simulation = simulate(150, 99, 60, datetime(2026, 1, 5, tzinfo=UTC), load_journey_map(), b"routing")
    events = simulation.events()
    for seed in range(3):
        rng = random.Random(seed)
        crash = rng.randint(len(events) // 3, 2 * len(events) // 3)
        resumed = rng.randint(0, crash)
        outputs = run_topology(events[:crash] + events[resumed:], seed=seed)
        steps = view(outputs, JourneyStep)
        assert truth.customers(steps) == truth.truth_customers(simulation.truth)
        assert truth.journeys(steps, view(outputs, JourneySnapshot)) == truth.truth_journeys(simulation.truth)
        assert truth.friction(view(outputs, FrictionEvent)) == truth.truth_friction(simulation.truth)
