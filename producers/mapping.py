"""Producers stage, pure core of the file importer: a declarative mapping turns a row into an event.

A mapping file (YAML, examples in producers/mappings/) says which source column feeds which event
fields (`wait_seconds: measures.wait_s`; a list of paths feeds several), how to convert it (type,
value map), which fields are constant, which lookup tables set several fields from one value (an
export's event name decides touchpoint, event type and step together), and how to read the event
time (format and time zone). Raw `identifiers.email` and
`identifiers.phone` are hashed here, at the edge. A row that cannot be mapped yields problems,
never an exception; validation against the contract happens afterwards, as for every producer.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from schemas.errors import ConfigError
from schemas.pii import PiiError, hash_email, hash_phone
from schemas.validation import Problem

TRUE_WORDS = {"true", "yes", "y", "1", "t"}
FALSE_WORDS = {"false", "no", "n", "0", "f"}
FieldType = Literal["str", "int", "float", "bool"]
FIELD_PATH = r"^[a-z_]+(\.[a-z_]+)*$"
FieldPath = Annotated[str, Field(pattern=FIELD_PATH)]


class MappingModel(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class FieldMap(MappingModel):
    """One source column: the event fields it feeds, its type and an optional value map."""

    to: FieldPath | tuple[FieldPath, ...]  # one path, or several that all get the converted value
    type: FieldType = "str"
    values: dict[str, Any] | None = None  # source value -> event value; unmapped values are refused

    @property
    def targets(self) -> tuple[str, ...]:
        return (self.to,) if isinstance(self.to, str) else self.to


class Lookup(MappingModel):
    """A lookup table: one source value sets several event fields at once."""

    column: str
    values: dict[str, dict[FieldPath, Any]]  # source value -> {event field path: value}
    default: dict[FieldPath, Any] | None = None  # for values not listed; without it they reject the row

    @field_validator("values", mode="before")
    @classmethod
    def _text_keys(cls, raw: Any) -> Any:
        """YAML reads `1:` or `yes:` as a number or a boolean; source cells are text."""
        return {str(k): v for k, v in raw.items()} if isinstance(raw, dict) else raw


class TimeSpec(MappingModel):
    column: str
    format: str = "iso"  # iso | epoch_s | epoch_ms | a strptime pattern such as %d/%m/%Y %H:%M
    timezone: str = "UTC"  # applied to times written without an offset

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, name: str) -> str:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError) as err:
            raise ValueError(f"unknown time zone {name!r}") from err
        return name


class Mapping(MappingModel):
    """A whole mapping file."""

    channel: str | None = None
    format: Literal["csv", "jsonl"] | None = None  # default: from the file's extension
    delimiter: str = Field(",", min_length=1, max_length=1)
    time: TimeSpec
    source_id: str | None = None  # column with the source's own id: a re-import is a duplicate
    constants: dict[str, Any] = Field(default_factory=dict)
    lookups: tuple[Lookup, ...] = ()  # applied after the constants, before the fields
    fields: dict[str, FieldMap] = Field(default_factory=dict)

    @field_validator("fields", mode="before")
    @classmethod
    def _shorthand(cls, raw: Any) -> Any:
        """`column: measures.wait_s` is short for `column: {to: measures.wait_s}`, and
        `column: [a, b]` for `column: {to: [a, b]}`."""
        if isinstance(raw, dict):
            return {k: {"to": v} if isinstance(v, str | list) else v for k, v in raw.items()}
        return raw


def load_mapping(path: Path) -> Mapping:
    """Read and validate a mapping file; errors name the file, the field and the reason."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise ConfigError(str(path), "(file)", f"cannot read: {err.strerror}") from err
    except yaml.YAMLError as err:
        raise ConfigError(str(path), "(syntax)", str(err).replace("\n", " ")) from err
    try:
        return Mapping.model_validate(raw)
    except ValidationError as err:
        first = err.errors()[0]
        raise ConfigError(str(path), ".".join(str(p) for p in first["loc"]) or "(root)", first["msg"]) from err


def map_row(row: dict[str, Any], mapping: Mapping, channel: str, secret: bytes,
            phone_region: str = "GB") -> dict[str, Any] | list[Problem]:
    """A source row -> an event payload (not yet validated), or the problems that prevent it."""
    document: dict[str, Any] = {"channel": channel}
    problems: list[Problem] = []
    for path, value in mapping.constants.items():
        put(document, path, value)
    for table in mapping.lookups:
        _look_up(row, table, document, problems)
    for column, spec in mapping.fields.items():
        _map_column(row, column, spec, document, problems)
    _map_time(row, mapping.time, document, problems)
    if mapping.source_id and (source_id := _text(lookup(row, mapping.source_id))):
        document["source_id"] = source_id
    _hash_pii(document, secret, phone_region, problems)
    return problems or document


