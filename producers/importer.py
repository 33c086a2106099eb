"""Producers stage, file adapter: `journeys import` for call-centre, e-mail and store exports.

Reads CSV or JSON Lines, maps each row with a declarative mapping (producers.mapping), validates
it against the contract and journey map, publishes valid events in bulk and keeps every rejected
row twice: on the dead-letter topic (source `importer:<file>:<line>`) and in a local JSON Lines
rejects file. Returns a summary (read, published, rejected by reason) that equals what a
consumer of the topics reads.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from producers.mapping import Mapping, map_row
from producers.publisher import Publisher
from schemas.channels import channels
from schemas.deadletters import dead_letter_of, rejection_kind
from schemas.errors import ConfigError
from schemas.events import TouchpointEventBase
from schemas.validation import Edge, Problem, Rejection, reject, validate

BULK_EVENTS = 2_000  # valid events handed to the bulk publisher at a time
Progress = Callable[[int], None]  # called with the bytes consumed since the last call


@dataclass
class ImportSummary:
    file: Path
    rejects_file: Path
    read: int = 0
    published: int = 0
    rejected_by_reason: Counter[str] = field(default_factory=Counter)

    @property
    def rejected(self) -> int:
        return sum(self.rejected_by_reason.values())


def check_channel(channel: str, mapping: Mapping, mapping_path: Path, known: tuple[str, ...] | None = None) -> None:
    """`known`: the channels of the settings' journey map (the registry until that map is loaded)."""
    known = known if known is not None else tuple(channels())
    if channel not in known:
        raise ConfigError("--channel", "channel", f"{channel!r} is not registered; known: {', '.join(sorted(known))}")
    if mapping.channel and mapping.channel != channel:
        raise ConfigError(str(mapping_path), "channel", f"the mapping is for {mapping.channel!r}, not {channel!r}")


def read_rows(path: Path, mapping: Mapping) -> Iterator[tuple[int, Any, int]]:
    """(line number, row or a Problem for an unreadable line, bytes consumed) for each record."""
    kind = mapping.format or ("jsonl" if path.suffix.lower() in (".jsonl", ".ndjson", ".json") else "csv")
    with path.open("r", encoding="utf-8", errors="surrogateescape", newline="") as handle:
        yield from (_jsonl_rows(handle) if kind == "jsonl" else _csv_rows(handle, mapping.delimiter))


def _csv_rows(handle: IO[str], delimiter: str) -> Iterator[tuple[int, Any, int]]:
    reader = csv.DictReader(handle, delimiter=delimiter)
    for row in reader:
        size = sum(len(str(v)) + 1 for v in row.values())
        if None in row:  # more cells than header columns
            yield reader.line_num, Problem("", f"{len(row[None]) } cells beyond the header's columns"), size
        else:
            yield reader.line_num, row, size


def _jsonl_rows(handle: IO[str]) -> Iterator[tuple[int, Any, int]]:
    for number, line in enumerate(handle, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except (json.JSONDecodeError, RecursionError) as err:  # RecursionError: nested too deeply to read
            row = Problem("", f"line is not JSON: {err}")
        if not isinstance(row, dict | Problem):
            row = Problem("", f"expected a JSON object per line, got {type(row).__name__}")
        yield number, row, len(line.encode("utf-8", "surrogateescape"))


class Importer:
    """One import run: rows in; events published, rejections dead-lettered and written locally."""

    def __init__(self, publisher: Publisher, mapping: Mapping, channel: str, rejects: IO[str]) -> None:
        self.publisher, self.mapping, self.channel, self.rejects = publisher, mapping, channel, rejects
        settings = publisher.settings
        self._secret = settings.pii_secret.get_secret_value().encode("utf-8")
        self._region = settings.default_phone_region
        self._skew_s = settings.received_skew_s
        self._batch: list[TouchpointEventBase] = []

    def run(self, path: Path, summary: ImportSummary, progress: Progress | None = None) -> ImportSummary:
        for line, row, size in read_rows(path, self.mapping):
            summary.read += 1
            result = self.row_result(row, f"importer:{path.name}:{line}")
            if isinstance(result, Rejection):
                self.keep_rejection(result, summary)
            else:
                self._batch.append(result)
            if len(self._batch) >= BULK_EVENTS:
                summary.published += self._publish()
            if progress is not None:
                progress(size)
        summary.published += self._publish()
        self.publisher.flush()
        return summary

    def row_result(self, row: Any, source: str) -> TouchpointEventBase | Rejection:
        if isinstance(row, Problem):
            return reject(json.dumps(str(row)).encode(), source, [row])
        raw = _encoded(json.dumps(row, ensure_ascii=False, default=str))
        mapped = map_row(row, self.mapping, self.channel, self._secret, self._region)
        if isinstance(mapped, list):
            return reject(raw, source, mapped)
        result = validate(mapped, source, self.publisher.journey_map, Edge(max_skew_s=self._skew_s))
        if isinstance(result, Rejection):  # keep the source row, not the half-built event
            return reject(raw, source, list(result.problems))
        return result

    def keep_rejection(self, rejection: Rejection, summary: ImportSummary) -> None:
        self.publisher.dead_letter(rejection, self.channel)
        self.rejects.write(dead_letter_of(rejection, self.channel).model_dump_json() + "\n")
        summary.rejected_by_reason[rejection_kind(rejection)] += 1

    def _publish(self) -> int:
        sent = self.publisher.publish_many(self._batch) if self._batch else 0
        self._batch = []
        return sent


def _encoded(text: str) -> bytes:
    """A row as bytes: undecodable file bytes come back as they were; a lone surrogate escape
    written in the JSON itself (`"\\ud800"`) cannot, so it is kept as such (the row is rejected)."""
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass")


def default_rejects_path(data_dir: Path, source: Path) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return data_dir / "rejects" / f"{source.stem}-{stamp}.jsonl"


def import_file(publisher: Publisher, path: Path, mapping: Mapping, channel: str,
                rejects_path: Path | None = None, progress: Progress | None = None) -> ImportSummary:
    """Import one file; the caller owns the publisher. Returns the run's summary."""
    rejects_path = rejects_path or default_rejects_path(publisher.settings.data_dir, path)
    rejects_path.parent.mkdir(parents=True, exist_ok=True)
    summary = ImportSummary(file=path, rejects_file=rejects_path)
    with rejects_path.open("w", encoding="utf-8") as rejects:
        return Importer(publisher, mapping, channel, rejects).run(path, summary, progress)
