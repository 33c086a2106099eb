"""The README's main command and live mode, run for real on the embedded stack.

`journeys demo` (smaller than the default) must print a non-empty funnel, friction and scorecard
and write the experience map; `journeys up` must keep traffic flowing until interrupted, stop its
processes, and leave a warehouse that answers queries. Both run twice in one data dir: the local
broker's log lives in memory, so a second start is a new log, and it must start clean (the
previous worker state and warehouse moved to data/previous/, announced), not skip its new events
as applied before: the same funnel for the same demo, journeys in the warehouse for a second `up`.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from schemas.outputs import STATE_TOPIC

JOURNEYS = [sys.executable, "-m", "journeys"]
DEMO_TIMEOUT_S = 420
UP_START_TIMEOUT_S = 180
SINK_GRACE_S = 5  # the sink inserts each second
UP_STOP_TIMEOUT_S = 60


def env_for(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JOURNEYS_")}
    env.update({"JOURNEYS_DATA_DIR": str(data_dir), "JOURNEYS_LOG_LEVEL": "WARNING"})
    return env


KEPT_ASIDE = "a new embedded log: previous worker state and warehouse kept in "


def run_demo(data_dir: Path) -> str:
    done = subprocess.run([*JOURNEYS, "demo", "--customers", "150", "--days", "60"], env=env_for(data_dir),
                          capture_output=True, text=True, timeout=DEMO_TIMEOUT_S, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


def query(data_dir: Path, name: str) -> list[dict[str, object]]:
    answer = subprocess.run([*JOURNEYS, "query", name, "--format", "json"], env=env_for(data_dir),
                            capture_output=True, text=True, timeout=120, check=True)
    rows: list[dict[str, object]] = json.loads(answer.stdout)
    return rows


def kept_aside(output: str, data_dir: Path) -> Path:
    """The previous run's folder, announced in the output; it holds that run's state and warehouse."""
    assert KEPT_ASIDE in output, output[-3000:]
    [previous] = (data_dir / "previous").iterdir()
    assert f"{previous.resolve()}" in output  # the whole path, on one line
    assert (previous / "warehouse").is_dir() and (previous / "streams").is_dir()
    return previous


def test_demo_prints_the_three_tables_and_writes_the_map_and_runs_again_alike(tmp_path: Path) -> None:
    out = run_demo(tmp_path)
    assert KEPT_ASIDE not in out  # nothing to keep on a first run
    for title in ("Journey funnel", "friction points", "Touchpoint scorecard: web", "Touchpoint scorecard: call centre"):
        assert title in out, title
    for phase in ("research", "compare", "purchase", "after_sales"):
        assert phase in out
    page = tmp_path / "experience-map.html"
    assert page.exists() and "Research" in page.read_text()
    truth = json.loads((tmp_path / "ground-truth.json").read_text())
    assert truth["totals"]["customers"] == 150
    funnel = query(tmp_path, "funnel")
    assert funnel and all(isinstance(row["journeys"], int) for row in funnel)

    again = run_demo(tmp_path)  # the same data dir: a new embedded log, the same simulation
    previous = kept_aside(again, tmp_path)
    assert query(tmp_path, "funnel") == funnel
    assert (previous / "experience-map.html").exists() and (previous / "ground-truth.json").exists()


def ignoring_sigint() -> None:
    """What a shell without job control does to a background command (`make test &`, a CI script)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def run_up(data_dir: Path, output: Path, stop: signal.Signals = signal.SIGINT) -> str:
    """`journeys up` until its first journeys were published (and a moment for the sink), then `stop`.

    Started with SIGINT ignored, as from a background job: Ctrl-C must stop it all the same.
    Waiting for the pipeline's own output, not a fixed time: on a busy machine the worker's start
    takes a while, and a run stopped before it worked would say nothing about a restart."""
    with output.open("wb") as out:
        up = subprocess.Popen([*JOURNEYS, "up", "--customers", "200", "--rate", "400", "--no-collector"],
                              env=env_for(data_dir), stdout=out, stderr=subprocess.STDOUT,
                              preexec_fn=ignoring_sigint)
        try:
            wait_for_journeys(up, output)
            time.sleep(SINK_GRACE_S)
            assert up.poll() is None, output.read_text()[-3000:]
            up.send_signal(stop)
            up.wait(UP_STOP_TIMEOUT_S)
        finally:
            if up.poll() is None:
                up.kill()
    text = output.read_text()
    assert up.returncode == 0, text[-3000:]
    assert "Stopped. The warehouse is kept" in text
    assert "active journeys" in text  # the live view was drawn
    return text


def wait_for_journeys(up: subprocess.Popen[bytes], output: Path) -> None:
    """Until the embedded broker's journey-state topic has a record (the stack's broker, from its output)."""
    from kafka import KafkaConsumer

    deadline = time.monotonic() + UP_START_TIMEOUT_S
    while not (found := re.search(r"Local broker on (\S+);", output.read_text())):
        assert up.poll() is None and time.monotonic() < deadline, f"no broker: {output.read_text()[-3000:]}"
        time.sleep(0.2)
    consumer = KafkaConsumer(STATE_TOPIC, bootstrap_servers=found.group(1), auto_offset_reset="earliest",
                             group_id=None, consumer_timeout_ms=1000)
    try:
        while not consumer.poll(timeout_ms=1000):
            assert up.poll() is None, output.read_text()[-3000:]
            assert time.monotonic() < deadline, f"no journey published in {UP_START_TIMEOUT_S} s (skipped?)"
    finally:
        consumer.close()


def journeys_in_warehouse(data_dir: Path) -> int:
    funnel = query(data_dir, "funnel")
    assert funnel, "an empty funnel"
    first = funnel[0]["journeys"]
    assert isinstance(first, int)
    return first


def test_up_runs_until_interrupted_keeps_the_warehouse_and_starts_clean_when_started_again(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert KEPT_ASIDE not in run_up(data, tmp_path / "first.out")
    first = journeys_in_warehouse(data)
    assert first > 0

    again = run_up(data, tmp_path / "second.out", stop=signal.SIGTERM)  # as a service manager stops it; a new embedded log: its events must be processed, not skipped
    previous = kept_aside(again, data)
    assert journeys_in_warehouse(data) > 0  # a fresh warehouse: every journey in it is the second run's
    assert journeys_in_warehouse(previous) == first  # the first run's warehouse, kept aside whole, not mixed
    assert (previous / "logs" / "worker.log").exists()
