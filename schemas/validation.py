"""Validation: raw bytes in, either a valid event or a rejection value out. Never raises.

Validation is where the edge takes over what a sender may not choose (`Edge`): received_time is
the edge's clock unless the sender's is within a bounded skew of it, an event must name the channel
of the topic it came on, and free text is scrubbed of e-mail addresses and phone numbers
(schemas.scrub, patterns from the journey map). The collector, the importer and the worker's
intake all validate, so each gets the same rules.

A rejection keeps the original payload (as text, or base64 when it is not UTF-8), the source it
came from, and every problem as a field path with a message, so a channel engineer can fix the
sender and an operator can replay the dead letter once it is fixed.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any, NamedTuple

from pydantic import ValidationError

from schemas.channels import channels, event_adapter
from schemas.events import EDGE_RECEIVED, TouchpointEventBase
from schemas.journeymap import JourneyMap
from schemas.scrub import default_scrubber, scrubbed

MAX_EVENT_BYTES = 64 * 1024
MAX_JSON_DEPTH = 12
DEFAULT_RECEIVED_SKEW_S = 300.0  # as settings.received_skew_s's default


class Edge(NamedTuple):
    """Where and when the edge received a payload: what its sender does not decide.

    `received`: the edge's clock (None: now); a sender's received_time later than it by more than
    `max_skew_s` is replaced by it. `channel`: the channel of the topic the payload came on, which
    the event must name (None: no topic, as at the collector). A tuple: the worker makes one per event.
    """

    received: datetime | None = None
    max_skew_s: float = DEFAULT_RECEIVED_SKEW_S
    channel: str | None = None

    def context(self) -> dict[str, object]:
        return {EDGE_RECEIVED: (self.received or datetime.now(UTC), _skew(self.max_skew_s))}


@cache
def _skew(seconds: float) -> timedelta:
    return timedelta(seconds=seconds)


@dataclass(frozen=True)
class Problem:
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


@dataclass(frozen=True)
class Rejection:
    """Bad input, kept with why it was refused and where it came from."""

    payload: str
    source: str
    problems: tuple[Problem, ...]
    payload_encoding: str = "utf-8"
    rejected_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def reason(self) -> str:
        return "; ".join(str(p) for p in self.problems)

    @property
    def kind(self) -> str:
        """A short, countable category: the first problem's field path, or its message."""
        first = self.problems[0]
        return first.path.split("[")[0] or first.message.split(":")[0]


def validate(payload: bytes | str | dict[str, Any], source: str,
             journey_map: JourneyMap | None = None, edge: Edge | None = None) -> TouchpointEventBase | Rejection:
    """One payload -> a typed, scrubbed event, or a Rejection naming every problem. Never raises."""
    if isinstance(payload, dict):
        raw: bytes = json.dumps(payload, default=str).encode()
    else:
        raw = payload.encode("utf-8", "surrogatepass") if isinstance(payload, str) else payload
    early = _structural_problem(raw)
    if early is not None:
        return reject(raw, source, [early])
    edge = edge or Edge()
    try:
        event: TouchpointEventBase = event_adapter().validate_json(raw, context=edge.context())
    except ValidationError as err:
        return reject(raw, source, _problems(err))
    except ValueError as err:  # malformed JSON the parser reports outside a ValidationError
        return reject(raw, source, [Problem("", f"invalid JSON: {err}")])
    if edge.channel is not None and event.channel != edge.channel:
        return reject(raw, source, [Problem(
            "channel", f"{event.channel!r} does not match the topic it came on, touchpoints.{edge.channel} "
            f"(a {event.channel} event belongs on touchpoints.{event.channel})")])
    if journey_map is not None and event.touchpoint not in journey_map.touchpoint_ids(event.channel):
        return reject(raw, source, [Problem(
            "touchpoint", f"{event.touchpoint!r} is not declared for channel {event.channel!r} "
            "in the journey map")])
    if journey_map is not None and event.context:
        context_problems = journey_map.context_problems(event.context)
        if context_problems:
            return reject(raw, source, [Problem(path, message) for path, message in context_problems])
    return scrubbed(event, journey_map.scrubber if journey_map is not None else default_scrubber())


def reject(raw: bytes, source: str, problems: list[Problem]) -> Rejection:
    try:
        return Rejection(raw.decode("utf-8"), source, tuple(problems))
    except UnicodeDecodeError:
        return Rejection(base64.b64encode(raw).decode("ascii"), source, tuple(problems), "base64")


def _structural_problem(raw: bytes) -> Problem | None:
    if len(raw) > MAX_EVENT_BYTES:
        return Problem("", f"event is {len(raw)} bytes; the limit is {MAX_EVENT_BYTES}")
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as err:
        return Problem("", f"not UTF-8: invalid byte at position {err.start}")
    if raw.count(b"{") + raw.count(b"[") <= MAX_JSON_DEPTH:
        return None  # cannot be too deep; skips the byte scan for ordinary events
    depth = _max_depth(raw)
    if depth > MAX_JSON_DEPTH:
        return Problem("", f"JSON nested {depth} levels deep; the limit is {MAX_JSON_DEPTH}")
    return None


def _max_depth(raw: bytes) -> int:
    """Nesting depth by counting brackets outside strings (cheap; avoids parsing hostile input)."""
    depth = deepest = 0
    in_string = escaped = False
    for byte in raw:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x7B, 0x5B):
            depth += 1
            deepest = max(deepest, depth)
        elif byte in (0x7D, 0x5D):
            depth -= 1
    return deepest


def _problems(err: ValidationError) -> list[Problem]:
    problems = []
    for e in err.errors(include_url=False):
        loc = [p for p in e["loc"] if not _is_union_tag(p)]
        problems.append(Problem(_path(loc), _message(e)))
    return problems


def _is_union_tag(part: Any) -> bool:
    return isinstance(part, str) and (part in channels() or part.endswith("Event"))


def _path(loc: list[Any]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _message(e: Any) -> str:
    msg = str(e["msg"]).removeprefix("Value error, ")
    if e["type"] == "union_tag_invalid":
        return f"unknown channel {e['input'].get('channel')!r}; known: {', '.join(sorted(channels()))}" \
            if isinstance(e.get("input"), dict) else msg
    if e["type"] == "union_tag_not_found":
        return "missing 'channel'"
    return msg
