"""Producers stage, simulator adapter: a simulation written by child processes, sent here.

`journeys simulate` publishes as fast as two cores allow when the simulation (planning, encoding
each event's wire bytes and hashing its key, the ground truth: pure Python) runs in child
processes and this process only merges what they stream back and sends it (the Kafka client's
work). Every person draws from their own random stream, so `simulated_in_child` forks WORKERS
children at once (before any Kafka client or thread exists here), each writing a contiguous share
of the people; each sends its number of deliveries, then its deliveries encoded in arrival order
chunk by chunk (the pipe paces it to the reader), and its people's truth: first of all for a
paced run, otherwise a slice of people with each chunk. This process merges the streams in
arrival order (what `heapq.merge` yields, sorted a run at a time in C) and assembles the ground
truth: the same traffic and truth as `simulate`. Records hold (channel, key hash, key, value),
key None for a malformed payload.
"""

from __future__ import annotations

import bisect
import fcntl
import gc
import multiprocessing
import pickle
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import datetime
from multiprocessing.connection import Connection

from pydantic import TypeAdapter

from foundation.batches import key_hash
from producers.simulator.core import Plan, gc_paused, ground_truth, plan
from producers.simulator.history import History
from producers.simulator.incidents import Scenario, incident_truth
from producers.simulator.timeline import Touch
from producers.simulator.truth import GroundTruth, PersonTruth, PhaseLookup, person_truth
from producers.simulator.wire import event_key, event_value
from schemas.errors import JourneysError
from schemas.journeymap import JourneyMap

Encoded = tuple[str, int, bytes | None, bytes]  # (channel, key_hash(key), key, value); key None: malformed
Sent = tuple[float, float, str, int, bytes | None, bytes]  # (arrival_s, order, *Encoded): mergeable
END = b""
ENCODE_CHUNK = 1000  # deliveries per message: smaller chunks keep fewer encoded bytes alive (measured faster)
WORKERS = 2  # children writing the people: this machine's cores
JOIN_TIMEOUT_S = 30.0
# The truth travels as JSON: pydantic writes it in half the time pickling its models took, and
# reads it back as fast as unpickling them (measured per slice of people).
PERSONS = TypeAdapter(list[PersonTruth])
PIPE_BYTES = 4 * 1024 * 1024  # asked of the kernel, which caps it at /proc/sys/fs/pipe-max-size


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
    scenario: Scenario | None = None


class Child:
    """One child's stream, read in its order: the counts, then chunks and its people's truth.

    Nothing is read until asked for, so every child is forked (and planning) before the first
    read waits on one, and this process can connect to Kafka meanwhile. Unless the truth comes
    first, the child writes it a slice of people per chunk (while this process publishes the
    previous chunk) and sends it with the chunk."""

    def __init__(self, connection: Connection, process: multiprocessing.process.BaseProcess,
                 truth_first: bool) -> None:
        self.connection, self.process, self.truth_first = connection, process, truth_first
        self._counts: tuple[int, int, int] | None = None
        self._persons: list[PersonTruth] = []
        self._truth_read = self._streamed = False

    @property
    def counts(self) -> tuple[int, int, int]:
        """(deliveries, duplicates, malformed), sent once the child's people are planned."""
        if self._counts is None:
            self._counts = pickle.loads(self._receive())
        return self._counts

    def chunks(self) -> Iterator[list[Sent]]:
        """The child's records in arrival order, as it sent them (read once)."""
        self._read_truth_first()
        while not self._streamed and (message := self._receive()) != END:
            records, persons = pickle.loads(message)
            self._persons += PERSONS.validate_json(persons)
            yield records
        self._streamed = True

    def persons(self) -> list[PersonTruth]:
        """The child's people's truth (after its records, unless the truth came first)."""
        self._read_truth_first()
        if not self.truth_first:
            for _ in self.chunks():  # nothing left once the records were read
                pass
        return self._persons

    def _read_truth_first(self) -> None:
        self.counts  # noqa: B018 - the counts come first on the stream
        if self.truth_first and not self._truth_read:
            self._persons = PERSONS.validate_json(self._receive())
        self._truth_read = True

    def _receive(self) -> bytes:
        try:
            return self.connection.recv_bytes()
        except EOFError as err:
            self.process.join(JOIN_TIMEOUT_S)
            raise SimulatorChildError(self.process.exitcode) from err


class ChildWork:
    """What the children send, merged: the count, then chunks in arrival order and the truth."""

    def __init__(self, args: SimulationArgs, children: list[Child], chunk_size: int) -> None:
        self.args, self.children, self.chunk_size = args, children, chunk_size
        self._truth: GroundTruth | None = None

    @property
    def deliveries(self) -> int:
        """How many deliveries the children will send (waits until every child has planned)."""
        return sum(c.counts[0] for c in self.children)

    def chunks(self) -> Iterator[list[Encoded]]:
        """Every child's records in arrival order, `chunk_size` at a time."""
        ready: list[Encoded] = []
        for merged in self._merged():
            ready += [record[2:] for record in merged]
            while len(ready) >= self.chunk_size:
                yield ready[:self.chunk_size]
                del ready[:self.chunk_size]
        if ready:
            yield ready

    def _merged(self) -> Iterator[list[Sent]]:
        """What `heapq.merge` of the children's streams yields, a run at a time: everything up to
        the smallest of the streaming children's last received records, sorted (a sort of a few
        sorted runs is a merge in C, stable, so ties keep the children's order as heapq.merge does)."""
        streams = [c.chunks() for c in self.children]
        held: list[list[Sent]] = [[] for _ in streams]
        streaming = set(range(len(streams)))
        while streaming or any(held):
            for n in sorted(streaming):
                while not held[n] and n in streaming:
                    chunk = next(streams[n], None)
                    if chunk is None:
                        streaming.discard(n)
                    else:
                        held[n] = chunk
            bound = min((held[n][-1] for n in streaming), default=None)
            run: list[Sent] = []
            for records in held:
                cut = len(records) if bound is None else bisect.bisect_right(records, bound)
                run += records[:cut]
                del records[:cut]
            run.sort()
            yield run

    def truth(self) -> GroundTruth:
        if self._truth is None:
            a, children = self.args, self.children
            persons = [p for c in children for p in c.persons()]
            self._truth = ground_truth(a.seed, a.start, a.days, a.journey_map, persons, self.deliveries,
                                       sum(c.counts[1] for c in children), sum(c.counts[2] for c in children))
            self._truth = self._truth.model_copy(update={"incidents": incident_truth(a.scenario or Scenario(), a.start,
                                                                                     None)})
        return self._truth


