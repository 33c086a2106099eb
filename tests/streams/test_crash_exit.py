"""A worker that fails must end, even when Faust's stop after the failure does not.

Found in `make test`: after a stage failed, Faust's crash marked every service crashed, its
consumer thread too, and the stop that followed committed offsets through that thread and waited
for it for ever: the worker logged its failure and then never exited (a supervisor would never
restart it). A real Faust app on the session's broker stands for it here: a service whose stop
never ends, as that commit did. Crashed through `foundation.kafka.crash`, the process ends anyway,
non-zero, with a line saying why.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from foundation.kafka import CRASHED_EXIT_CODE

EXIT_AFTER_S = 2.0
PROBE_TIMEOUT_S = 90

PROBE = """
import asyncio, sys
from pathlib import Path
import faust, mode
from foundation.faust_app import faust_app
from foundation.kafka import crash
from foundation.settings import KafkaSettings, Settings

settings = Settings(data_dir=Path(sys.argv[2]), kafka=KafkaSettings(bootstrap_servers=sys.argv[1],
                    topic_prefix="crash-probe."))
app = faust_app(settings, "crash-probe", store="memory://", web_enabled=False)

@app.service
class StopNeverEnds(mode.Service):
    async def on_stop(self) -> None:
        await asyncio.Event().wait()  # as the offset commit through a consumer thread that had ended

@app.timer(0.5)
async def fail() -> None:
    await crash(app, RuntimeError("a stage failed"), exit_after_s=float(sys.argv[3]))

faust.Worker(app, loglevel="WARNING", quiet=True).execute_from_commandline()
"""


def test_a_crashed_worker_whose_stop_hangs_still_exits(bootstrap_servers: str, tmp_path: Path) -> None:
    began = time.monotonic()
    probe = subprocess.run([sys.executable, "-c", PROBE, bootstrap_servers, str(tmp_path), str(EXIT_AFTER_S)],
                           cwd=Path(__file__).parents[2], capture_output=True, text=True, timeout=PROBE_TIMEOUT_S)
    took = time.monotonic() - began
    output = probe.stdout + probe.stderr
    assert probe.returncode == CRASHED_EXIT_CODE, output[-3000:]
    assert "did not stop within 2 s of the failure (RuntimeError('a stage failed'))" in output, output[-3000:]
    assert took < PROBE_TIMEOUT_S / 2, took
