"""The contract's one way to turn a rejection into a dead letter that always fits in Kafka.

Every entrance (collector, importer, publisher, the worker's raw topics) dead-letters through
`dead_letter_of`, so a dead letter is never larger than one Kafka message (1 MiB by default), however
hostile the input: a JSON string of 350,000 double quotes is 700 KB as received but 1.4 MB once
escaped again, and a producer refuses it, which used to stop the worker at the same offset after
every restart. A payload up to the event size limit is kept whole; a larger one keeps its first and
last bytes, its size and the SHA-256 of the whole, and the record says so. Text fields are capped
too, and the kind is one of a closed set, so counters and the warehouse's LowCardinality column
keyed by it stay bounded whatever names the input chooses.
"""

from __future__ import annotations

import base64
import functools
import hashlib
from datetime import datetime

from schemas.channels import channels
from schemas.outputs import DeadLetter
from schemas.scrub import default_scrubber
from schemas.validation import MAX_EVENT_BYTES, Rejection

# Kept whole up to the event limit: every payload that could have been a valid event is kept whole.
DEADLETTER_PAYLOAD_BYTES = MAX_EVENT_BYTES
HEAD_BYTES = 48 * 1024  # of a larger payload, its first bytes ...
TAIL_BYTES = 16 * 1024  # ... and its last
MAX_PROBLEMS = 20
MAX_PROBLEM_CHARS = 500
MAX_REASON_CHARS = 2000
MAX_SOURCE_CHARS = 300
MAX_CHANNEL_CHARS = 80
# JSON escaping writes a control character as 6 bytes (\u0001). At 6 bytes for every character kept,
# payload, problems, reason and source come to ~470 KB: the record stays well under 1 MiB.
DEADLETTER_MAX_JSON_BYTES = 6 * (DEADLETTER_PAYLOAD_BYTES + MAX_PROBLEMS * MAX_PROBLEM_CHARS
                                 + MAX_REASON_CHARS + MAX_SOURCE_CHARS + MAX_CHANNEL_CHARS) + 4096

UNKNOWN_FIELD = "unknown_field"
# Kinds of problems that name no field, by how their message starts (schemas.validation,
# producers.beacon); anything else is "other". Field kinds are the contract's top-level fields.
MESSAGE_KINDS = (
    ("event is", "too_large"), ("not UTF-8", "not_utf8"), ("body is not UTF-8", "not_utf8"),
    ("JSON nested", "too_deep"), ("invalid JSON", "invalid_json"), ("Invalid JSON", "invalid_json"),
    ("body is not JSON", "invalid_json"),
    ("unknown channel", "channel"), ("missing 'channel'", "channel"), ("Input should be an object", "not_an_object"),
    ("event_time", "event_time"), ("expected a JSON array", "not_a_batch"),
    ("the batch holds no events", "empty_batch"), ("the batch holds", "batch_too_large"),
    ("body", "body_too_large"),
)
FIXED_KINDS = frozenset({UNKNOWN_FIELD, "other", *(kind for _, kind in MESSAGE_KINDS)})
EXTRA_FIELD_MESSAGE = "Extra inputs are not permitted"


@functools.cache
def field_kinds(channel_names: tuple[str, ...]) -> frozenset[str]:
    """The top-level field names of every registered channel's event model."""
    return frozenset(name for channel in channels().values() for name in channel.model.model_fields)


def rejection_kind(rejection: Rejection) -> str:
    """A short, countable kind from a closed set: the contract field the first problem is about
    (an unknown field is "unknown_field"), or the kind of a problem that names no field."""
    if not rejection.problems:
        return "other"
    first = rejection.problems[0]
    if first.message == EXTRA_FIELD_MESSAGE:
        return UNKNOWN_FIELD
    if first.path:
        name = first.path.split("[")[0].split(".")[0]
        return name if name in field_kinds(tuple(channels())) else UNKNOWN_FIELD
    return next((kind for prefix, kind in MESSAGE_KINDS if first.message.startswith(prefix)), "other")


def dead_letter_of(rejection: Rejection, channel: str | None = None,
                   rejected_at: datetime | None = None) -> DeadLetter:
    """The dead letter of a rejection: every problem (up to MAX_PROBLEMS, each capped), the source, and
    the payload whole, or past DEADLETTER_PAYLOAD_BYTES its first and last bytes with the size and
    SHA-256 of the whole, the reason saying so. Its JSON is never over DEADLETTER_MAX_JSON_BYTES."""
    raw = _raw(rejection)
    head, tail, truncated = _cut(raw)
    reason = clip(rejection.reason, MAX_REASON_CHARS)
    if truncated:
        reason += (f" (payload truncated: first {len(head)} and last {len(tail)} of {len(raw)} bytes kept,"
                   f" sha256 of the whole in payload_sha256)")
    encoding = "base64" if rejection.payload_encoding == "base64" else "utf-8"
    return DeadLetter(
        source=clip(rejection.source, MAX_SOURCE_CHARS), reason=reason, kind=rejection_kind(rejection),
        problems=_problems(rejection), payload=_text(head, encoding), payload_encoding=encoding,
        channel=clip(channel, MAX_CHANNEL_CHARS) if channel is not None else None,
        rejected_at=rejected_at or rejection.rejected_at, payload_truncated=truncated,
        payload_tail=_text(tail, encoding), payload_bytes=len(raw),
        payload_sha256=hashlib.sha256(raw).hexdigest())


def clip(text: str, limit: int) -> str:
    """`text` up to `limit` characters: its start and end around a marker when longer."""
    if len(text) <= limit:
        return text
    keep = (limit - 30) // 2
    return f"{text[:keep]} [... {len(text) - 2 * keep} chars cut ...] {text[-keep:]}"


def _problems(rejection: Rejection) -> tuple[str, ...]:
    problems = [clip(str(p), MAX_PROBLEM_CHARS) for p in rejection.problems]
    if len(problems) > MAX_PROBLEMS:
        more = len(problems) - MAX_PROBLEMS + 1
        problems = [*problems[:MAX_PROBLEMS - 1], f"... and {more} more problems"]
    return tuple(problems)


def _raw(rejection: Rejection) -> bytes:
    """The payload's bytes as received."""
    if rejection.payload_encoding == "base64":
        return base64.b64decode(rejection.payload)
    return rejection.payload.encode("utf-8", "surrogatepass")


def _cut(raw: bytes) -> tuple[bytes, bytes, bool]:
    if len(raw) <= DEADLETTER_PAYLOAD_BYTES:
        return raw, b"", False
    return raw[:HEAD_BYTES], raw[-TAIL_BYTES:], True


def _text(part: bytes, encoding: str) -> str:
    """Bytes kept, in the dead letter's encoding; a character cut at the border is left out. Text is
    scrubbed of e-mail addresses and phone numbers (schemas.scrub): a rejected row or event would
    otherwise carry them raw into Kafka and the warehouse, where no erasure can find them."""
    if encoding == "base64":
        return base64.b64encode(part).decode("ascii")
    return default_scrubber().scrub(part.decode("utf-8", "ignore"))
