"""The worker's pure core, stage by stage, without Kafka: CPU time per event of each step.

The end-to-end streams bench measures one worker through the broker, and on a shared machine its
rate moves by a quarter from one run to the next; the steps inside it cannot be compared at
that resolution. This bench runs the same functions the worker's stages run, on the same seeded
simulation cut into the worker's batches, in one process: stage 1 checks raw payloads into work
messages (streams.checking), stage 2 resolves identity and routes commands per customer
partition (streams.core.commands, streams.work), stage 3 folds each partition's commands into customer states,
encodes the output documents and the changed states (what the worker sends). CPU time
(process_time) per event for each step; medians of RUNS runs, each on a fresh graph and fresh
states. Run: python -m bench.core_bench
"""

from __future__ import annotations

import gc
import time
from collections import defaultdict
from typing import Any

from bench.common import median_of
from bench.streams_bench import CUSTOMERS, DAYS, SEED, START  # the same simulation
from foundation.settings import StreamsSettings
from producers.simulator.core import simulate
from schemas.journeymap import JourneyMap, load_journey_map
from streams.checking import checked_work
from streams.codecs import commands_of, encode_document, unpack
from streams.core.commands import resolve
from streams.core.identity import IdentityGraph
from streams.core.stitching import Stitching
from streams.customer_states import CustomerStates, Memory
from streams.pools import GC_THRESHOLDS
from streams.work import by_partition, command_messages

PARTITIONS = 4
BATCH_EVENTS = StreamsSettings().batch_events  # as the worker batches by default
RUNS = 3


def raw_payloads(journey_map: JourneyMap) -> list[tuple[bytes | None, str]]:
    simulation = simulate(CUSTOMERS, SEED, DAYS, START, journey_map, b"bench-secret")
    deliveries = sorted(simulation.deliveries, key=lambda d: (d.arrival_s, d.order))
    return [(d.payload if isinstance(d.payload, bytes) else d.payload.model_dump_json().encode(), f"topic:raw/0/{i}")
            for i, d in enumerate(deliveries)]


def one_run(payloads: list[tuple[bytes | None, str]], journey_map: JourneyMap) -> dict[str, float]:
    spent: dict[str, float] = defaultdict(float)
    graph_tables: tuple[dict[str, Any], ...] = ({}, {}, {})
    graph = IdentityGraph(journey_map, *graph_tables)
    states: dict[str, bytes] = {}
    memory: Memory = {}
    events = 0

    def timed(step: str, started: float) -> float:
        now = time.process_time()
        spent[step] += now - started
        return now

    for start in range(0, len(payloads), BATCH_EVENTS):
        clock = time.process_time()
        checked = checked_work(payloads[start:start + BATCH_EVENTS], journey_map)
        events += checked.accepted
        clock = timed("check_us_per_event", clock)
        for message in checked.work:
            commands, links = resolve(graph, unpack(message))
            [link.model_dump_json() for link in links]
            work = [m for some in by_partition(commands, PARTITIONS).values() for m in command_messages(some)]
            clock = timed("identity_us_per_event", clock)
            for value in work:
                stored = CustomerStates(states.get, memory)
                stage = Stitching(journey_map, stored.load)
                outputs, _ = stage.handle_batch(commands_of(value))
                clock = timed("stitch_us_per_event", clock)
                [encode_document(document) for document in outputs]
                clock = timed("render_us_per_event", clock)
                states.update(stored.stored(stage.changed()))
                clock = timed("state_us_per_event", clock)
    per_event = {step: seconds / events * 1e6 for step, seconds in spent.items()}
    per_event["core_us_per_event"] = sum(per_event.values())
    return per_event


def run() -> dict[str, float]:
    journey_map = load_journey_map()
    payloads = raw_payloads(journey_map)
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)  # as the worker and its check processes run
    runs = [one_run(payloads, journey_map) for _ in range(RUNS)]
    return median_of(runs)


if __name__ == "__main__":
    for name, value in run().items():
        print(f"{name:32} {value:12,.1f}")
