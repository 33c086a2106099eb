"""The bad-input corpus: one entry per kind of bad input, each with the entrances it is tried at.

Payloads are bytes as a sender would produce them. `entrances` says where a kind means something:
`collector` (one event in a batch body), `topic` (straight onto a raw topic, read by the worker)
and `importer` (one line of a JSON Lines file, mapped by tests/reliability/import_web.yaml; kinds
the mapping itself fixes or ignores, such as the channel, do not apply there). Body-level kinds
(a whole request) are in BODIES.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

ALL = frozenset({"collector", "topic", "importer"})
NO_IMPORT = frozenset({"collector", "topic"})
EMAIL_HASH = "a" * 64


def base() -> dict[str, Any]:
    """A valid web event, as JSON-ready values."""
    return {"channel": "web", "touchpoint": "web.product", "event_type": "product_view",
            "event_time": "2026-03-02T09:30:00Z", "source_id": "bad-input-base",
            "identifiers": {"anonymous_id": "bad-input-device"}, "measures": {"path": "/kettle", "dwell_s": 12.0}}


def call() -> dict[str, Any]:
    return base() | {"channel": "call_centre", "touchpoint": "call_centre.support", "event_type": "call_answered",
                     "measures": {"wait_s": 30.0, "transfers": 0}}


def feedback(**values: Any) -> dict[str, Any]:
    return base() | {"event_type": "feedback", "feedback": values}


def js(value: Any) -> bytes:
    return json.dumps(value).encode()


def nested(depth: int) -> bytes:
    return b'{"channel": "web", "x": ' + b"[" * depth + b"]" * depth + b"}"


@dataclass(frozen=True)
class Kind:
    name: str
    payload: bytes
    entrances: frozenset[str] = ALL


KINDS: tuple[Kind, ...] = (
    Kind("truncated_json", js(base())[:40]),
    Kind("empty_payload", b"", NO_IMPORT),
    Kind("not_json", b"hello, collector"),
    Kind("json_null", b"null"),
    Kind("json_string", b'"an event"'),
    Kind("json_number", b"42"),
    Kind("json_array", b"[1, 2, 3]"),
    Kind("missing_channel", js({k: v for k, v in base().items() if k != "channel"}), NO_IMPORT),
    Kind("unknown_channel", js(base() | {"channel": "fax"}), NO_IMPORT),
    Kind("channel_not_a_string", js(base() | {"channel": 5}), NO_IMPORT),
    Kind("unknown_event_type", js(base() | {"event_type": "teleported"})),
    Kind("unknown_touchpoint", js(base() | {"touchpoint": "web.nowhere"})),
    Kind("touchpoint_of_another_channel", js(base() | {"touchpoint": "store.checkout"})),
    Kind("missing_identifiers", js({k: v for k, v in base().items() if k != "identifiers"})),
    Kind("empty_identifiers", js(base() | {"identifiers": {}})),
    Kind("identifiers_all_null", js(base() | {"identifiers": {"anonymous_id": None, "crm_id": None}})),
    Kind("identifier_wrong_type", js(base() | {"identifiers": {"anonymous_id": 123}}), NO_IMPORT),  # files: text
    Kind("email_hash_not_hex", js(base() | {"identifiers": {"email_hash": "ann@example.com"}})),
    Kind("unknown_identifier_kind", js(base() | {"identifiers": {"shoe_size": "44"}}), NO_IMPORT),
    Kind("raw_email_as_identifier", js(base() | {"identifiers": {"email": "ann@example.com"}}), NO_IMPORT),
    Kind("naive_timestamp", js(base() | {"event_time": "2026-03-02T09:30:00"}), NO_IMPORT),
    Kind("far_future_timestamp", js(base() | {"event_time": "2099-01-01T00:00:00Z"})),
    Kind("ancient_timestamp", js(base() | {"event_time": "1970-01-02T00:00:00Z"})),
    Kind("timestamp_not_a_date", js(base() | {"event_time": "yesterday"})),
    Kind("missing_timestamp", js({k: v for k, v in base().items() if k != "event_time"})),
    Kind("negative_dwell", js(base() | {"measures": {"dwell_s": -5.0}})),
    Kind("negative_wait", js(call() | {"measures": {"wait_s": -30.0}}), NO_IMPORT),
    Kind("wait_longer_than_a_year", js(call() | {"measures": {"wait_s": 4e7}}), NO_IMPORT),
    Kind("nan_measure", b'{"channel": "web", "touchpoint": "web.product", "event_type": "product_view", '
                        b'"event_time": "2026-03-02T09:30:00Z", "identifiers": {"anonymous_id": "d"}, '
                        b'"measures": {"dwell_s": NaN}}'),
    Kind("infinity_measure", b'{"channel": "web", "touchpoint": "web.product", "event_type": "product_view", '
                             b'"event_time": "2026-03-02T09:30:00Z", "identifiers": {"anonymous_id": "d"}, '
                             b'"measures": {"dwell_s": Infinity}}'),
    Kind("measure_wrong_type", js(base() | {"measures": {"dwell_s": "long"}})),
    Kind("measures_not_an_object", js(base() | {"measures": "fast"}), NO_IMPORT),
    Kind("unknown_measure", js(base() | {"measures": {"mood": "sunny"}}), NO_IMPORT),
    Kind("transfers_fractional", js(call() | {"measures": {"transfers": 2.5}}), NO_IMPORT),
    Kind("csat_of_7", js(feedback(csat=7))),
    Kind("csat_of_0", js(feedback(csat=0))),
    Kind("nps_of_11", js(feedback(nps=11))),
    Kind("csat_as_words", js(feedback(csat="five"))),
    Kind("feedback_event_without_feedback", js(base() | {"event_type": "feedback"})),
    Kind("sql_in_touchpoint", js(base() | {"touchpoint": "web.product'; DROP TABLE touchpoints; --"})),
    Kind("sql_in_event_type", js(base() | {"event_type": "x' OR '1'='1"})),
    Kind("sql_in_segment", js(base() | {"segment": "vip'); DROP TABLE journeys; --"})),
    Kind("null_byte_in_touchpoint", js(base() | {"touchpoint": "web.product\u0000"})),
    Kind("unknown_top_level_field", js(base() | {"is_admin": True}), NO_IMPORT),
    Kind("schema_version_2", js(base() | {"schema_version": "2.0"}), NO_IMPORT),
    Kind("event_id_too_long", js(base() | {"event_id": "e" * 200}), NO_IMPORT),
    Kind("duplicate_keys_last_invalid", b'{"channel": "web", "channel": "fax", "touchpoint": "web.product", '
                                        b'"event_type": "product_view", "event_time": "2026-03-02T09:30:00Z", '
                                        b'"identifiers": {"anonymous_id": "d"}}', NO_IMPORT),
    Kind("oversized_event", js(base() | {"measures": {"path": "/" + "p" * 70_000}})),
    Kind("deeply_nested_json", nested(5000)),
    Kind("invalid_utf8", b'{"channel": "web", "touchpoint": "web.\xff\xfe"}'),
    Kind("utf16_encoded", js(base()).decode().encode("utf-16")),
    Kind("lone_surrogate_escape", b'{"channel": "web", "touchpoint": "\\ud800"}'),
    Kind("huge_number", js(base()).replace(b"12.0", b"1" + b"0" * 400)),
)

# Whole request bodies for the collector: (kind, body, status). 10 MB is over the body limit.
BODIES: tuple[tuple[str, bytes, int], ...] = (
    ("body_10_mb", b"[" + b" " * (10 * 1024 * 1024) + b"]", 413),
    ("body_oversized_batch", js([base()] * 600), 413),
    ("body_not_a_list", js({"event": base()}), 400),
    ("body_empty_batch", b"[]", 400),
    ("body_truncated", js([base()])[:30], 400),
    ("body_invalid_utf8", b"[\xff\xfe]", 400),
    ("body_deeply_nested", b"[" * 100_000 + b"]" * 100_000, 400),
)


def kinds_for(entrance: str) -> list[Kind]:
    return [kind for kind in KINDS if entrance in kind.entrances]
