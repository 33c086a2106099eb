"""`journeys up` prints the live map's address, and `journeys query` answers while it runs.

Story (the issue's "done when"): from a fresh data dir, `journeys up` starts the embedded stack;
its worker holds the embedded warehouse. The address it prints serves the live map, and `journeys
query funnel`, run beside it, answers (through that worker) instead of failing on chDB's lock.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

from foundation.settings import Settings
from journeys.readclient import served_url
from tests.journeys.test_runtime import JOURNEYS, UP_STOP_TIMEOUT_S, env_for

ANSWER_WITHIN_S = 120.0


def test_up_prints_the_live_map_and_query_answers_while_it_runs(tmp_path: Path) -> None:
    env = env_for(tmp_path) | {"JOURNEYS_READS__PORT": "0"}  # any free port: tests run side by side
    log = tmp_path / "up.out"
    with log.open("wb") as out:
        up = subprocess.Popen([*JOURNEYS, "up", "--customers", "200", "--rate", "300", "--no-collector"], env=env,
                              stdout=out, stderr=subprocess.STDOUT)
    try:
        funnel, url = _funnel_while_running(tmp_path, env, up)
        assert funnel[0]["phase"] == "research" and funnel[0]["journeys"] > 0
        with urllib.request.urlopen(f"{url}/map", timeout=60) as page:
            assert page.status == 200 and b"Experience map, live" in page.read()
    finally:
        up.send_signal(signal.SIGINT)
        up.wait(UP_STOP_TIMEOUT_S)
    assert up.returncode == 0, log.read_text()[-3000:]
    assert f"Experience map, live: {url}/map" in log.read_text()
    assert served_url(Settings(data_dir=tmp_path)) is None  # the address is gone with the worker


def _funnel_while_running(data_dir: Path, env: dict[str, str],
                          up: subprocess.Popen[bytes]) -> tuple[list[dict[str, object]], str]:
    deadline = time.monotonic() + ANSWER_WITHIN_S
    while time.monotonic() < deadline:
        assert up.poll() is None, (data_dir / "up.out").read_text()[-3000:]
        url = served_url(Settings(data_dir=data_dir))
        if url is not None:
            answer = subprocess.run([*JOURNEYS, "query", "funnel", "--format", "json"], env=env,
                                    capture_output=True, text=True, timeout=120, check=False)
            assert answer.returncode == 0 and "Traceback" not in answer.stderr, answer.stderr
            rows = json.loads(answer.stdout)
            if rows:
                return rows, url
        time.sleep(2)
    raise AssertionError(f"no funnel within {ANSWER_WITHIN_S} s: {(data_dir / 'up.out').read_text()[-3000:]}")
