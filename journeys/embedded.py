"""The embedded stack: everything on one machine, for `journeys demo` and `journeys up`.

A local broker (Tansu) runs in memory; each stage runs as its own `journeys` child process with
exactly the same settings (passed as `JOURNEYS_*` variables). The warehouse is embedded chDB, which
one process may open at a time: the worker (with the sink) owns it while it runs, and queries run
after it has stopped, or through it.

The local broker cannot keep its log across runs (its storage is memory only), while the worker's
state and the warehouse live on disk. A new embedded log therefore starts clean: what belonged to
the previous one (worker and sink state, an embedded warehouse, the demo's report and logs) is
moved aside to `<data_dir>/previous/<UTC time>/`, the newest few kept, before the broker starts.
State kept over a new log would say its offsets were applied already (foundation.marks refuses that)
and mix old journeys with new. With a Kafka server configured nothing is moved: its log outlives
the process.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from foundation.children import dies_with_parent
from foundation.kafka import ensure_topics
from foundation.localbroker import LocalBroker, local_broker
from foundation.settings import Settings, as_environment
from schemas.errors import JourneysError

STOP_TIMEOUT_S = 20.0
PREVIOUS_DIR = "previous"
PREVIOUS_KEPT = 3
# What the data dir holds for one log. The state of the log itself (worker tables, the sink's
# Faust files, the embedded warehouse) decides that there was a previous run; the rest goes with it.
LOG_STATE = ("streams", "sink", "warehouse")
LOG_OUTPUTS = ("logs", "ground-truth.json", "experience-map.html")
OWNER_FILE = "embedded.pid"  # the process whose embedded log the data dir's state belongs to now


class StageFailed(JourneysError):
    """A stage's process exited with an error."""

    def __init__(self, command: list[str], returncode: int, log: Path | None) -> None:
        self.command, self.returncode, self.log = command, returncode, log
        where = f"; see {log}" if log else ""
        super().__init__(f"`journeys {' '.join(command)}` exited with {returncode}{where}")


class DataDirInUse(JourneysError):
    """Another embedded stack runs on this data dir: starting clean would move its state from under it."""

    def __init__(self, data_dir: Path, pid: int) -> None:
        self.data_dir, self.pid = data_dir, pid
        super().__init__(f"{data_dir} is in use by another embedded stack (process {pid}): stop it, or give "
                         f"this one a data dir of its own (JOURNEYS_DATA_DIR); if no such process runs, "
                         f"delete {data_dir / OWNER_FILE}")


@dataclass
class EmbeddedStack:
    """A running local broker plus the stage processes started on it."""

    settings: Settings
    broker: LocalBroker | None
    previous: Path | None = None  # where the previous embedded log's state was moved, if any
    processes: list[tuple[list[str], subprocess.Popen[bytes], Path]] = field(default_factory=list)

    def run(self, *command: str, quiet: bool = False) -> None:
        """Run `journeys COMMAND` to completion; raises StageFailed naming its log on failure."""
        log = self.log_path(command[0])
        with log.open("ab") as out:
            result = subprocess.run(journeys_command(*command), env=child_env(self.settings),
                                    preexec_fn=dies_with_parent(), stdout=out if quiet else None, stderr=out if quiet else None, check=False)
        if result.returncode != 0:
            raise StageFailed(list(command), result.returncode, log if quiet else None)

    def start(self, *command: str) -> subprocess.Popen[bytes]:
        """Start `journeys COMMAND` in the background, its output in data/logs/<command>.log."""
        log = self.log_path(command[0])
        with log.open("ab") as out:
            process = subprocess.Popen(journeys_command(*command), env=child_env(self.settings),
                                       preexec_fn=dies_with_parent(), stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        self.processes.append((list(command), process, log))
        return process

    def wait(self, process: subprocess.Popen[bytes]) -> None:
        command, _, log = next(p for p in self.processes if p[1] is process)
        if process.wait() != 0:
            raise StageFailed(command, process.returncode, log)

    def log_path(self, name: str) -> Path:
        logs = self.settings.data_dir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        return logs / f"{name}.log"

    def stop_all(self) -> None:
        """SIGTERM to every stage, then one shared deadline: a stage still running after
        STOP_TIMEOUT_S is killed (the worker restarts from its changelogs), so stopping takes at
        most that long however many stages hang."""
        for _, process, _ in reversed(self.processes):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for _, process, _ in self.processes:
            try:
                process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def journeys_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "journeys", *args]


