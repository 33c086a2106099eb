"""Producers stage, simulator core: a person's whole history, journey after journey.

People get a persona, devices and (where they would have one) an e-mail hash; a few pairs share a
device (drawn for the whole crowd at once, the rest from each person's own stream). Each person lives one to three journeys separated by more than the inactivity gap. After
the journeys are written, every device the person used is made to carry identity evidence (a
login at the end of its last visit, if it never had one), so the identity graph equals the person.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from producers.simulator.context import Context
from producers.simulator.personas import PERSONA_WEIGHTS, PERSONAS, script_of
from producers.simulator.timeline import Injection, JourneyBuilder, Person, Touch, new_person

LOGGING_IN = ("researcher", "impulse", "support_heavy")
SHARED_DEVICE_EVERY = 200  # one shared device per this many people
JOURNEY_COUNT_WEIGHTS = (0.5, 0.35, 0.15)  # one, two or three journeys
FIRST_START_SHARE = 0.3  # people start within the first 30 % of the simulated days
LAST_START_SHARE = 0.85  # no journey starts after 85 % of them
LATE_LOGIN_S = 20.0


@dataclass
class History:
    """One person and their journeys, each a list of touches and the friction injected in it."""

    person: Person
    journeys: list[list[Touch]] = field(default_factory=list)
    injections: list[list[Injection]] = field(default_factory=list)


@dataclass(frozen=True)
class Crowd:
    """The draws about everyone at once (the e-mail tag, each person's persona, who shares a
    device), made from the seed's own stream: cheap, and the same in every process that writes
    some of the people."""

    tag: str
    personas: tuple[str, ...]
    shared_devices: dict[int, str]  # person index -> the device they share with one other person


def crowd(ctx: Context, customers: int) -> Crowd:
    """Personas (each one present as soon as there are five people) and shared devices (a family
    laptop two people log in on). `ctx` is the crowd's: its ids are owned by no single person."""
    tag = f"{ctx.rng.getrandbits(24):06x}"
    drawn = ctx.rng.choices(PERSONAS, PERSONA_WEIGHTS, k=max(0, customers - len(PERSONAS)))
    personas = (*PERSONAS[:customers], *drawn)
    candidates = [index for index, persona in enumerate(personas) if persona in LOGGING_IN]
    pairs = min(len(candidates) // 2, max(1, customers // SHARED_DEVICE_EVERY))
    shared: dict[int, str] = {}
    for a, b in zip(*[iter(ctx.rng.sample(candidates, pairs * 2))] * 2, strict=True):
        shared[a] = shared[b] = ctx.uid("a-")
    return Crowd(tag, personas, shared)


def member(ctx: Context, index: int, everyone: Crowd) -> Person:
    """Person `index` of the crowd, their devices drawn from their own stream (`ctx`)."""
    persona = everyone.personas[index]
    devices = 1 if persona == "browser" or ctx.chance(0.6) else 2
    person = new_person(ctx, index, persona, everyone.tag, devices)
    person.shared_device = everyone.shared_devices.get(index)
    return person


def history(ctx: Context, person: Person, start: datetime, days: int, rates: dict[str, float]) -> History:
    """One to three journeys, separated by more than the inactivity gap, then identity evidence."""
    story = History(person)
    t = start + timedelta(days=ctx.uniform(0, days * FIRST_START_SHARE))
    wanted = ctx.rng.choices((1, 2, 3), JOURNEY_COUNT_WEIGHTS)[0]
    for n in range(wanted):
        if n and t > start + timedelta(days=days * LAST_START_SHARE):
            break
        builder = JourneyBuilder(ctx, person, t, rates)
        script_of(person.persona, first_journey=n == 0)(builder)
        story.journeys.append(builder.touches)
        story.injections.append(builder.injections)
        t = builder.end + ctx.journey_gap()
    link_devices(ctx, story)
    return story


def link_devices(ctx: Context, story: History) -> None:
    """Every device used without ever logging in gets a login after its last visit."""
    person = story.person
    if person.email_hash is None:
        return
    proven = {t.identifiers["anonymous_id"] for j in story.journeys for t in j
              if t.event_type in ("login", "order_placed")}
    for device in person.devices:
        if device in proven:
            continue
        last = _last_visit(story, device)
        if last is not None:
            journey, touch = last
            ids = {"anonymous_id": device, "email_hash": person.email_hash}
            journey.append(Touch(touch.time + timedelta(seconds=LATE_LOGIN_S), "web", "web.account", "login",
                                 ids, ctx.uid("we-"), person.persona, {"path": "/login"}))


def _last_visit(story: History, device: str) -> tuple[list[Touch], Touch] | None:
    found = None
    for journey in story.journeys:
        for touch in journey:
            if touch.identifiers.get("anonymous_id") == device and (found is None or touch.time > found[1].time):
                found = (journey, touch)
    return found
