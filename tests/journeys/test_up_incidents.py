"""Live mode: an incident switched on in a running `journeys up` shows in `journeys incidents` within 60 s.

Story (issue 23's "done when"): the embedded stack (local broker, worker with the sink, chDB) runs
`journeys up` at 500 events/s with a scenario whose payment errors for mobile customers begin
mid-run. An operator polls `journeys incidents --last 1d --period 6h` beside it (answered by the
worker, which holds the warehouse). The clock starts when the simulator publishes the first
injected event (its incident log) and stops at the first answer naming the incident: where
(web.checkout), what (error) and who (device_type=mobile). Every incident named before the clock
started is a false positive of a clean run, and there must be none. The latency is printed. The
same with the incident switched on in the running stack (`journeys switch-on`); `-m soak`: with
`up`'s default 20,000 customers, and a whole clean month polled for false positives.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest

from foundation.settings import Settings
from journeys.commands.runtime import incident_log
from journeys.readclient import served_url
from producers.simulator.switched_on import switched_on
from tests.journeys.test_runtime import JOURNEYS, UP_STOP_TIMEOUT_S, env_for

CUSTOMERS, RATE = 5000, 500
DEFAULT_CUSTOMERS = 20_000
DETECT_WITHIN_S = 60.0
START_WITHIN_S = 180.0  # the stack starts and the simulator reaches the incident's first day
POLL_S = 2.0
SWITCH_AFTER_S = 40.0  # after the stack's start: the simulator is a few simulated days in
CLEAN_RUN_S = 900.0
SCENARIO = """incidents:
  - name: mobile_pay_errors
    kind: checkout_errors
    start_day: 4
    days: 4
    where: {device_type: mobile}
    share: 0.8
"""
ASK = ["incidents", "--last", "1d", "--period", "6h", "--format", "json"]


@dataclass
class Watch:
    """What the operator saw: the answers before the incident went out, and when it was named."""

    before: list[dict[str, object]] = field(default_factory=list)
    switched_on: datetime | None = None
    named_at: datetime | None = None
    polls: int = 0


def test_an_incident_switched_on_mid_run_is_named_within_a_minute(tmp_path: Path) -> None:
    _incident_named_within_a_minute(tmp_path, CUSTOMERS, SCENARIO)


@pytest.mark.soak
def test_with_the_default_customers_too(tmp_path: Path) -> None:
    """`journeys up`'s own default of 20,000 customers: four times the traffic per simulated hour,
    so the simulator takes about a minute to reach the incident's (earlier) first day."""
    _incident_named_within_a_minute(tmp_path, DEFAULT_CUSTOMERS, SCENARIO.replace("start_day: 4", "start_day: 3"))


# In `make soak`: one run of eleven took 51 s of its 60 (not yet explained), too near the limit for every CI run.
@pytest.mark.soak
def test_an_incident_switched_on_in_a_running_up_is_named_within_a_minute(tmp_path: Path) -> None:
    """`journeys switch-on FILE` while `up` runs a clean month: the incident starts where the
    simulator has got to when it picks the file up."""
    _incident_named_within_a_minute(tmp_path, CUSTOMERS, SCENARIO.replace("start_day: 4", "start_day: 0"),
                                    switch_after_s=SWITCH_AFTER_S)


def _incident_named_within_a_minute(tmp_path: Path, customers: int, scenario_text: str,
                                    switch_after_s: float | None = None) -> None:
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text(scenario_text)
    env = env_for(tmp_path) | {"JOURNEYS_READS__PORT": "0"}
    log = tmp_path / "up.out"
    planned = () if switch_after_s else ("--incidents", str(scenario))
    with log.open("wb") as out:
        up = subprocess.Popen([*JOURNEYS, "up", "--customers", str(customers), "--rate", str(RATE), "--no-collector",
                               *planned], env=env, stdout=out, stderr=subprocess.STDOUT)
    switch = None if switch_after_s is None else (time.monotonic() + switch_after_s, scenario)
    try:
        watch = _watch(tmp_path, env, up, switch)
    finally:
        up.send_signal(signal.SIGINT)
        up.wait(UP_STOP_TIMEOUT_S)
    assert watch.switched_on is not None, f"the incident was never published: {log.read_text()[-3000:]}"
    assert watch.named_at is not None, f"not named within {DETECT_WITHIN_S} s of {watch.switched_on}"
    latency = (watch.named_at - watch.switched_on).total_seconds()
    print(f"\nlive incident ({customers} customers) named {latency:.1f} s after its first event was published "
          f"({watch.polls} polls; {len(watch.before)} incidents named before it)")
    assert latency <= DETECT_WITHIN_S
    assert watch.before == [], [(r["start"], r["touchpoint"], r["what"], r["who"], r["score"]) for r in watch.before]