def child_env(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JOURNEYS_")}
    env.update(as_environment(settings))
    return env


def embedded_settings(settings: Settings, broker: LocalBroker | None) -> Settings:
    """The settings, pointed at the local broker and the embedded warehouse under data_dir."""
    data_dir = settings.data_dir.resolve()
    kafka = settings.kafka
    if broker is not None:
        kafka = kafka.model_copy(update={"bootstrap_servers": broker.bootstrap_servers,
                                         "session_timeout_ms": 3000, "heartbeat_interval_ms": 1000,
                                         "local_broker": True})
    return settings.model_copy(update={"data_dir": data_dir, "kafka": kafka})


def reset_warehouse(settings: Settings) -> None:
    """Start from an empty embedded warehouse (the demo's own; a server is never touched)."""
    if not settings.clickhouse.dsn:
        shutil.rmtree(settings.data_dir / "warehouse", ignore_errors=True)


def keep_previous_log(settings: Settings) -> Path | None:
    """Move the previous embedded log's state and outputs to data/previous/<UTC time>/; None if
    there was none. Only the newest PREVIOUS_KEPT are kept. A warehouse on a server stays put."""
    data = settings.data_dir.resolve()
    state = [name for name in LOG_STATE if (data / name).exists() and not (name == "warehouse" and settings.clickhouse.dsn)]
    if not state:
        return None
    target = _new_previous(data / PREVIOUS_DIR)
    for name in [*state, *LOG_OUTPUTS]:
        if (data / name).exists():
            (data / name).rename(target / name)
    for old in sorted(p for p in (data / PREVIOUS_DIR).iterdir() if p.is_dir())[:-PREVIOUS_KEPT]:
        shutil.rmtree(old, ignore_errors=True)
    return target


def _new_previous(folder: Path) -> Path:
    """A new folder named by the UTC time to the millisecond: names sort as the runs started."""
    while True:
        target = folder / (datetime.now(UTC).strftime("%Y-%m-%dT%H%M%S.%f")[:-3] + "Z")
        if not target.exists():
            target.mkdir(parents=True)
            return target
        time.sleep(0.001)


@contextlib.contextmanager
def owning(data_dir: Path) -> Iterator[None]:
    """Claim the data dir for this process's embedded log; raises DataDirInUse if a live one has it."""
    owner = data_dir / OWNER_FILE
    try:
        pid = int(owner.read_text())
    except (FileNotFoundError, ValueError):
        pid = 0
    if pid and pid != os.getpid() and _alive(pid):
        raise DataDirInUse(data_dir, pid)
    owner.write_text(str(os.getpid()))
    try:
        yield
    finally:
        owner.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


@contextlib.contextmanager
def embedded_stack(settings: Settings) -> Iterator[EmbeddedStack]:
    """A local broker (unless Kafka is configured) with topics created; stages stopped on exit.

    A new local broker is a new, empty log: the previous one's state is moved aside first."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        broker, previous = None, None
        if not settings.kafka.bootstrap_servers:
            stack.enter_context(owning(settings.data_dir.resolve()))
            previous = keep_previous_log(settings)
            broker = stack.enter_context(local_broker(log_path=settings.data_dir.resolve() / "logs" / "broker.log"))
        running = EmbeddedStack(embedded_settings(settings, broker), broker, previous)
        ensure_topics(running.settings)
        try:
            yield running
        finally:
            running.stop_all()
