"""The channel registry: which channels exist, with their event types and typed measures.

Channels are declared in the journey map (`channels:` in schemas/journey_map.yaml): a name, its
event types and its measures (schemas.measures). This module turns each declaration into a
frozen pydantic event model, so adding a channel or an event type is an edit of the map, not of
Python (docs/adding-a-channel.md). The shipped map's channels are registered on import; loading
another map (`load_journey_map`) makes its channels the registered ones, so every entrance, the
worker and the topics follow the map the settings name. A plugin written in Python may still
`register_channel(...)` with its own measures model; plugin channels stay registered whatever map
is loaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, create_model, field_validator, model_validator
from pydantic.json_schema import JsonDict

from schemas.events import Measures, Name, TouchpointEventBase
from schemas.measures import MeasureSpec

FEEDBACK = "feedback"  # accepted on every channel
SHIPPED_MAP_PATH = Path(__file__).with_name("journey_map.yaml")  # as schemas.journeymap.DEFAULT_MAP_PATH


class EventTypeSpec(BaseModel):
    """One event type of a channel: a name (`chat_started`) and what it means."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: Name
    description: str = ""


class ChannelSpec(BaseModel):
    """A channel as the map declares it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=40)]
    description: str = ""
    event_types: tuple[EventTypeSpec, ...] = Field(min_length=1)
    measures: tuple[MeasureSpec, ...] = ()

    @field_validator("event_types", mode="before")
    @classmethod
    def _names_alone(cls, value: Any) -> Any:
        """`- page_view` is short for `- {name: page_view}`."""
        if isinstance(value, list | tuple):
            return [{"name": item} if isinstance(item, str) else item for item in value]
        return value

    @model_validator(mode="after")
    def _unique(self) -> ChannelSpec:
        for what, names in (("event_types", [t.name for t in self.event_types]),
                            ("measures", [m.name for m in self.measures])):
            twice = sorted({n for n in names if names.count(n) > 1})
            if twice:
                raise ValueError(f"{what}: {', '.join(twice)} declared twice")
        return self


@dataclass(frozen=True)
class Channel:
    """A registered channel: its name, event types, measures model and concrete event model."""

    name: str
    event_types: tuple[str, ...]
    measures: type[Measures]
    model: type[TouchpointEventBase]
    spec: ChannelSpec | None = None  # None: registered from Python (a plugin)


_FROM_MAP: dict[str, Channel] = {}
_PLUGINS: dict[str, Channel] = {}
_adapter: TypeAdapter[Any] | None = None


def build_channel(spec: ChannelSpec) -> Channel:
    """The models of a declared channel: its measures model and its event model."""
    fields: dict[str, Any] = {m.name: m.field() for m in spec.measures}
    measures = create_model(f"{_camel(spec.name)}Measures", __base__=Measures,
                            __doc__=spec.description or f"What the {spec.name} channel measures.", **fields)
    described = {t.name: t.description for t in spec.event_types if t.description}
    types = tuple(t.name for t in spec.event_types)
    return _channel(spec.name, types, measures, described, spec)


def register_channel(name: str, event_types: tuple[str, ...], measures: type[Measures]) -> Channel:
    """Declare a channel from Python (a plugin): events with `channel: name` validate against `measures`."""
    global _adapter
    channel = _channel(name, event_types, measures, {}, None)
    _PLUGINS[name] = channel
    _adapter = None
    return channel


def unregister_channel(name: str) -> None:
    """Forget a plugin channel (for tests and plugins that register one temporarily)."""
    global _adapter
    _PLUGINS.pop(name, None)
    _adapter = None


def use_map_channels(specs: tuple[ChannelSpec, ...]) -> None:
    """Make these the map's channels. A channel declared as before keeps its models (events built
    with them stay equal to events validated later); a changed or new one is built again."""
    global _FROM_MAP, _adapter
    built = {s.name: (old if (old := _FROM_MAP.get(s.name)) is not None and old.spec == s else build_channel(s))
             for s in specs}
    if list(built.items()) != list(_FROM_MAP.items()):
        _FROM_MAP, _adapter = built, None


def channels() -> dict[str, Channel]:
    """Registered channels by name: the map's, in its order, then plugins."""
    return {**_FROM_MAP, **_PLUGINS}


def plugin_channels() -> frozenset[str]:
    return frozenset(_PLUGINS)


def event_adapter() -> TypeAdapter[Any]:
    """A validator for any registered channel's event, dispatching on `channel` in Rust."""
    global _adapter
    if _adapter is None:
        models = tuple(c.model for c in channels().values())
        union: Any = models[0] if len(models) == 1 else Annotated[Union[models], Field(discriminator="channel")]  # noqa: UP007
        _adapter = TypeAdapter(union)
    return _adapter


@cache
def shipped_channel_specs() -> tuple[ChannelSpec, ...]:
    """The `channels:` section of the shipped journey map (it is checked in full by schemas.journeymap)."""
    raw = safe_yaml(SHIPPED_MAP_PATH.read_text(encoding="utf-8"))
    return tuple(ChannelSpec.model_validate(entry) for entry in raw["channels"])


def safe_yaml(text: str) -> Any:
    """yaml.safe_load, with libyaml's loader where installed: a tenth of the time on a whole map
    (every process, and each pool process of the worker, loads one at start)."""
    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def _channel(name: str, event_types: tuple[str, ...], measures: type[Measures], described: dict[str, str],
             spec: ChannelSpec | None) -> Channel:
    types = tuple(dict.fromkeys((*event_types, FEEDBACK)))
    extra: JsonDict | None = {"x-event-types": dict(described)} if described else None
    fields: dict[str, Any] = {
        "channel": (Literal[name], Field(description="Channel name.")),
        "event_type": (Literal[types], Field(description="What happened.", json_schema_extra=extra)),
        "measures": (measures, Field(default_factory=measures, description=f"{name} measures.")),
    }
    model = create_model(f"{_camel(name)}Event", __base__=TouchpointEventBase,
                         __doc__=f"A touchpoint event on the {name} channel.", **fields)
    return Channel(name, types, measures, model, spec)


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


use_map_channels(shipped_channel_specs())
WEB, CALL_CENTRE, EMAIL, STORE = (_FROM_MAP[name] for name in ("web", "call_centre", "email", "store"))

# The shipped channels' models, for type hints and direct construction in Python producers and tests.
WebEvent, WebMeasures = WEB.model, WEB.measures
CallCentreEvent, CallCentreMeasures = CALL_CENTRE.model, CALL_CENTRE.measures
EmailEvent, EmailMeasures = EMAIL.model, EMAIL.measures
StoreEvent, StoreMeasures = STORE.model, STORE.measures
TouchpointEvent = TouchpointEventBase
