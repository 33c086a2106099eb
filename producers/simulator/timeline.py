"""Producers stage, simulator core: people, their touches and the journey builder.

A `Person` is one simulated human with a persona and the identifiers they use. A `Touch` is one
touchpoint event before it becomes a contract model (mutable while the person's history is
written). `JourneyBuilder` writes one journey session by session with a time cursor, records the
friction it injects (`Injection`), and enforces the quiet periods that keep injected friction
from combining by accident.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from producers.simulator.context import Context
from schemas.events import EVENT_ID_NAMESPACE
from schemas.pii import hash_email, keyed_hash

EVENT_NAMESPACE_BYTES = EVENT_ID_NAMESPACE.bytes
UUID_VARIANT = {digit: "89ab"[int(digit, 16) & 0x3] for digit in "0123456789abcdef"}  # RFC 4122 variant bits
RULES = ("long_wait", "transfers", "abandoned_checkout", "repeat_contact", "email_unanswered",
         "low_csat", "nps_detractor", "poor_navigation", "stalled", "channel_hop", "long_queue")


def event_id_of(channel: str, source_id: str) -> str:
    """`schemas.events.derive_event_id` for a source id (a UUID5), without building `uuid.UUID`
    objects: half the cost, and the simulator derives one per event (tests check they agree).
    The hash of the namespace and channel is taken once per channel and copied."""
    prefix = _id_prefixes.get(channel)
    if prefix is None:
        prefix = _id_prefixes[channel] = hashlib.sha1(b"%s%s/" % (EVENT_NAMESPACE_BYTES, channel.encode()))
    digest = prefix.copy()
    digest.update(source_id.encode())
    hexed = digest.hexdigest()
    return f"{hexed[:8]}-{hexed[8:12]}-5{hexed[13:16]}-{UUID_VARIANT[hexed[16]]}{hexed[17:20]}-{hexed[20:32]}"


_id_prefixes: dict[str, Any] = {}  # channel -> sha1 of the namespace bytes and "<channel>/"


def to_ms(t: datetime) -> datetime:
    """Event times carry milliseconds, as Kafka timestamps and the warehouse do."""
    extra = t.microsecond % 1000
    return t - timedelta(0, 0, extra) if extra else t  # positional: a third cheaper than keywords


def phone_hash(e164: str, secret: bytes) -> str:
    """`schemas.pii.hash_phone` of a number already in E.164, without parsing it again with
    `phonenumbers` (a tenth of planning; tests check both agree)."""
    return keyed_hash("phone:" + e164, secret)


@dataclass
class Person:
    """One simulated human: persona, and the identifiers they use (hashes, never raw PII)."""

    index: int
    persona: str
    devices: list[str]
    email_hash: str | None = None
    loyalty_id: str | None = None
    crm_id: str | None = None
    phone_hash: str | None = None
    shared_device: str | None = None
    logged_in: set[str] = field(default_factory=set)

    @property
    def person_id(self) -> str:
        return f"p{self.index:05d}"

    def crm(self, ctx: Context) -> tuple[str, str]:
        """(crm_id, phone_hash), created on first contact with the call centre or support inbox."""
        if self.crm_id is None or self.phone_hash is None:
            self.crm_id = ctx.uid("crm-", 40)
            self.phone_hash = phone_hash(ctx.phone_number(), ctx.secret)
        return self.crm_id, self.phone_hash

    def loyalty(self, ctx: Context) -> str:
        if self.loyalty_id is None:
            self.loyalty_id = ctx.uid("lc-", 48)
        return self.loyalty_id


def new_person(ctx: Context, index: int, persona: str, tag: str, devices: int) -> Person:
    email = None if persona == "browser" else hash_email(f"p{index:05d}.{tag}@example.com", ctx.secret)
    return Person(index, persona, [ctx.uid("a-") for _ in range(devices)], email)


@dataclass(slots=True)
class Touch:
    """One touchpoint event being written: becomes a contract model (or wire bytes) once its
    arrival, hence its received time, is known."""

    time: datetime
    channel: str
    touchpoint: str
    event_type: str
    identifiers: dict[str, str]
    source_id: str
    segment: str | None = None
    measures: dict[str, Any] = field(default_factory=dict)
    feedback: dict[str, Any] | None = None
    received: datetime | None = None  # set once its arrival is drawn
    context: dict[str, str] | None = None  # context dimensions (producers.simulator.devices)
    _event_id: str | None = field(default=None, repr=False, compare=False)

    @property
    def event_id(self) -> str:
        """Derived when first asked for (after the histories are written, off their critical path)."""
        if self._event_id is None:
            self._event_id = event_id_of(self.channel, self.source_id)
        return self._event_id


@dataclass
class Injection:
    """Friction put in on purpose: the rule, the touch it is about, and its evidence touches.

    A stall is resolved after the history is complete (`stall_end`): its evidence is the pair of
    consecutive events around the gap, whatever was added later.
    """

    rule: str
    subject: Touch | None
    evidence: list[Touch]
    touchpoint: str | None = None
    stall_end: datetime | None = None


class JourneyBuilder:
    """Writes one journey of one person, session by session, with a time cursor `t`."""

    def __init__(self, ctx: Context, person: Person, start: datetime, rates: dict[str, float]) -> None:
        self.ctx, self.person, self.t = ctx, person, start
        self.rates = rates
        self.touches: list[Touch] = []
        self.injections: list[Injection] = []
        self.used_rules: set[str] = set()
        self.contact_quiet_until = start
        self.stall_planned = ctx.chance(rates.get("stalled", 0.0))
        self.pre_sessions = 0

    def emit(self, at: datetime, channel: str, touchpoint: str, event_type: str, identifiers: dict[str, str],
             measures: dict[str, Any] | None = None, feedback: dict[str, Any] | None = None) -> Touch:
        anonymous = len(identifiers) == 1 and "anonymous_id" in identifiers
        touch = Touch(to_ms(at), channel, touchpoint, event_type, identifiers, self.ctx.uid(channel[:2] + "-"),
                      None if anonymous else self.person.persona, {} if measures is None else measures, feedback)
        self.touches.append(touch)
        if at > self.t:
            self.t = at
        return touch

    def inject(self, rule: str) -> bool:
        """Whether to inject `rule` here (at most once per journey and rule)."""
        if rule in self.used_rules or not self.ctx.chance(self.rates.get(rule, 0.0)):
            return False
        self.used_rules.add(rule)
        return True

    def record(self, rule: str, subject: Touch, evidence: list[Touch], touchpoint: str | None = None) -> None:
        self.injections.append(Injection(rule, subject, evidence, touchpoint))

    def next_session(self, pre_purchase: bool = False) -> None:
        """Move the cursor to the next session; before a purchase, maybe through a planned stall."""
        if pre_purchase and self.stall_planned and self.pre_sessions > 0 and "stalled" not in self.used_rules:
            self.used_rules.add("stalled")
            self.t += self.ctx.stall_gap()
            self.injections.append(Injection("stalled", None, [], stall_end=to_ms(self.t)))
        else:
            self.t += self.ctx.session_gap()
        self.pre_sessions += pre_purchase

    def contact_start(self) -> None:
        """A call, inbound mail or service-desk visit: never inside a repeat-contact quiet period."""
        if self.t < self.contact_quiet_until:
            self.t = self.contact_quiet_until + timedelta(hours=self.ctx.uniform(1, 48))

    def later(self, low_s: float, high_s: float) -> datetime:
        return self.t + timedelta(0, low_s + (high_s - low_s) * self.ctx.rng.random())  # ctx.uniform, inlined

    @property
    def end(self) -> datetime:
        return max(t.time for t in self.touches) if self.touches else self.t