@contextmanager
def simulated_in_child(args: SimulationArgs, chunk_size: int, truth_first: bool = False,
                       workers: int = WORKERS) -> Iterator[ChildWork]:
    """Run the simulation in forked children; read its deliveries (encoded) and truth from the result."""
    shares = [range(args.customers * n // workers, args.customers * (n + 1) // workers) for n in range(workers)]
    with ExitStack() as stack:
        stack.enter_context(_collector_paused())
        readers: list[Connection] = []  # every pipe's read end so far: a child closes those it inherits
        children = [stack.enter_context(_child(args, who, truth_first, readers)) for who in shares]
        yield ChildWork(args, children, chunk_size)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """No cyclic collection here while the simulation runs (see `gc_paused`; the children never
    collect). Afterwards what the run made joins the oldest generation unscanned, as what it
    found there already is (freeze, then unfreeze: both O(1)), instead of a pass over everything
    young the moment collection resumes (15-25 ms a run). Left to `gc_paused` if someone else
    froze objects (unfreezing would release theirs)."""
    if gc.get_freeze_count():
        with gc_paused():
            yield
        return
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.unfreeze()
        if enabled:
            gc.enable()


@contextmanager
def _child(args: SimulationArgs, who: range, truth_first: bool, readers: list[Connection]) -> Iterator[Child]:
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    _widen(receiver)
    readers.append(receiver)
    child = context.Process(target=_simulate_and_send, args=(args, who, sender, truth_first, tuple(readers)),
                            name="journeys-simulate", daemon=True)
    child.start()
    sender.close()
    try:
        yield Child(receiver, child, truth_first)
    finally:
        receiver.close()
        child.join(JOIN_TIMEOUT_S)
        if child.is_alive():  # the caller stopped reading early: the child waits on a full pipe
            child.kill()
            child.join()


def _widen(connection: Connection) -> None:
    """A pipe that holds a whole chunk or more (Linux: up to pipe-max-size, 1 MiB by default), so
    a child writes its next chunk and goes on encoding while this process is still publishing
    the last one; with the 64 KiB default it waited for every read."""
    try:
        with open("/proc/sys/fs/pipe-max-size") as limit:
            size = min(PIPE_BYTES, int(limit.read()))
        fcntl.fcntl(connection.fileno(), fcntl.F_SETPIPE_SZ, size)
    except (OSError, ValueError, AttributeError):  # not Linux, or not allowed: the default pipe works
        pass


def _simulate_and_send(args: SimulationArgs, who: range, sender: Connection, truth_first: bool,
                       inherited: tuple[Connection, ...] = ()) -> None:
    # The read ends forked into this child: held open here, they would keep a write to a full pipe
    # waiting forever once the reader is gone (an interrupted `journeys up` left children behind).
    for reader in inherited:
        reader.close()
    # No cyclic collection in this short-lived child (see `gc_paused`): not even the passes over
    # everything it planned that re-enabling it between its steps set off (~1 us per delivery).
    gc.disable()
    drawn = plan(args.customers, args.seed, args.days, args.start, args.journey_map, args.pii_secret, who=who,
                 scenario=args.scenario)
    try:
        _send(sender, (len(drawn.arrivals), drawn.duplicates, drawn.malformed))
        if truth_first:
            sender.send_bytes(PERSONS.dump_json(drawn.person_truths()))
        _stream(drawn, sender, [] if truth_first else drawn.histories)
    except BrokenPipeError:  # the reader stopped (an interrupted run): nothing left to send to
        return
    sender.close()


def _stream(drawn: Plan, sender: Connection, stories: list[History]) -> None:
    """The deliveries encoded, chunk by chunk, each with the truth of a slice of `stories`."""
    arrivals, lookup = drawn.arrivals, PhaseLookup(drawn.journey_map)
    starts = range(0, len(arrivals), ENCODE_CHUNK)
    people = -(-len(stories) // len(starts)) if starts else 0  # per chunk, so the truth keeps pace
    for n, start in enumerate(starts):
        persons = [person_truth(s, drawn.journey_map, lookup) for s in stories[n * people:(n + 1) * people]]
        _send(sender, ([encode(*a) for a in arrivals[start:start + ENCODE_CHUNK]], PERSONS.dump_json(persons)))
    if not starts and stories:
        _send(sender, ([], PERSONS.dump_json([person_truth(s, drawn.journey_map, lookup) for s in stories])))
    sender.send_bytes(END)


def _send(sender: Connection, message: object) -> None:
    sender.send_bytes(pickle.dumps(message, pickle.HIGHEST_PROTOCOL))


def encode(arrival_s: float, order: float, channel: str, payload: Touch | bytes) -> Sent:
    if isinstance(payload, Touch):
        key = event_key(payload)
        return arrival_s, order, channel, key_hash(key), key, event_value(payload)
    return arrival_s, order, channel, 0, None, payload
