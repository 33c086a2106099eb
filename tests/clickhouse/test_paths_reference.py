"""Paths and loops, as the SQL counts them, against the same counts done by hand in Python.

The SQL builds each journey's path in one pass (slices of the path, one breakdown aggregate): a
faster shape must not change an answer. The warehouse is generated through the real stream core
and writer with what makes versions matter: devices that turn out to be one customer (journeys
retracted and re-sent under the survivor at a newer version), events delivered late and twice,
and batches written again in reverse order (older versions after newer ones), and steps at the
same millisecond (ordered by their step number, so that every run gives the same paths). The
reference reads the newest version of each event (`touchpoints FINAL`) and counts in plain Python.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client

from clickhouse.analyses.named import Extra, run_analysis
from clickhouse.queries import Filters
from clickhouse.sink import WarehouseWriter
from schemas.channels import event_adapter
from schemas.events import TouchpointEventBase
from schemas.journeymap import load_journey_map
from streams.core.pipeline import Pipeline

START = datetime(2026, 3, 2, tzinfo=UTC)
WINDOW = (START + timedelta(days=1), START + timedelta(days=12))
STEPS = ("web.content:page_view", "web.product:product_view", "web.checkout:checkout_step", "web.checkout:error",
         "web.checkout:order_placed")
ANCHOR = "web.product:product_view"
Key = tuple[Any, ...]


def events(seed: int) -> list[TouchpointEventBase]:
    """Customers on two devices each, signing in on both (one customer in the end), in shuffled order."""
    rng, out = random.Random(seed), []
    for c in range(12):
        for device, kind in (("a", "desktop"), ("b", "mobile")):
            at = START + timedelta(hours=rng.uniform(0, 14 * 24))
            for n in range(rng.randint(3, 9)):
                if n == 0 or rng.random() > 0.3:  # else at the same millisecond as the step before
                    at += timedelta(minutes=rng.uniform(1, 300))
                touchpoint, event_type = rng.choice(STEPS).split(":")
                ids = {"anonymous_id": f"dev-{seed}-{c}{device}"} | ({"crm_id": f"crm-{seed}-{c}"} if n == 2 else {})
                out.append(event_adapter().validate_python({
                    "event_id": f"p{seed}-{c}{device}{n}", "event_time": at, "received_time": at,
                    "channel": "web", "touchpoint": touchpoint, "event_type": event_type, "identifiers": ids,
                    "context": {"device_type": kind}, "measures": {}}))
    rng.shuffle(out)  # late arrivals: many events come after later ones of their customer
    return out + rng.sample(out, 10)  # and some twice


@pytest.fixture
def generated(warehouse: Client) -> Client:
    pipeline, writer = Pipeline(load_journey_map()), WarehouseWriter(warehouse)
    batches = [[r for event in chunk for r in pipeline.feed(event)] for chunk in _chunks(events(7), 15)]
    for batch in batches:
        writer.write(batch)
    for batch in reversed(batches[: len(batches) // 2]):  # older versions written again, after newer
        writer.write(batch)
    return warehouse


def _chunks(items: list[TouchpointEventBase], size: int) -> list[list[TouchpointEventBase]]:
    return [items[i:i + size] for i in range(0, len(items), size)]


def reference_paths(client: Client) -> tuple[dict[str, list[str]], dict[str, str]]:
    """Each journey's path in the window (repeats in a row once) and its device, from the newest versions."""
    rows = client.query("SELECT journey_id, event_time, touchpoint, event_type, context FROM touchpoints FINAL "
                        "WHERE event_time >= {s:DateTime64(3, 'UTC')} AND event_time < {e:DateTime64(3, 'UTC')}",
                        parameters={"s": WINDOW[0], "e": WINDOW[1]}).result_rows
    by_journey: dict[str, list[tuple[datetime, str, dict[str, str]]]] = defaultdict(list)
    for journey_id, at, touchpoint, event_type, context in rows:
        by_journey[journey_id].append((at, f"{touchpoint}:{event_type}", context))
    number = step_numbers(client)
    paths, devices = {}, {}
    for journey_id, steps in by_journey.items():
        steps.sort(key=lambda s: (s[0], number[s[1]]))
        labels = [label for i, (_, label, _) in enumerate(steps) if i == 0 or label != steps[i - 1][1]]
        paths[journey_id] = labels
        devices[journey_id] = next((c["device_type"] for _, _, c in steps if "device_type" in c), "")
    return paths, devices


