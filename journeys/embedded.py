"""The embedded stack: everything on one machine, for `journeys demo` and `journeys up`.

A local broker (Tansu) runs in memory; each stage runs as its own `journeys` child process with
exactly the same settings (passed as `JOURNEYS_*` variables). The warehouse is embedded chDB, which
one process may open at a time: the worker (with the sink) owns it while it runs, and queries run
after it has stopped, or through it.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from journeys.errors import JourneysError
from journeys.kafka import ensure_topics
from journeys.localbroker import LocalBroker, local_broker
from journeys.settings import Settings, as_environment

STOP_TIMEOUT_S = 20.0


class StageFailed(JourneysError):
    """A stage's process exited with an error."""

    def __init__(self, command: list[str], returncode: int, log: Path | None) -> None:
        self.command, self.returncode, self.log = command, returncode, log
        where = f"; see {log}" if log else ""
        super().__init__(f"`journeys {' '.join(command)}` exited with {returncode}{where}")


@dataclass
class EmbeddedStack:
    """A running local broker plus the stage processes started on it."""

    settings: Settings
    broker: LocalBroker | None
    processes: list[tuple[list[str], subprocess.Popen[bytes], Path]] = field(default_factory=list)

    def run(self, *command: str, quiet: bool = False) -> None:
        """Run `journeys COMMAND` to completion; raises StageFailed naming its log on failure."""
        log = self.log_path(command[0])
        with log.open("ab") as out:
            result = subprocess.run(journeys_command(*command), env=child_env(self.settings),
                                    stdout=out if quiet else None, stderr=out if quiet else None, check=False)
        if result.returncode != 0:
            raise StageFailed(list(command), result.returncode, log if quiet else None)

    def start(self, *command: str) -> subprocess.Popen[bytes]:
        """Start `journeys COMMAND` in the background, its output in data/logs/<command>.log."""
        log = self.log_path(command[0])
        with log.open("ab") as out:
            process = subprocess.Popen(journeys_command(*command), env=child_env(self.settings),
                                       stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
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
        for _, process, _ in reversed(self.processes):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for _, process, _ in self.processes:
            try:
                process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()


def journeys_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "journeys", *args]


def child_env(settings: Settings) -> dict[str, str]:
    import os

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


@contextlib.contextmanager
def embedded_stack(settings: Settings) -> Iterator[EmbeddedStack]:
    """A local broker (unless Kafka is configured) with topics created; stages stopped on exit."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        broker = None
        if not settings.kafka.bootstrap_servers:
            broker = stack.enter_context(local_broker(log_path=settings.data_dir.resolve() / "logs" / "broker.log"))
        running = EmbeddedStack(embedded_settings(settings, broker), broker)
        ensure_topics(running.settings)
        try:
            yield running
        finally:
            running.stop_all()
