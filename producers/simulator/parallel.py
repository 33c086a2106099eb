"""Producers stage, simulator adapter: a whole simulation run in a child, its events sent here.

`journeys simulate` publishes as fast as two cores allow when the simulation (planning, encoding
each event's wire bytes, the ground truth: pure Python, one core) runs in a child process and
this process only sends what it streams back (the Kafka client's work, the other core).
`simulated_in_child` forks the child before any Kafka client or thread exists here; it sends the
number of deliveries, then the encoded deliveries chunk by chunk (the pipe paces it to the
reader) and the ground truth, first or last. Chunks hold (channel, key, value), key None for a
malformed payload. Same arguments, same plan: the child's traffic is `simulate`'s.
"""

from __future__ import annotations

import multiprocessing
import pickle
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from multiprocessing.connection import Connection

from journeys.errors import JourneysError
from producers.simulator.core import Plan, gc_paused, plan
from producers.simulator.timeline import Touch
from producers.simulator.truth import GroundTruth
from producers.simulator.wire import event_key, event_value
from schemas.journeymap import JourneyMap

Encoded = tuple[str, bytes | None, bytes]  # (channel, key, value); key None: a malformed payload
END = b""
ENCODE_CHUNK = 1000  # deliveries per message: smaller chunks keep fewer encoded bytes alive (measured faster)
JOIN_TIMEOUT_S = 30.0


class SimulatorChildError(JourneysError):
    """The child running a simulation stopped before sending everything (its exit code)."""

    def __init__(self, exitcode: int | None) -> None:
        super().__init__(f"the simulator's child process stopped early (exit code {exitcode})")
        self.exitcode = exitcode


@dataclass(frozen=True)
class SimulationArgs:
    """The arguments of `simulate`, for the child."""

    customers: int
    seed: int
    days: int
    start: datetime
    journey_map: JourneyMap
    pii_secret: bytes


class ChildWork:
    """What the child sends, read in its order: the count, then chunks and the truth."""

    def __init__(self, connection: Connection, process: multiprocessing.process.BaseProcess) -> None:
        self.connection, self.process = connection, process
        self.deliveries: int = pickle.loads(self._receive())
        self._truth: GroundTruth | None = None

    def chunks(self) -> Iterator[list[Encoded]]:
        while (message := self._receive()) != END:
            yield pickle.loads(message)

    def truth(self) -> GroundTruth:
        if self._truth is None:
            self._truth = GroundTruth.model_validate_json(self._receive())
        return self._truth

    def _receive(self) -> bytes:
        try:
            return self.connection.recv_bytes()
        except EOFError as err:
            self.process.join(JOIN_TIMEOUT_S)
            raise SimulatorChildError(self.process.exitcode) from err


@contextmanager
def simulated_in_child(args: SimulationArgs, chunk_size: int, truth_first: bool = False) -> Iterator[ChildWork]:
    """Run the simulation in a forked child; read its deliveries (encoded) and truth from the result."""
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(target=_simulate_and_send, args=(args, sender, chunk_size, truth_first),
                            name="journeys-simulate", daemon=True)
    child.start()
    sender.close()
    try:
        yield ChildWork(receiver, child)
    finally:
        receiver.close()
        child.join(JOIN_TIMEOUT_S)
        if child.is_alive():  # the caller stopped reading early: the child waits on a full pipe
            child.kill()
            child.join()


def _simulate_and_send(args: SimulationArgs, sender: Connection, chunk_size: int, truth_first: bool) -> None:
    drawn = plan(args.customers, args.seed, args.days, args.start, args.journey_map, args.pii_secret)
    sender.send_bytes(pickle.dumps(len(drawn.arrivals)))
    if truth_first:
        _send_truth(drawn, sender)
    with gc_paused():
        arrivals = drawn.arrivals
        for start in range(0, len(arrivals), chunk_size):
            chunk = [encode(a.channel, a.payload) for a in arrivals[start:start + chunk_size]]
            sender.send_bytes(pickle.dumps(chunk, pickle.HIGHEST_PROTOCOL))
    sender.send_bytes(END)
    if not truth_first:
        _send_truth(drawn, sender)
    sender.close()


def _send_truth(drawn: Plan, sender: Connection) -> None:
    sender.send_bytes(drawn.truth().model_dump_json().encode())


def encode(channel: str, payload: Touch | bytes) -> Encoded:
    if isinstance(payload, Touch):
        return channel, event_key(payload), event_value(payload)
    return channel, None, payload
