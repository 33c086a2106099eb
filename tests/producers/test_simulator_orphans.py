"""The simulator's children do not outlive the process reading them.

`journeys up` stopped mid-run (Ctrl-C) ends `journeys simulate` while its children are still
writing a month of records into their pipes. Each child must then fail its next write and exit:
before, each held its own pipe's read end (and the earlier children's), so a full pipe blocked
it forever, and every interrupted `up` left two sleeping processes behind.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from datetime import UTC, datetime
from multiprocessing.queues import Queue
from pathlib import Path

from producers.simulator.parallel import SimulationArgs, simulated_in_child
from schemas.journeymap import load_journey_map

EXIT_WITHIN_S = 30.0
ARGS = SimulationArgs(4000, 5, 30, datetime(2026, 1, 5, tzinfo=UTC), load_journey_map(), b"orphans")  # > a pipe


def _read_a_little_then_die(pids: Queue[list[int]]) -> None:
    with simulated_in_child(ARGS, 100, truth_first=True) as work:
        pids.put([child.process.pid or 0 for child in work.children])
        next(work.chunks())
        os._exit(0)  # as a process ended by a signal: no clean-up of its children


def _gone(pid: int) -> bool:
    stat = Path(f"/proc/{pid}/stat")
    return not stat.exists() or stat.read_text().split(") ")[1].startswith("Z")


def test_the_children_exit_when_their_reader_dies() -> None:
    context = multiprocessing.get_context("fork")
    pids: Queue[list[int]] = context.Queue()
    reader = context.Process(target=_read_a_little_then_die, args=(pids,))
    reader.start()
    children = pids.get(timeout=120)
    reader.join(60)
    deadline = time.monotonic() + EXIT_WITHIN_S
    while time.monotonic() < deadline and not all(map(_gone, children)):
        time.sleep(0.5)
    left = [pid for pid in children if not _gone(pid)]
    for pid in left:  # do not leave them behind for the next test either
        os.kill(pid, 9)
    assert left == []
