"""Crash safety: the worker with its sink SIGKILLed at random points under load, restarted each time.

At-least-once processing plus idempotent writes means the warehouse, read after the last worker
has stopped by itself, equals the simulator's ground truth exactly: the same customers, journeys,
phases reached and friction by rule, every event once. `make test` kills twice; `make soak` five
times with a larger simulation.
"""

from __future__ import annotations

import random
import signal
import time
from pathlib import Path

import pytest

from foundation.settings import Settings
from tests.reliability import harness as h

POLL_S = 0.2


def kill_at_random_points(settings: Settings, kills: int, seed: int, window_s: tuple[float, float]) -> int:
    """Start the worker, SIGKILL it after a random time within the window; `kills` times. Returns kills done."""
    chance = random.Random(seed)
    done = 0
    for _ in range(kills):
        worker = h.start_worker(settings)
        deadline = time.monotonic() + chance.uniform(*window_s)
        while time.monotonic() < deadline and worker.poll() is None:
            time.sleep(POLL_S)
        assert worker.poll() is None, h.worker_log(settings)  # it was running when killed
        worker.send_signal(signal.SIGKILL)
        worker.wait()
        done += 1
    return done


def crash_run(settings: Settings, tmp_path: Path, customers: int, kills: int, window_s: tuple[float, float]) -> None:
    simulation = h.simulation_of(customers, seed=7000 + kills)
    local = h.pipeline_settings(settings, tmp_path)
    h.prepare(local)
    with h.publishing(local, simulation):
        survived = kill_at_random_points(local, kills, seed=kills, window_s=window_s)
    h.drain(local, len(simulation.events()))
    assert survived == kills
    h.assert_warehouse_matches_truth(h.dump(local), simulation)


def test_two_kills_under_load_change_no_result(settings: Settings, tmp_path: Path) -> None:
    crash_run(settings, tmp_path, customers=400, kills=2, window_s=(3.0, 5.5))


@pytest.mark.soak
def test_five_kills_under_load_change_no_result(settings: Settings, tmp_path: Path) -> None:
    crash_run(settings, tmp_path, customers=2000, kills=5, window_s=(5.0, 15.0))
