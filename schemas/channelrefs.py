"""What the journey map names must be declared: channels and event types of touchpoints and rules.

The map declares its channels (schemas.channels); its touchpoints, phase rules and identity rules
then name channels and event types. A name that is declared nowhere (a typo, a channel removed
from the map) would silently match nothing, so the map is refused on load with the path of the
name and what is declared instead. Rule sections added later (friction rules) can check their
names with `declared_event_types`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import NamedTuple

from schemas.channels import FEEDBACK, ChannelSpec, channels, plugin_channels
from schemas.errors import ConfigError


class Reference(NamedTuple):
    """One place of the map that names a channel (None: any) and event types, e.g. `phase_rules.2`."""

    path: str
    channel: str | None
    event_types: tuple[str, ...] = ()


def check_channel_references(specs: Sequence[ChannelSpec], references: Iterable[Reference], source: str) -> None:
    """Every channel and event type the map names is declared; else ConfigError with its path."""
    problems = channel_reference_problems(specs, references)
    if problems:
        raise ConfigError(source, *problems[0])


def channel_reference_problems(specs: Sequence[ChannelSpec], references: Iterable[Reference]) -> list[tuple[str, str]]:
    """(path, reason) for each channel or event type the map names but does not declare."""
    names = [c.name for c in specs]
    again = [i for i, name in enumerate(names) if name in names[:i]]
    if again:
        return [(f"channels.{again[0]}.name", f"channel {names[again[0]]!r} is declared twice")]
    types = declared_event_types(specs)
    return [problem for ref in references for problem in _rule_problems(ref.path, ref.channel, ref.event_types, types)]


def declared_event_types(specs: Sequence[ChannelSpec]) -> dict[str, set[str]]:
    """Channel -> its event types (`feedback` included): the map's channels, then plugins'."""
    types = {c.name: {t.name for t in c.event_types} | {FEEDBACK} for c in specs}
    return types | {name: set(channel.event_types) for name, channel in channels().items()
                    if name in plugin_channels()}


def _rule_problems(path: str, channel: str | None, event_types: tuple[str, ...],
                   types: dict[str, set[str]]) -> list[tuple[str, str]]:
    if channel is not None and channel not in types:
        return [(f"{path}.channel", _unknown_channel(channel, types))]
    allowed = types[channel] if channel is not None else set().union(*types.values())
    where = f"channel {channel!r}" if channel is not None else "any channel"
    return [(f"{path}.event_types.{j}", f"event type {name!r} is not declared on {where} "
                                        f"(declared: {', '.join(sorted(allowed))})")
            for j, name in enumerate(event_types) if name not in allowed]


def _unknown_channel(name: str, types: dict[str, set[str]]) -> str:
    return f"channel {name!r} is not registered: declare it under channels (known: {', '.join(sorted(types))})"


