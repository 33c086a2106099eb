"""Producer throughput into the local broker: the bulk path, single sends, and the web collector.

Targets: `publish_many` >= 30,000 events/s; the collector >= 5,000 events/s in batches of 100.
The collector's HTTP clients run in a separate process so that they do not share its interpreter.
Medians of RUNS runs; each run acknowledged by Kafka before the clock stops.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import statistics
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from pydantic import SecretStr

from foundation.kafka import ensure_topics
from foundation.localbroker import local_broker
from foundation.settings import CollectorSettings, KafkaSettings, Settings
from producers.collector import EVENTS_PATH, running_collector
from producers.publisher import Publisher
from schemas.channels import CallCentreEvent, WebEvent
from schemas.events import TouchpointEventBase

RUNS = 3
BULK_EVENTS = 120_000
BULK_CHUNK = 5_000
SINGLE_EVENTS = 30_000
COLLECTOR_BATCHES = 300
COLLECTOR_BATCH_EVENTS = 100
COLLECTOR_CLIENTS = 8
CUSTOMERS = 20_000
TOKEN = "bench-token"


def events(n: int) -> list[TouchpointEventBase]:
    """A web and call-centre mix over CUSTOMERS customers, as the simulator publishes them."""
    start = datetime.now(UTC) - timedelta(days=1)
    out: list[TouchpointEventBase] = []
    for i in range(n):
        when = start + timedelta(milliseconds=i * 100)
        if i % 4:
            out.append(WebEvent.model_validate({
                "event_time": when, "channel": "web", "touchpoint": "web.product", "event_type": "product_view",
                "identifiers": {"anonymous_id": f"c-{i % CUSTOMERS}"},
                "measures": {"path": "/products/kettle-2000", "session_id": f"s-{i // 7}", "dwell_s": 42.5}}))
        else:
            out.append(CallCentreEvent.model_validate({
                "event_time": when, "channel": "call_centre", "touchpoint": "call_centre.support",
                "event_type": "call_answered", "identifiers": {"crm_id": f"CRM-{i % CUSTOMERS}"},
                "measures": {"wait_s": 95.0, "handle_s": 300.0, "transfers": 0, "resolved": True}}))
    return out


def publish_many_rate(settings: Settings, batch: list[TouchpointEventBase]) -> float:
    with Publisher.connect(settings, source="bench") as pub:
        pub.publish_many(batch[:BULK_CHUNK])  # connect and learn partitions before the clock starts
        pub.flush()
        started = time.perf_counter()
        for i in range(0, len(batch), BULK_CHUNK):
            pub.publish_many(batch[i:i + BULK_CHUNK])
        pub.flush()
        return len(batch) / (time.perf_counter() - started)


def single_publish_rate(settings: Settings, batch: list[TouchpointEventBase]) -> float:
    with Publisher.connect(settings, source="bench") as pub:
        started = time.perf_counter()
        for event in batch:
            pub.publish(event)
        pub.flush()
        return len(batch) / (time.perf_counter() - started)


def collector_rate(settings: Settings, bodies: list[bytes]) -> float:
    settings = settings.model_copy(update={"collector": CollectorSettings(tokens=[SecretStr(TOKEN)])})
    with Publisher.connect(settings, source="collector") as pub, running_collector(settings, pub) as url:
        context = multiprocessing.get_context("spawn")
        results: Any = context.Queue()
        client = context.Process(target=post_all, args=(url + EVENTS_PATH, bodies, results))
        client.start()
        seconds, accepted = results.get(timeout=600)
        client.join()
    if accepted != len(bodies) * COLLECTOR_BATCH_EVENTS:
        raise RuntimeError(f"collector accepted {accepted} of {len(bodies) * COLLECTOR_BATCH_EVENTS} events")
    return float(accepted / seconds)


def post_all(url: str, bodies: list[bytes], results: Any) -> None:
    """The client process: COLLECTOR_CLIENTS concurrent connections posting every body once."""
    results.put(asyncio.run(_post_all(url, bodies)))


async def _post_all(url: str, bodies: list[bytes]) -> tuple[float, int]:
    import aiohttp

    queue = list(reversed(bodies))
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    async with aiohttp.ClientSession(headers=headers) as session:
        async def worker() -> int:
            accepted = 0
            while queue:
                async with session.post(url, data=queue.pop()) as answer:
                    accepted += (await answer.json())["accepted"] if answer.status == 202 else 0
            return accepted

        started = time.perf_counter()
        counts = await asyncio.gather(*(worker() for _ in range(COLLECTOR_CLIENTS)))
        return time.perf_counter() - started, sum(counts)


def collector_bodies(batch: list[TouchpointEventBase]) -> list[bytes]:
    payloads = [orjson.loads(e.model_dump_json(exclude={"received_time"})) for e in batch if e.channel == "web"]
    size = COLLECTOR_BATCH_EVENTS
    return [orjson.dumps(payloads[i:i + size]) for i in range(0, len(payloads) - size + 1, size)][:COLLECTOR_BATCHES]


def run() -> dict[str, float]:
    batch = events(BULK_EVENTS)
    bodies = collector_bodies(batch)
    figures: dict[str, list[float]] = {"publish_many_events_per_s": [], "publish_single_events_per_s": [],
                                       "collector_events_per_s": []}
    with local_broker() as broker:
        for run_index in range(RUNS):
            settings = Settings(kafka=KafkaSettings(bootstrap_servers=broker.bootstrap_servers,
                                                    topic_prefix=f"bench{run_index}."))
            ensure_topics(settings)
            figures["publish_many_events_per_s"].append(publish_many_rate(settings, batch))
            figures["publish_single_events_per_s"].append(single_publish_rate(settings, batch[:SINGLE_EVENTS]))
            figures["collector_events_per_s"].append(collector_rate(settings, bodies))
    result = {name: statistics.median(values) for name, values in figures.items()}
    for name, value in result.items():
        print(f"{name}: {value:,.0f}")
    return result


if __name__ == "__main__":
    run()
