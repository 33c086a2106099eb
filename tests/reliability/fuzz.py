"""Generated hostile input for the fuzz tests: seeded, reproducible, the shapes an attacker tries.

`Fuzz(seed)` makes batch items (JSON values one event of a collector batch can be) and raw inputs
(bytes: a message on a raw topic, or a whole request body): valid events, each with its own
`source_id` (so each valid input is exactly one event downstream), and the same with one thing
wrong: names the contract does not know (long, unicode, control characters), wrong types, escapes,
deep nesting, huge strings, other encodings, lone surrogate escapes, literals JSON does not have,
bytes that are not text. The mix is weighted towards near-valid input, where the parsers work hardest.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from typing import Any

import orjson

from tests.reliability import corpus

NAME_ALPHABET = "abcXYZ_-.$[]\"'\\/ \t\n\x00\x01\x1f\x7f\u00e9\u2028\u4e2d\U0001f600"
ESCAPES = ('\\"', "\\\\", "\\u0001", "\\ud800", "\\ud83d\\ude00", "\\n", "\\/", "\\u0000")
TOUCHPOINTS = {"web": ("web.product", "product_view"), "call_centre": ("call_centre.support", "call_answered")}
BIG_EVERY = 400  # about one input in this many is large (tens to hundreds of KB)
PILL_EVERY = 1000  # and one in this many is a poison pill (~700 KB of escaped quotes)

Item = Any  # a JSON value


class Fuzz:
    """A seeded generator; `item(i)` and `raw(i)` are the i-th batch item and raw input."""

    def __init__(self, seed: int) -> None:
        self.seed, self.rng = seed, random.Random(seed)

    def name(self, longest: int = 40) -> str:
        return "".join(self.rng.choice(NAME_ALPHABET) for _ in range(self.rng.randint(1, longest)))

    def text(self, longest: int = 60) -> str:
        """Valid text: unicode, quotes, backslashes and control characters (JSON escapes them)."""
        return "".join(self.rng.choice(NAME_ALPHABET + "abcdefgh") for _ in range(self.rng.randint(0, longest)))

    def valid(self, i: int) -> dict[str, Any]:
        """A valid event, unique by its source_id."""
        channel = self.rng.choice(tuple(TOUCHPOINTS))
        touchpoint, event_type = TOUCHPOINTS[channel]
        event = (corpus.base() if channel == "web" else corpus.call()) | {
            "touchpoint": touchpoint, "event_type": event_type, "source_id": f"fuzz-{self.seed}-{i}",
            "event_time": f"2026-{self.rng.randint(1, 11):02d}-{self.rng.randint(1, 28):02d}T"
                          f"{self.rng.randint(0, 23):02d}:{self.rng.randint(0, 59):02d}:00Z",
            "identifiers": {"anonymous_id": f"fuzz-device-{self.rng.randint(0, 200)}"}}
        if channel == "web":
            event["measures"] = {"path": "/" + self.text(), "dwell_s": self.rng.uniform(0, 600)}
        return event

    def mutated(self, i: int) -> Item:
        """A valid event with one thing wrong (sometimes nothing is: then it is still valid)."""
        event = self.valid(i)
        mutation = self.rng.choice(MUTATIONS)
        return mutation(self, event)

    def item(self, i: int) -> Item:
        roll = self.rng.random()
        if roll < 0.3:
            return self.valid(i)
        if roll < 0.9:
            return self.mutated(i)
        return self.json_value(4)

    def json_value(self, depth: int) -> Item:
        kind = self.rng.randrange(7 if depth > 0 else 5)
        if kind == 0:
            return None
        if kind == 1:
            return self.rng.choice((True, False, 0, -1, 2**70, 1e308, -0.0))
        if kind in (2, 3, 4):
            return self.text()
        if kind == 5:
            return [self.json_value(depth - 1) for _ in range(self.rng.randint(0, 4))]
        return {self.name(): self.json_value(depth - 1) for _ in range(self.rng.randint(0, 4))}

    def raw(self, i: int) -> bytes | None:
        """A raw input: most often an item as JSON, else bytes no encoder would write."""
        if i % PILL_EVERY == PILL_EVERY - 1:
            return b'{"channel": "web", "x": "' + b'\\"' * 350_000 + b'"}'
        if i % BIG_EVERY == BIG_EVERY - 1:
            return self.big(i)
        roll = self.rng.random()
        if roll < 0.7:
            return json.dumps(self.item(i)).encode()
        return self.rng.choice(RAW_MUTATIONS)(self, i)

    def big(self, i: int) -> bytes:
        unit = self.rng.choice((b'\\"', b"\\u0001", b"\xc3\xa9", b"\x01", b"a"))
        size = self.rng.choice((30_000, 70_000, 300_000))
        event = json.dumps(self.valid(i)).encode()
        return event[:-1] + b', "measures": {"path": "' + unit * (size // len(unit)) + b'"}}'


def _unknown_field(f: Fuzz, e: dict[str, Any]) -> Item:
    return e | {f.name(300): f.json_value(2)}


def _unknown_measure(f: Fuzz, e: dict[str, Any]) -> Item:
    return e | {"measures": {f.name(): f.rng.random()}}


def _wrong_type(f: Fuzz, e: dict[str, Any]) -> Item:
    return e | {f.rng.choice(tuple(e)): f.json_value(2)}


def _dropped(f: Fuzz, e: dict[str, Any]) -> Item:
    return {k: v for k, v in e.items() if k != f.rng.choice(tuple(e))}


def _nested(f: Fuzz, e: dict[str, Any]) -> Item:
    value: Any = f.text()
    for _ in range(f.rng.randint(5, 60)):
        value = [value] if f.rng.random() < 0.5 else {f.name(5): value}
    return e | {"measures": value}


def _long_text(f: Fuzz, e: dict[str, Any]) -> Item:
    return e | {"segment": f.text(3000)}


def _unchanged(f: Fuzz, e: dict[str, Any]) -> Item:
    return e


MUTATIONS: tuple[Callable[[Fuzz, dict[str, Any]], Item], ...] = (
    _unknown_field, _unknown_measure, _wrong_type, _dropped, _nested, _long_text, _unchanged)


def _random_bytes(f: Fuzz, i: int) -> bytes | None:
    return None if f.rng.random() < 0.05 else f.rng.randbytes(f.rng.randint(0, 600))


def _escapes(f: Fuzz, i: int) -> bytes:
    escapes = "".join(f.rng.choice(ESCAPES) for _ in range(f.rng.randint(1, 200)))
    return json.dumps(f.valid(i)).encode()[:-1] + b', "' + escapes.encode() + b'": "' + escapes.encode() + b'"}'


def _encoded(f: Fuzz, i: int) -> bytes:
    text = json.dumps(f.valid(i) | {"segment": "caf\u00e9-\u4e2d"}, ensure_ascii=False)
    return text.encode(f.rng.choice(("utf-16", "utf-32", "latin-1", "utf-8-sig", "cp1252")), "replace")


def _cut(f: Fuzz, i: int) -> bytes:
    text = json.dumps(f.valid(i)).encode()
    return text[:f.rng.randint(0, len(text) - 1)]


def _literals(f: Fuzz, i: int) -> bytes:
    literal = f.rng.choice((b"NaN", b"Infinity", b"-Infinity", b"1" + b"0" * 500, b"1e99999", b"undefined", b"0x10"))
    return json.dumps(f.valid(i) | {"measures": {"dwell_s": "@"}}).encode().replace(b'"@"', literal)


def _duplicate_keys(f: Fuzz, i: int) -> bytes:
    return json.dumps(f.valid(i)).encode()[:-1] + b', "channel": ' + json.dumps(f.name()).encode() + b"}"


def _escapes_in_text(f: Fuzz, i: int) -> bytes:
    """Escapes inside a free-text field the contract accepts (lone surrogates among them)."""
    escapes = "".join(f.rng.choice(ESCAPES) for _ in range(f.rng.randint(1, 20)))
    return json.dumps(f.valid(i) | {"segment": "@"}).encode().replace(b'"@"', b'"' + escapes.encode() + b'"')


RAW_MUTATIONS: tuple[Callable[[Fuzz, int], bytes | None], ...] = (
    _random_bytes, _escapes, _escapes_in_text, _encoded, _cut, _literals, _duplicate_keys)


def batch_body(items: list[Item]) -> bytes:
    return json.dumps(items).encode()


def inputs_in_body(body: bytes) -> int:
    """How many inputs a whole request body is for the collector: each event of a batch (as its
    parser, orjson, reads it), else one."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        return 1
    events = document.get("events") if isinstance(document, dict) else document
    return len(events) if isinstance(events, list) and events else 1
