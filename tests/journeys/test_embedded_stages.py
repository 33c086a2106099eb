"""A stage of the embedded stack does not outlive the `journeys` process that started it.

`journeys up` killed outright (SIGKILL, the OOM killer, a closed terminal's process group) cannot
stop its stages; before this, its worker lived on holding the embedded warehouse, which chDB lets
one process open, so the next `journeys query` or `up` on that data dir failed or hung."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

PARENT = """
import subprocess, sys, time
from foundation.children import dies_with_parent
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"],
                         preexec_fn=dies_with_parent(), start_new_session=True)
print(child.pid, flush=True)
time.sleep(120)
"""


BROKER_STARTER = """
import time
from foundation.localbroker import start_broker
broker = start_broker()
print(broker.process.pid, flush=True)
time.sleep(120)
"""


def running(pid: int) -> bool:
    """Alive and not a zombie (an orphan's zombie may wait for a reaper that never comes in a container)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the parent-death signal is Linux's")
@pytest.mark.parametrize("starter", [PARENT, BROKER_STARTER], ids=["stage", "local broker"])
def test_a_child_gets_sigterm_when_its_starter_is_killed_outright(starter: str) -> None:
    parent = subprocess.Popen([sys.executable, "-c", starter], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    try:
        assert running(child)
        parent.kill()
        parent.wait(10)
        deadline = time.monotonic() + 10
        while running(child) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not running(child), "the child outlived the process that started it"
    finally:
        if running(child):
            os.kill(child, signal.SIGKILL)
