"""Producers stage, simulator core: when and how each event reaches the pipeline.

Web and e-mail events arrive as they happen. Store and call-centre systems export in batches: their
events arrive at a later batch boundary (up to ~48 h late, always within the journey map's allowed
lateness) and out of order. About 1 % of events are delivered twice (same event id) and about
0.5 % are also delivered as a malformed copy (raw bytes) that the pipeline must dead-letter. All
of it is drawn per person, from that person's own random stream.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from operator import itemgetter
from typing import NamedTuple

from producers.simulator.context import HOUR_S, Context
from producers.simulator.timeline import Touch
from producers.simulator.wire import event_value
from schemas.channels import channels
from schemas.events import Feedback, Identifiers, TouchpointEventBase
from schemas.trusted import construct

BATCH_INTERVAL_H = {"store": 6.0, "call_centre": 4.0}
MAX_BATCH_DELAY_H = 48.0
LATENESS_SAFETY = 0.66  # batches stay within this share of allowed_lateness_hours
DUPLICATE_SHARE = 0.01
MALFORMED_SHARE = 0.005
DUPLICATE_DELAY_S = (1.0, 2 * HOUR_S)
MALFORMED_SOURCE = "simulator"
BY_ARRIVAL = itemgetter(0, 1)  # (arrival_s, order) of an Arrival



@dataclass(frozen=True)
class Delivery:
    """One message to publish: an event (or raw malformed bytes) and its arrival offset from start."""

    arrival_s: float
    payload: TouchpointEventBase | bytes
    channel: str
    order: float  # tie-break among deliveries of one batch: out of order, but deterministic


class Arrival(NamedTuple):
    """A delivery as drawn, before it becomes a contract model or wire bytes: a touch (its
    received time set) or a malformed payload."""

    arrival_s: float
    order: float
    channel: str
    payload: Touch | bytes


def arrival_time(ctx: Context, touch: Touch, start: datetime) -> datetime:
    """As it happens for web and e-mail; a later batch boundary for store and call centre."""
    interval_h = BATCH_INTERVAL_H.get(touch.channel)
    if interval_h is None:
        return touch.time
    max_delay_h = min(MAX_BATCH_DELAY_H, ctx.journey_map.journey.allowed_lateness_hours * LATENESS_SAFETY)
    ready_h = (touch.time - start).total_seconds() / HOUR_S + ctx.uniform(0.2, max(0.2, max_delay_h - interval_h))
    batch_h = math.ceil(ready_h / interval_h) * interval_h
    return max(touch.time, start + timedelta(hours=batch_h))


def arrivals(ctx: Context, touches: list[Touch], start: datetime) -> tuple[list[Arrival], int, int]:
    """One person's touches as arrivals (not yet in order), each maybe also delivered twice or as a
    malformed copy: one draw decides both, so the shares stay exactly DUPLICATE_SHARE and
    MALFORMED_SHARE. Sets each touch's received time. Returns (arrivals, duplicates, malformed)."""
    out: list[Arrival] = []
    duplicates = broken = 0
    rng = ctx.rng
    for touch in touches:
        touch.received = arrival_time(ctx, touch, start)
        offset = (touch.received - start).total_seconds()
        out.append(Arrival(offset, rng.random(), touch.channel, touch))
        fate = rng.random()
        if fate < DUPLICATE_SHARE:
            out.append(Arrival(offset + ctx.uniform(*DUPLICATE_DELAY_S), rng.random(), touch.channel, touch))
            duplicates += 1
        elif fate < DUPLICATE_SHARE + MALFORMED_SHARE:
            out.append(Arrival(offset, rng.random(), touch.channel, malformed(ctx, touch)))
            broken += 1
    return out, duplicates, broken


def in_arrival_order(drawn: list[Arrival]) -> list[Arrival]:
    drawn.sort(key=BY_ARRIVAL)
    return drawn


def as_deliveries(drawn: list[Arrival]) -> list[Delivery]:
    """Arrivals with contract models (a duplicate shares its original's model)."""
    events: dict[int, TouchpointEventBase] = {}
    out = []
    for arrival_s, order, channel, payload in drawn:
        if isinstance(payload, Touch):
            event = events.get(id(payload))
            if event is None:
                event = events[id(payload)] = to_event(payload)
            out.append(Delivery(arrival_s, event, channel, order))
        else:
            out.append(Delivery(arrival_s, payload, channel, order))
    return out


def to_event(touch: Touch) -> TouchpointEventBase:
    """The contract model of a touch, built without re-validating it (validation was a third of
    the simulator's time): the simulator is our own trusted generator, and tests run every event
    it writes through `schemas.validation.validate` and compare the result with this model."""
    assert touch.received is not None, "a touch becomes an event once its arrival is drawn"
    channel = channels()[touch.channel]
    feedback = None if touch.feedback is None else construct(Feedback, touch.feedback)
    return construct(channel.model, {
        "event_id": touch.event_id, "source_id": touch.source_id, "event_time": touch.time,
        "received_time": touch.received, "channel": touch.channel, "touchpoint": touch.touchpoint,
        "event_type": touch.event_type, "identifiers": construct(Identifiers, touch.identifiers),
        "segment": touch.segment, "measures": construct(channel.measures, touch.measures), "feedback": feedback,
        "context": touch.context or {}})


def malformed(ctx: Context, touch: Touch) -> bytes:
    """A broken copy of a real event: truncated, mistyped, without identifiers, unknown channel, not UTF-8."""
    return ctx.rng.choice(BREAKERS)(ctx, event_value(touch))


def _truncated(ctx: Context, raw: bytes) -> bytes:
    return raw[: ctx.rng.randint(1, len(raw) - 2)]


def _mistyped(ctx: Context, raw: bytes) -> bytes:
    data = json.loads(raw)
    data["event_time"] = ctx.rng.choice(["yesterday", 17, "2026-13-45T99:00:00Z"])
    return json.dumps(data).encode("utf-8")


def _anonymous(ctx: Context, raw: bytes) -> bytes:
    data = json.loads(raw)
    data["identifiers"] = {}
    return json.dumps(data).encode("utf-8")


def _unknown_channel(ctx: Context, raw: bytes) -> bytes:
    data = json.loads(raw)
    data["channel"] = ctx.rng.choice(["fax", "pigeon", "telex"])
    return json.dumps(data).encode("utf-8")


def _not_utf8(ctx: Context, raw: bytes) -> bytes:
    cut = ctx.rng.randint(1, len(raw) - 1)
    return raw[:cut] + b"\xff\xfe" + raw[cut:]


BREAKERS = (_truncated, _mistyped, _anonymous, _unknown_channel, _not_utf8)
