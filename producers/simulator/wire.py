"""Producers stage, simulator core: a touch as the bytes its contract model would put on the wire.

`journeys simulate` publishes hundreds of thousands of events; building a pydantic model for each
only to serialise it again cost a third of the run. `event_value(touch)` writes, byte for byte,
what `model_dump_json()` of the touch's contract event writes (every field in model order, absent
ones as their defaults; orjson and pydantic format datetimes and floats alike), and `event_key`
the strongest identifier, as `producers.core.event_key` does. The field orders and defaults are
read from the contract models, so a contract change follows; tests compare both encodings for
every event of a simulation and run each one through `schemas.validation.validate`.
"""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import BaseModel

from producers.simulator.timeline import Touch
from schemas.channels import channels
from schemas.events import IDENTIFIER_KINDS, Feedback, Identifiers

Template = dict[str, Any]


def event_value(touch: Touch) -> bytes:
    """The event's JSON, as its contract model's `model_dump_json()` writes it."""
    assert touch.received is not None, "a touch is encoded once its arrival is drawn"
    envelope, measures = _by_channel.get(touch.channel) or _templates(touch.channel)
    fields = envelope.copy()  # item by item below: cheaper than update(**values)
    fields["event_id"] = touch.event_id
    fields["source_id"] = touch.source_id
    fields["event_time"] = touch.time
    fields["received_time"] = touch.received
    fields["channel"] = touch.channel
    fields["touchpoint"] = touch.touchpoint
    fields["event_type"] = touch.event_type
    fields["identifiers"] = ids = IDENTIFIERS.copy()
    ids.update(touch.identifiers)
    fields["segment"] = touch.segment
    fields["measures"] = filled = measures.copy()
    filled.update(touch.measures)
    fields["context"] = touch.context or {}
    if touch.feedback is not None:
        fields["feedback"] = feedback = FEEDBACK.copy()
        feedback.update(touch.feedback)
    return orjson.dumps(fields, option=orjson.OPT_UTC_Z)


def event_key(touch: Touch) -> bytes:
    """The Kafka key: the strongest identifier, `kind:value`."""
    ids = touch.identifiers
    for kind in IDENTIFIER_KINDS:
        value = ids.get(kind)
        if value:
            return f"{kind}:{value}".encode()
    raise ValueError(f"a touch without identifiers: {touch.source_id}")


def defaults(model: type[BaseModel]) -> Template:
    """Every field of `model`, in order, with its default (None where it has none; an empty container
    where the model makes one, as `context`)."""
    return {name: info.default_factory() if info.default_factory in (dict, list)
            else None if info.is_required() or info.default_factory else info.default
            for name, info in model.model_fields.items()}


_by_channel: dict[str, tuple[Template, Template]] = {}


def measures_template(channel: str) -> Template:
    """The channel's measures, every one at its default (a copy to fill)."""
    return (_by_channel.get(channel) or _templates(channel))[1].copy()


def _templates(channel: str) -> tuple[Template, Template]:
    found = _by_channel.get(channel)
    if found is None:
        registered = channels()[channel]
        found = _by_channel[channel] = (defaults(registered.model), defaults(registered.measures))
    return found


IDENTIFIERS = defaults(Identifiers)
FEEDBACK = defaults(Feedback)
