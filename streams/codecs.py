"""Streams adapter: how the worker's data is written as bytes, in topics and tables.

- Customer states (the customer-state table): JSON, zstd-compressed. Records repeat their field
  values, so a state packs ~3x; zstd packs as tightly as deflate at a third of its cost, and every
  batch writes every state it touched. States written before zstd (zlib streams) are still read.
- Work messages between the stages: a JSON array of items, zstd-compressed (`pack`, `unpack`). A
  message packs ~4.7x and carries a whole batch of the worker (10,000 events in ~0.6 MB) where plain
  JSON had to be cut at ~2,900; plain JSON messages (written before packing) are still read, so a
  worker upgraded in place finishes the work already queued.
- Commands on the wire: the typed commands of streams.core.commands as the lists they always were,
  `[tag, *fields]`: `["e", customer, record]`, `["e", customer, record, spec]` (forwarded),
  `["m", absorbed, survivor]`, `["a", customer, revision, records, spec]` (`spec` may be missing,
  as older workers wrote it), `["x", customer, spec]`.
- Output records: a document's JSON, as the model's `model_dump_json` would write it.
"""

from __future__ import annotations

import zlib
from typing import Any

import cramjam
import orjson

from streams.core.commands import Absorb, Command, Forward, Merge, Move, Stitch
from streams.core.fold import CustomerState
from streams.core.records import Record
from streams.core.render import Document

STATE_COMPRESSION_LEVEL = 1  # fastest: state is written once per customer and batch
PACK_LEVEL = 1  # zstd's fastest: ~1 µs per record to pack, less to unpack
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"  # what a zstd frame starts with; older states are zlib streams
JSON_OPTIONS = orjson.OPT_UTC_Z  # "…Z" for UTC, as pydantic writes aware datetimes
TAGS: dict[type, str] = {Stitch: "e", Forward: "e", Merge: "m", Absorb: "a", Move: "x"}


def encode_state(state: CustomerState, events_json: bytes | None = None) -> bytes:
    """A state as stored. `events_json`, when the caller has it, is the JSON of `state.events`
    (`extended_json`): the same bytes, without encoding the records the customer already had again."""
    tail = [state.merged_into] if state.spec is None else [state.merged_into, state.spec]
    if events_json is None:
        raw = orjson.dumps([state.revision, state.events, *tail])
    else:
        raw = b"[%d,%b,%b" % (state.revision, events_json, orjson.dumps(tail)[1:])
    return bytes(cramjam.zstd.compress(raw, level=STATE_COMPRESSION_LEVEL))


def extended_json(events_json: bytes, known: int, events: list[Record]) -> bytes:
    """The JSON of `events`, given `events_json`, the JSON of its first `known` records."""
    fresh = events[known:]
    if not fresh:
        return events_json
    if known == 0:
        return orjson.dumps(fresh)
    return events_json[:-1] + b"," + orjson.dumps(fresh)[1:]


def decode_state(blob: bytes | None) -> CustomerState:
    """A stored state (zstd, or deflate as written before) back to its records."""
    if not blob:
        return CustomerState()
    raw = bytes(cramjam.zstd.decompress(blob)) if blob.startswith(ZSTD_MAGIC) else zlib.decompress(blob)
    revision, events, merged_into, *spec = orjson.loads(raw)
    return CustomerState(revision, events, merged_into, spec[0] if spec else None)


def pack(items: list[Any]) -> bytes:
    """A work message's bytes: the items (records, or commands in their wire format) as JSON, zstd-compressed."""
    return bytes(cramjam.zstd.compress(orjson.dumps(items), level=PACK_LEVEL))


def unpack(value: bytes) -> list[Any]:
    """A work message's items; plain JSON (messages written before packing) is read as it is."""
    if value.startswith(ZSTD_MAGIC):
        value = bytes(cramjam.zstd.decompress(value))
    items: list[Any] = orjson.loads(value)
    return items


def wire_of(command: Command) -> list[Any]:
    """A command as it travels: its tag, then its fields in order."""
    return [TAGS[type(command)], *command]


def command_of(item: list[Any]) -> Command:
    """A command read from the wire (the list a stage-2 worker of any version wrote)."""
    tag = item[0]
    if tag == "e":
        return Stitch(item[1], item[2]) if len(item) < 4 else Forward(item[1], item[2], item[3])
    if tag == "a":
        return Absorb(*item[1:])
    if tag == "m":
        return Merge(item[1], item[2])
    if tag == "x":
        return Move(item[1], item[2])
    raise ValueError(f"not a stage-3 command: tag {tag!r}")


def commands_of(value: bytes) -> list[Command]:
    """The commands of one work message of the customers topic."""
    return [command_of(item) for item in unpack(value)]


def encode_document(document: Document) -> bytes:
    """An output record's JSON, the same bytes the model's `model_dump_json` gives."""
    return orjson.dumps(document.fields, option=JSON_OPTIONS)