def _watch(data_dir: Path, env: dict[str, str], up: subprocess.Popen[bytes],
           switch: tuple[float, Path] | None = None) -> Watch:
    """Poll like an operator; at `switch` (a monotonic time, a scenario) switch the scenario on."""
    watch = Watch()
    deadline = time.monotonic() + START_WITHIN_S
    while time.monotonic() < deadline:
        assert up.poll() is None, (data_dir / "up.out").read_text()[-3000:]
        if switch is not None and time.monotonic() >= switch[0]:
            subprocess.run([*JOURNEYS, "switch-on", str(switch[1])], env=env, check=True, capture_output=True)
            switch = None
        on = switched_on(incident_log(Settings(data_dir=data_dir))).get("mobile_pay_errors")
        if on is not None and watch.switched_on is None:
            watch.switched_on, deadline = on, time.monotonic() + DETECT_WITHIN_S
        found = _ask(env) if served_url(Settings(data_dir=data_dir)) else []  # else the command would open chDB
        watch.polls += 1
        if watch.switched_on is None:
            watch.before += found
        elif any(_names_the_incident(row) for row in found):
            watch.named_at = datetime.now(UTC)
            return watch
        time.sleep(POLL_S)
    return watch


def _ask(env: dict[str, str]) -> list[dict[str, object]]:
    answer = subprocess.run([*JOURNEYS, *ASK], env=env, capture_output=True, text=True, timeout=60, check=False)
    if (answer.returncode != 0 and "not served yet" in answer.stderr) or "no read endpoint" in answer.stderr:
        return []  # the worker has not opened the warehouse yet
    assert answer.returncode == 0 and "Traceback" not in answer.stderr, answer.stderr
    rows: list[dict[str, object]] = json.loads(answer.stdout)
    return rows


def _names_the_incident(row: dict[str, object]) -> bool:
    return (row["touchpoint"], row["what"]) == ("web.checkout", "error") and \
        "device_type=mobile" in (row["who"], row["concentrated_in"])


@pytest.mark.soak
@pytest.mark.timeout(CLEAN_RUN_S + 300)
def test_a_clean_live_run_names_no_incident(tmp_path: Path, customers: int = CUSTOMERS) -> None:
    """The whole month of a clean `up` (2.5 minutes at 500 events/s), polled as above. At up's
    default 20,000 customers a clean month still names two or three cells (docs/operations.md,
    Live incidents): pass `customers=DEFAULT_CUSTOMERS` to measure it."""
    env = env_for(tmp_path) | {"JOURNEYS_READS__PORT": "0"}
    named: dict[tuple[object, ...], dict[str, object]] = {}
    with (tmp_path / "up.out").open("wb") as out:
        up = subprocess.Popen([*JOURNEYS, "up", "--customers", str(customers), "--rate", str(RATE), "--no-collector"],
                              env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        polls = _poll_until_idle(tmp_path, env, up, named)
    finally:
        up.send_signal(signal.SIGINT)
        up.wait(UP_STOP_TIMEOUT_S)
    print(f"\nclean live run ({customers} customers): {len(named)} incidents named in {polls} polls: {list(named.values())}")
    assert named == {}


def _poll_until_idle(data_dir: Path, env: dict[str, str], up: subprocess.Popen[bytes],
                     named: dict[tuple[object, ...], dict[str, object]]) -> int:
    """Poll until the simulator has published everything (its log says so) and a last answer came."""
    polls, deadline = 0, time.monotonic() + CLEAN_RUN_S
    while time.monotonic() < deadline:
        assert up.poll() is None, (data_dir / "up.out").read_text()[-3000:]
        done = "published" in (data_dir / "logs" / "simulate.log").read_text(errors="replace") \
            if (data_dir / "logs" / "simulate.log").exists() else False
        for row in _ask(env) if served_url(Settings(data_dir=data_dir)) else []:
            if (row["touchpoint"], row["what"], row["who"], row["start"]) not in named:
                print(f"named: {row}", flush=True)  # as it happens: a long run may not get to its end
            named[(row["touchpoint"], row["what"], row["who"], row["start"])] = row
        polls += 1
        if done:
            return polls
        time.sleep(POLL_S)
    raise AssertionError(f"the clean run did not finish within {CLEAN_RUN_S} s")