def step_numbers(client: Client) -> dict[str, int]:
    """The number by which steps at the same millisecond are ordered (ClickHouse's hash of the step)."""
    pairs = [step.split(":") for step in STEPS]
    return {f"{t}:{e}": int(client.query("SELECT cityHash64({t:String}, {e:String})", parameters={"t": t, "e": e})
                            .result_rows[0][0]) for t, e in pairs}


def expected_transitions(paths: dict[str, list[str]], devices: dict[str, str], depth: int) -> dict[Key, tuple[int, int]]:
    counts: Counter[Key] = Counter()
    journeys: dict[Key, set[str]] = defaultdict(set)
    for journey_id, labels in paths.items():
        if ANCHOR not in labels:
            continue
        at = labels.index(ANCHOR)
        for i in range(at, min(at + depth, len(labels) - 1)):
            key = (devices[journey_id], i - at + 1, labels[i], labels[i + 1])
            counts[key] += 1
            journeys[key].add(journey_id)
    return {key: (n, len(journeys[key])) for key, n in counts.items()}


def expected_loops(paths: dict[str, list[str]], devices: dict[str, str]) -> dict[Key, tuple[int, int]]:
    counts: Counter[Key] = Counter()
    journeys: dict[Key, set[str]] = defaultdict(set)
    for journey_id, labels in paths.items():
        for i in range(len(labels) - 2):
            if labels[i] == labels[i + 2]:
                key = (devices[journey_id], labels[i], labels[i + 1])
                counts[key] += 1
                journeys[key].add(journey_id)
    return {key: (n, len(journeys[key])) for key, n in counts.items()}


def test_the_generated_warehouse_has_versions_that_matter(generated: Client) -> None:
    moved = generated.query("SELECT countIf(journeys > 1) FROM (SELECT event_id, uniqExact(journey_id) AS journeys "
                            "FROM touchpoints GROUP BY event_id)").result_rows[0][0]
    retracted = generated.query("SELECT countIf(retracted) FROM journeys FINAL").result_rows[0][0]
    assert moved > 0 and retracted > 0


def test_steps_at_the_same_millisecond_exist(generated: Client) -> None:
    tied = generated.query("SELECT count() FROM (SELECT journey_id, event_time FROM touchpoints FINAL "
                           "GROUP BY journey_id, event_time HAVING uniqExact(touchpoint, event_type) > 1)").result_rows
    assert tied[0][0] > 0


def test_paths_count_what_the_newest_versions_say(generated: Client) -> None:
    paths, devices = reference_paths(generated)
    filters = Filters(start=WINDOW[0], end=WINDOW[1], limit=1000)
    rows = run_analysis(generated, "paths", filters, Extra(anchor=ANCHOR, depth=3, by="device_type")).rows
    got = {(b, position, f, t): (n, j) for b, position, f, t, n, j, _, _ in rows}
    assert got == expected_transitions(paths, devices, 3) and got


def test_loops_count_what_the_newest_versions_say(generated: Client) -> None:
    paths, devices = reference_paths(generated)
    filters = Filters(start=WINDOW[0], end=WINDOW[1], limit=1000)
    rows = run_analysis(generated, "loops", filters, Extra(by="device_type")).rows
    got = {(b, step, via): (n, j) for b, step, via, n, j, *_ in rows}
    assert got == expected_loops(paths, devices) and got


def _matches(label: str, anchor: str) -> bool:
    return label == anchor or label.startswith(f"{anchor}:") or (anchor.startswith(":") and label.endswith(anchor))


def test_loops_through_a_touchpoint_or_an_event_type_and_their_share(generated: Client) -> None:
    """An anchor picks the loops whose step or via it matches (as paths match it); the share is of the
    journeys that had the step at all."""
    paths, devices = reference_paths(generated)
    with_step: Counter[tuple[str, str]] = Counter()
    for journey_id, labels in paths.items():
        for label in set(labels):
            with_step[(devices[journey_id], label)] += 1
    filters = Filters(start=WINDOW[0], end=WINDOW[1], limit=1000)
    for anchor in ("web.checkout", ":error"):
        rows = run_analysis(generated, "loops", filters, Extra(anchor=anchor, by="device_type")).rows
        got = {(b, step, via): (n, j, share) for b, step, via, n, j, share, _ in rows}
        expected = {key: (n, j, round(j / with_step[(key[0], key[1])], 4))
                    for key, (n, j) in expected_loops(paths, devices).items()
                    if _matches(key[1], anchor) or _matches(key[2], anchor)}
        assert got == expected and got
