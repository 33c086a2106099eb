"""Dead letters always fit in one Kafka message, and say what they left out.

A rejection of any size, encoding, escaping and number of problems becomes a dead letter whose
JSON stays under the contract's bound (well under Kafka's default 1 MiB); a payload over the limit
keeps its first and last bytes, its size and the SHA-256 of the whole; kinds come from a closed set.
"""

from __future__ import annotations

import base64
import hashlib

from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from schemas.channels import channels
from schemas.deadletters import (
    DEADLETTER_MAX_JSON_BYTES,
    DEADLETTER_PAYLOAD_BYTES,
    FIXED_KINDS,
    HEAD_BYTES,
    TAIL_BYTES,
    dead_letter_of,
    field_kinds,
    rejection_kind,
)
from schemas.outputs import DeadLetter
from schemas.validation import Problem, Rejection, reject, validate

KAFKA_DEFAULT_MESSAGE_BYTES = 1_048_576


def encoded(letter: DeadLetter) -> bytes:
    return letter.model_dump_json().encode("utf-8")


def test_the_poison_pill_becomes_a_dead_letter_that_fits_and_says_it_was_cut() -> None:
    pill = b'{"channel": "web", "x": "' + b'\\"' * 350_000 + b'"}'  # 700 KB, 1.4 MB escaped again
    rejection = validate(pill, "topic:touchpoints.web/0/7")
    assert isinstance(rejection, Rejection)
    letter = dead_letter_of(rejection, "web")
    assert len(encoded(letter)) < KAFKA_DEFAULT_MESSAGE_BYTES // 2
    assert letter.payload_truncated and "payload truncated" in letter.reason
    assert letter.payload_bytes == len(pill) and letter.payload_sha256 == hashlib.sha256(pill).hexdigest()
    assert pill.startswith(letter.payload.encode()) and pill.endswith(letter.payload_tail.encode())
    assert len(letter.payload.encode()) == HEAD_BYTES and len(letter.payload_tail.encode()) == TAIL_BYTES
    assert letter.kind == "too_large"


def test_a_payload_up_to_the_limit_is_kept_whole() -> None:
    payload = b'{"a": "' + b"x" * (DEADLETTER_PAYLOAD_BYTES - 9) + b'"}'
    letter = dead_letter_of(reject(payload, "collector", [Problem("", "bad")]))
    assert (letter.payload.encode(), letter.payload_tail, letter.payload_truncated) == (payload, "", False)
    assert letter.reason == "bad" and letter.payload_bytes == len(payload)


def test_a_binary_payload_is_cut_on_its_bytes_and_kept_in_base64() -> None:
    payload = bytes(range(256)) * 1000
    letter = dead_letter_of(reject(payload, "collector", [Problem("", "not UTF-8: invalid byte")]))
    assert letter.payload_encoding == "base64" and letter.payload_truncated and letter.kind == "not_utf8"
    assert base64.b64decode(letter.payload) == payload[:HEAD_BYTES]
    assert base64.b64decode(letter.payload_tail) == payload[-TAIL_BYTES:]


def test_problems_reason_and_source_are_capped() -> None:
    problems = [Problem(f"field_{i}" * 50, "Extra inputs are not permitted") for i in range(10_000)]
    letter = dead_letter_of(Rejection("{}", "importer:" + "d/" * 100_000 + "f.csv:12", tuple(problems)))
    assert len(letter.problems) == 20 and letter.problems[-1] == "... and 9981 more problems"
    assert len(letter.reason) < 3000 and letter.source.endswith("f.csv:12") and len(letter.source) <= 300
    assert letter.kind == "unknown_field"


hostile_text = st.text(alphabet=st.sampled_from('"\\\x00\x01\x1f\u2028\ud7ff\U0001f600a'), min_size=0, max_size=40)


@hypothesis_settings(max_examples=60, deadline=None, database=None)
@given(unit=hostile_text.filter(bool), repeat=st.integers(1, 200_000), problems=st.integers(1, 300),
       problem=hostile_text, binary=st.booleans())
def test_any_rejection_fits_under_the_bound(unit: str, repeat: int, problems: int, problem: str, binary: bool) -> None:
    raw = (unit * repeat).encode("utf-8")[:2_000_000]
    if binary:
        raw = b"\xff" + raw
    rejection = reject(raw, problem * 20, [Problem(problem * 30, problem * 100)] * problems)
    letter = dead_letter_of(rejection, problem)
    assert len(encoded(letter)) <= DEADLETTER_MAX_JSON_BYTES < KAFKA_DEFAULT_MESSAGE_BYTES * 0.6
    assert letter.payload_truncated == (len(raw) > DEADLETTER_PAYLOAD_BYTES)
    assert letter.payload_sha256 == hashlib.sha256(raw).hexdigest()
    assert DeadLetter.model_validate_json(encoded(letter)) == letter


@hypothesis_settings(max_examples=200, deadline=None, database=None)
@given(path=st.text(max_size=60), message=st.text(max_size=60))
def test_kinds_come_from_a_closed_set(path: str, message: str) -> None:
    kind = rejection_kind(Rejection("", "x", (Problem(path, message),)))
    assert kind in FIXED_KINDS | field_kinds(tuple(channels()))
