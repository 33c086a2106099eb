"""The README's main command and live mode, run for real on the embedded stack.

`journeys demo` (smaller than the default) must print a non-empty funnel, friction and scorecard
and write the experience map; `journeys up` must keep traffic flowing until interrupted, stop its
processes, and leave a warehouse that answers queries.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

JOURNEYS = [sys.executable, "-m", "journeys"]
DEMO_TIMEOUT_S = 420
UP_RUN_S = 25
UP_STOP_TIMEOUT_S = 60


def env_for(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JOURNEYS_")}
    env.update({"JOURNEYS_DATA_DIR": str(data_dir), "JOURNEYS_LOG_LEVEL": "WARNING"})
    return env


def test_demo_prints_the_three_tables_and_writes_the_map(tmp_path: Path) -> None:
    done = subprocess.run([*JOURNEYS, "demo", "--customers", "150", "--days", "60"], env=env_for(tmp_path),
                          capture_output=True, text=True, timeout=DEMO_TIMEOUT_S, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    for title in ("Journey funnel", "friction points", "Touchpoint scorecard: web", "Touchpoint scorecard: call centre"):
        assert title in out, title
    for phase in ("research", "compare", "purchase", "after_sales"):
        assert phase in out
    page = tmp_path / "experience-map.html"
    assert page.exists() and "Research" in page.read_text()
    truth = json.loads((tmp_path / "ground-truth.json").read_text())
    assert truth["totals"]["customers"] == 150


def test_up_runs_until_interrupted_and_keeps_the_warehouse(tmp_path: Path) -> None:
    up = subprocess.Popen([*JOURNEYS, "up", "--customers", "200", "--rate", "400", "--no-collector"],
                          env=env_for(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    time.sleep(UP_RUN_S)
    assert up.poll() is None, up.stdout.read().decode()[-3000:] if up.stdout else ""
    up.send_signal(signal.SIGINT)
    output, _ = up.communicate(timeout=UP_STOP_TIMEOUT_S)
    assert up.returncode == 0, output.decode()[-3000:]
    assert b"Stopped. The warehouse is kept" in output
    assert b"active journeys" in output  # the live view was drawn
    answer = subprocess.run([*JOURNEYS, "query", "funnel", "--format", "json"], env=env_for(tmp_path),
                            capture_output=True, text=True, timeout=120, check=True)
    funnel = json.loads(answer.stdout)
    assert funnel and funnel[0]["journeys"] > 0
