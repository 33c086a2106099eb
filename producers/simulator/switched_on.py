"""Producers stage, simulator adapter: when each injected incident went out on the wire.

A paced simulation (`journeys up`) publishes a month of simulated time in minutes, so the moment
an incident "starts" for its operators is the wall-clock moment its first injected event is
published, not its simulated start. `watch` passes the encoded chunks through unchanged and,
once a chunk holding an incident's first injected event has been published (the publisher asks
for the next chunk), appends one JSON line to a log: the incident, that wall-clock time, and the
event time of the injected event. Latency measurements and operators start their clocks there.
Injected events carry the source id prefix the scenario gives them (producers.simulator.incidents).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

import orjson

from producers.simulator.incidents import marker
from producers.simulator.parallel import Encoded


def watch(chunks: Iterable[Sequence[Encoded]], names: Callable[[], Iterable[str]],
          log: Path | None) -> Iterator[Sequence[Encoded]]:
    """The chunks, unchanged; the first published injected event of each incident `names()` gives
    (asked before each chunk: incidents switched on while publishing join) noted in `log`."""
    if log is None:
        yield from chunks
        return
    log.parent.mkdir(parents=True, exist_ok=True)
    done: set[str] = set()
    for chunk in chunks:
        waiting = {marker(name).encode(): name for name in names() if name not in done}
        found = _first_injected(chunk, waiting) if waiting else []
        yield chunk  # resumed once the publisher asks for the next one: this chunk is published
        if found:
            done.update(name for name, _ in found)
            _note(log, found)


def _first_injected(chunk: Sequence[Encoded], waiting: dict[bytes, str]) -> list[tuple[str, str]]:
    """(incident, event time) of each waiting incident's first event in the chunk; they stop waiting."""
    found = []
    for _, _, key, value in chunk:
        if key is None or b'"source_id":"ix' not in value:
            continue
        for prefix in [p for p in waiting if b'"source_id":"' + p in value]:
            found.append((waiting.pop(prefix), str(orjson.loads(value)["event_time"])))
    return found


def _note(log: Path, found: list[tuple[str, str]]) -> None:
    published = datetime.now(UTC).isoformat()
    with log.open("ab") as out:
        for name, event_time in found:
            out.write(orjson.dumps({"incident": name, "published_at": published, "event_time": event_time}) + b"\n")


def switched_on(log: Path) -> dict[str, datetime]:
    """Each incident's first publication, from a log `watch` wrote (empty when there is none yet)."""
    try:
        lines = log.read_bytes().splitlines()
    except FileNotFoundError:
        return {}
    return {row["incident"]: datetime.fromisoformat(row["published_at"]) for row in map(orjson.loads, lines) if row}
