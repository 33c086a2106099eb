"""A worker with its sink that holds its own embedded warehouse and serves reads (journeys/reads.py).

Shared by the read endpoint's tests and the live map's browser test: the worker runs as its own
process on the session's local broker (chDB: one process per data path, so the warehouse is not
the test session's), with the endpoint on a free loopback port.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from clickhouse.client import WarehouseBusyError, refuse_if_held
from foundation.settings import ReadsSettings, Settings
from journeys.readclient import wait_for_url
from tests.reliability import harness as h

SERVE_TIMEOUT_S = 90.0


@contextmanager
def serving_worker(settings: Settings, tmp_path: Path) -> Iterator[tuple[Settings, str]]:
    """(the worker's settings, its endpoint's URL) while `journeys worker --sink` runs."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    local = h.pipeline_settings(settings, tmp_path).model_copy(update={"reads": ReadsSettings(port=0)})
    h.prepare(local)
    worker = h.start_worker(local)
    try:
        url = wait_for_url(local, SERVE_TIMEOUT_S)
        assert url is not None, h.worker_log(local)
        # The address is announced only once the worker holds the warehouse: a command that finds the
        # address never races the worker for chDB's lock (it did while the warehouse opened lazily).
        with pytest.raises(WarehouseBusyError):
            refuse_if_held(local.data_dir.resolve() / "warehouse")
        yield local, url
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(h.STOP_TIMEOUT_S)


def publish(settings: Settings, customers: int, seed: int) -> int:
    """Publish a simulation; returns how many distinct valid events it holds."""
    simulation = h.simulation_of(customers, seed)
    with h.publishing(settings, simulation, rate=None) as published:
        published.wait(h.WORKER_TIMEOUT_S)
    return len(simulation.events())


def loaded(settings: Settings, events: int) -> None:
    """Until `events` events have a step and the worker and its sink have committed everything, twice."""
    deadline, checks = time.monotonic() + h.WORKER_TIMEOUT_S, 0
    while checks < h.DRAINED_CHECKS:
        assert time.monotonic() < deadline, h.worker_log(settings)
        time.sleep(h.DRAIN_POLL_S)
        done = h.backlog(settings) == 0 and (checks or h.stepped_events(settings) >= events)
        checks = checks + 1 if done else 0
