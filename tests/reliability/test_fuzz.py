"""Generated hostile input against the collector and the worker's intake, counted to the last one.

Seeded generators (tests/reliability/fuzz.py) make batch items and raw inputs of every shape: sizes
up to a 700 KB poison pill, encodings, escapes, nesting, names. Each input must end as exactly one
published event or one dead letter (read back and counted), the collector must answer every request
and the worker must run through and exit cleanly. `make test` fuzzes 2,000 inputs at each entrance;
`make soak` 50,000 at each (100,000), and measures the collector's memory (a `journeys collect`
process) before and after 10,000 hostile requests.
"""

from __future__ import annotations

import json
import random
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest
from kafka import KafkaProducer

from foundation.kafka import ensure_topics, producer_options, topic
from foundation.settings import Settings
from journeys.embedded import child_env
from schemas.channels import channels
from schemas.outputs import DEADLETTER_TOPIC, DeadLetter, raw_topic
from tests.reliability import harness as h
from tests.reliability.fuzz import Fuzz, batch_body, inputs_in_body
from tests.reliability.test_bad_input import TOKEN, collector, post  # noqa: F401 (fixture)

INPUTS = 2_000
SOAK_INPUTS = 50_000
MEMORY_REQUESTS = 10_000
MAX_GROWTH_MB = 40.0
START_TIMEOUT_S = 30.0
BATCH_SHARE = 0.75
MAX_BATCH_ITEMS = 12


@dataclass
class Tally:
    inputs: int = 0
    accepted: int = 0
    dead: int = 0  # rejected events and refused bodies: one dead letter each


def fuzz_collector(url: str, seed: int, inputs: int) -> Tally:
    """Post generated batches and raw bodies until `inputs` inputs; check each answer's counts."""
    fuzz, tally = Fuzz(seed), Tally()
    while tally.inputs < inputs:
        if fuzz.rng.random() < BATCH_SHARE:
            body = batch_body([fuzz.item(tally.inputs + k) for k in range(fuzz.rng.randint(1, MAX_BATCH_ITEMS))])
        else:
            body = fuzz.raw(tally.inputs) or b""
        expected = inputs_in_body(body)
        status, answer = post(url, body)
        if status == 202:
            assert answer["accepted"] + answer["rejected"] == expected, (seed, tally.inputs, body[:300])
            tally.accepted, tally.dead = tally.accepted + answer["accepted"], tally.dead + answer["rejected"]
        else:
            assert status in (400, 413) and answer["error"] and expected == 1, (seed, tally.inputs, status, body[:300])
            tally.dead += 1
        tally.inputs += expected
    return tally


def published(settings: Settings) -> int:
    return sum(h.count_records(settings, topic(settings, raw_topic(name))) for name in channels())


def dead_letters(settings: Settings) -> list[DeadLetter]:
    return [DeadLetter.model_validate_json(v) for v in h.topic_values(settings, topic(settings, DEADLETTER_TOPIC))]


def check_collector(url: str, settings: Settings, seed: int, inputs: int) -> None:
    tally = fuzz_collector(url, seed, inputs)
    letters = dead_letters(settings)
    assert (published(settings), len(letters)) == (tally.accepted, tally.dead), seed
    assert tally.accepted + len(letters) == tally.inputs >= inputs  # each input: one event or one dead letter
    assert all(letter.reason for letter in letters)
    print(f"collector, seed {seed}: {tally.inputs} inputs = {tally.accepted} events + {len(letters)} dead letters")


def test_fuzzed_input_at_the_collector_is_each_one_event_or_one_dead_letter(
        collector: tuple[str, Settings]) -> None:  # noqa: F811 (fixture)
    url, settings = collector
    check_collector(url, settings, random.randrange(2**32), INPUTS)


def fuzz_raw_topics(settings: Settings, seed: int, inputs: int) -> None:
    """Publish `inputs` generated raw messages on the raw topics (a claimed channel's, else web's)."""
    fuzz, names = Fuzz(seed), {name: topic(settings, raw_topic(name)) for name in channels()}
    producer = KafkaProducer(**(producer_options(settings) | {"max_request_size": 2 * 1024 * 1024}))
    for i in range(inputs):
        value = fuzz.raw(i)
        claimed = fuzz_channel(value)
        producer.send(names.get(claimed, names["web"]), value, key=str(fuzz.rng.randrange(50)).encode())
    producer.flush()
    producer.close()


def fuzz_channel(value: bytes | None) -> str:
    try:
        document = orjson.loads(value or b"")
    except orjson.JSONDecodeError:
        return ""
    return str(document.get("channel")) if isinstance(document, dict) else ""


def check_worker(settings: Settings, tmp_path: Path, seed: int, inputs: int) -> None:
    local = h.pipeline_settings(settings, tmp_path)
    h.prepare_topics(local)
    fuzz_raw_topics(local, seed, inputs)
    h.run_until_idle(local, sink=False)  # exits 0: nothing stopped it
    letters, events = dead_letters(local), h.stepped_events(local)
    assert events + len(letters) == inputs, seed  # each input: one event or one dead letter
    print(f"worker intake, seed {seed}: {inputs} inputs = {events} events + {len(letters)} dead letters")
    assert all(letter.reason and letter.source.startswith("topic:") for letter in letters)


def test_fuzzed_raw_messages_are_each_one_event_or_one_dead_letter(settings: Settings, tmp_path: Path) -> None:
    check_worker(settings, tmp_path, random.randrange(2**32), INPUTS)


@pytest.mark.soak
def test_soak_fuzz_at_the_collector(collector: tuple[str, Settings]) -> None:  # noqa: F811 (fixture)
    url, settings = collector
    check_collector(url, settings, random.randrange(2**32), SOAK_INPUTS)


@pytest.mark.soak
def test_soak_fuzz_at_the_worker(settings: Settings, tmp_path: Path) -> None:
    check_worker(settings, tmp_path, random.randrange(2**32), SOAK_INPUTS)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:"))) / 1024


def wait_until_serving(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        assert process.poll() is None, "the collector exited"
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    raise AssertionError("the collector did not start")


def hostile_requests(url: str, seed: int, requests: int) -> None:
    """Batches whose names (fields, channels, measures) are new in every request, and fuzzed bodies."""
    fuzz = Fuzz(seed)
    for n in range(requests):
        if n % 2:
            body = fuzz.raw(n) or b""
        else:
            body = json.dumps([{"channel": fuzz.name(80), fuzz.name(300): 1, "touchpoint": fuzz.name(80),
                                "measures": {fuzz.name(200): fuzz.text()}} for _ in range(20)]).encode()
        status, _ = post(url, body)
        assert status in (202, 400, 413), (seed, n, status)


@pytest.mark.soak
def test_soak_collector_memory_stays_bounded(settings: Settings, tmp_path: Path) -> None:
    ensure_topics(settings)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [str(Path(sys.executable).with_name("journeys")), "collect", "--port", str(port), "--token", TOKEN]
    log = tmp_path / "collector.log"
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=child_env(settings), stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_until_serving(url, process)
        hostile_requests(url, 1, 200)  # warm up: imports, caches, producer buffers
        before = rss_mb(process.pid)
        hostile_requests(url, 2, MEMORY_REQUESTS)
        after = rss_mb(process.pid)
        print(f"collector RSS before {before:.1f} MB, after {MEMORY_REQUESTS} hostile requests {after:.1f} MB")
        assert after - before < MAX_GROWTH_MB
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(START_TIMEOUT_S)
    assert process.returncode == 0, log.read_text(errors="replace")[-2000:]
