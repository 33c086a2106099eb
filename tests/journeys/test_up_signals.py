"""`journeys up` stops once, in order, whatever signals arrive and whenever.

Found by a review: the first Ctrl-C or SIGTERM before the live view (during migrate, the stages'
start, the wait for the map) went straight to stopping the stages with the handler still armed,
so a second signal broke out of the wait for them: a stage that had not stopped yet was never
killed and `up` skipped its last line. The first signal now disarms the handler."""

from __future__ import annotations

import signal
import subprocess
import sys

PROBE = """
import os, signal, time
from journeys.commands.runtime import stopped_by_signals
with stopped_by_signals():
    try:
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)
        print("not interrupted", flush=True)
    except KeyboardInterrupt as stop:
        print("stopping on", stop, flush=True)
        os.kill(os.getpid(), signal.SIGTERM)  # the second one, while stopping
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.2)
        print("stopped in order", flush=True)
"""


def test_the_first_signal_stops_up_and_later_ones_do_not_cut_the_stop_short() -> None:
    # Started with SIGINT ignored, as a background job is: the handler must not depend on it.
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60,
                          preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["stopping on SIGTERM", "stopped in order"]