def _map_column(row: dict[str, Any], column: str, spec: FieldMap, document: dict[str, Any],
                problems: list[Problem]) -> None:
    raw = lookup(row, column)
    if raw is None or raw == "":
        return
    try:
        value = convert(raw, spec)
    except (ValueError, OverflowError) as err:  # OverflowError: a number too large for a float
        problems.append(Problem(column, str(err)))
        return
    for path in spec.targets:
        put(document, path, value)


def _look_up(row: dict[str, Any], table: Lookup, document: dict[str, Any], problems: list[Problem]) -> None:
    raw = lookup(row, table.column)
    key = "" if raw is None else _text(raw)
    fields = table.values.get(key, table.default)
    if fields is None:
        listed = ", ".join(sorted(table.values))
        problems.append(Problem(table.column, f"{key!r} is not in the lookup table ({listed})" if key else
                                f"empty; the lookup table needs one of: {listed}"))
        return
    for path, value in fields.items():
        put(document, path, value)


def _map_time(row: dict[str, Any], spec: TimeSpec, document: dict[str, Any], problems: list[Problem]) -> None:
    raw = lookup(row, spec.column)
    if raw is None or raw == "":
        problems.append(Problem(spec.column, "the event time is missing"))
        return
    try:
        document["event_time"] = parse_time(raw, spec).isoformat()
    except (ValueError, OverflowError, OSError) as err:
        problems.append(Problem(spec.column, f"cannot read {raw!r} as {spec.format}: {err}"))


def _hash_pii(document: dict[str, Any], secret: bytes, region: str, problems: list[Problem]) -> None:
    """Raw e-mail and phone become keyed hashes; the raw values leave the document."""
    identifiers = document.get("identifiers")
    if not isinstance(identifiers, dict):
        return
    hashers = {"email": lambda raw: hash_email(raw, secret), "phone": lambda raw: hash_phone(raw, secret, region)}
    for kind, hasher in hashers.items():
        if kind in identifiers:
            raw = str(identifiers.pop(kind))
            try:
                identifiers[f"{kind}_hash"] = hasher(raw)
            except PiiError as err:
                problems.append(Problem(f"identifiers.{kind}", str(err)))


def convert(raw: Any, spec: FieldMap) -> Any:
    """A source value in the field's type, through the value map when there is one."""
    if spec.values is not None:
        key = _text(raw)
        if key not in spec.values:
            raise ValueError(f"{key!r} is not one of {sorted(spec.values)}")
        return spec.values[key]
    if spec.type == "str":
        return _text(raw)
    if spec.type == "bool":
        return _boolean(raw)
    number = float(str(raw).strip().replace(",", "")) if isinstance(raw, str) else raw
    if spec.type == "int":
        if isinstance(number, bool) or float(number) != int(float(number)):
            raise ValueError(f"{raw!r} is not a whole number")
        return int(float(number))
    return float(number)


def parse_time(raw: Any, spec: TimeSpec) -> datetime:
    """An event time, time-zone aware: naive values are read in the mapping's time zone."""
    if spec.format in ("epoch_s", "epoch_ms"):
        seconds = float(raw) / (1000 if spec.format == "epoch_ms" else 1)
        return datetime.fromtimestamp(seconds, UTC)
    text = _text(raw)
    parsed = datetime.fromisoformat(text) if spec.format == "iso" else datetime.strptime(text, spec.format)
    zone: tzinfo = ZoneInfo(spec.timezone)
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=zone)


def lookup(row: dict[str, Any], column: str) -> Any:
    """A column's value; `a.b` also reaches into nested JSON objects."""
    if column in row:
        return row[column]
    value: Any = row
    for part in column.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def put(document: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    for part in parents:
        document = document.setdefault(part, {})
    # a mapping's constants and lookup values are shared by every row: a row gets its own copy
    document[last] = copy.deepcopy(value) if isinstance(value, dict | list) else value


def _text(raw: Any) -> str:
    return raw.strip() if isinstance(raw, str) else str(raw)


def _boolean(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    word = _text(raw).lower()
    if word in TRUE_WORDS or word in FALSE_WORDS:
        return word in TRUE_WORDS
    raise ValueError(f"{raw!r} is not a yes/no value")
