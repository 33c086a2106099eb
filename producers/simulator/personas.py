"""Producers stage, simulator core: the personas and how each one journeys.

Five personas, each a small script over sessions: a researcher who buys online, a store-first
buyer, an impulse buyer, a support-heavy customer and a browser who never buys. Sequence friction
(abandoned checkout, channel hop, repeat contact, unanswered e-mail, stall) is injected here, with
the spacing that makes each rule fire exactly once and nothing else fire by accident.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from producers.simulator import sessions as s
from producers.simulator.timeline import JourneyBuilder

PERSONAS = ("researcher", "store_first", "impulse", "support_heavy", "browser")
PERSONA_WEIGHTS = (0.25, 0.2, 0.15, 0.15, 0.25)
HOP_AFTER_CHECKOUT_H = (1.0, 20.0)
RESUME_AFTER_ABANDON_H = 26.0
REPEAT_AFTER_DAYS = (0.5, 6.0)
QUIET_AFTER_UNRESOLVED_DAYS = 8.0
FOLLOW_UP_CALL_DAYS = (1.5, 4.0)
STORES = tuple(f"store-{n:02d}" for n in range(1, 13))


def research(b: JourneyBuilder, sessions: int, compare: bool = True) -> None:
    """Web research sessions before a purchase (anonymous until a login on that device)."""
    for n in range(sessions):
        b.next_session(pre_purchase=True)
        pages = b.ctx.rng.choices(["content", "search", "product"], k=b.ctx.rng.randint(1, 4))
        if compare and n == sessions - 1:
            pages.append("compare")
        s.web_visit(b, b.ctx.rng.choice(b.person.devices), pages)


def shared_device_visit(b: JourneyBuilder) -> None:
    """A visit on the household's shared tablet: the person signs in, then browses pages that carry
    only the tablet's id (the site does not repeat who signed in), so only the sign-in says who
    it was. The pages are theirs: they are the one holding the tablet."""
    device = b.person.shared_device
    if device is not None:
        b.next_session(pre_purchase=True)
        s.web_visit(b, device, ["product", "product"], sign_in=True, anonymous=True)


def buy_online(b: JourneyBuilder) -> None:
    """Checkout on the web, maybe after an abandoned attempt (and maybe a call about it)."""
    device = b.ctx.rng.choice(b.person.devices)
    b.next_session()
    if b.inject("abandoned_checkout"):
        step = s.checkout(b, device, abandon=True)
        b.record("abandoned_checkout", step, [step])
        if b.inject("channel_hop"):
            b.t = step.time + timedelta(hours=b.ctx.uniform(*HOP_AFTER_CHECKOUT_H))
            hop = s.call(b, "sales", may_inject=False)
            b.record("channel_hop", hop, [step, hop])
        b.t = max(b.t, step.time + timedelta(hours=RESUME_AFTER_ABANDON_H + b.ctx.uniform(0, 24)))
    s.checkout(b, device)


def after_sales(b: JourneyBuilder, contacts: int) -> None:
    """Help, support contacts (calls, mails, service desk) and feedback after a purchase."""
    for _ in range(contacts):
        b.next_session()
        kind = b.ctx.rng.choice(["help", "call", "mail", "desk"] if b.person.loyalty_id else ["help", "call", "mail"])
        if kind == "help":
            s.help_visit(b, b.ctx.rng.choice(sorted(b.person.logged_in & set(b.person.devices))
                                              or b.person.devices))
            continue
        b.contact_start()
        if kind == "call" and b.inject("repeat_contact"):
            unresolved_contact(b)
        elif kind == "mail" and b.inject("email_unanswered"):
            unanswered_mail(b)
        else:
            contact(b, kind)
    if b.ctx.chance(0.6):
        b.next_session()
        s.feedback(b, b.ctx.rng.choice(["web.checkout", "call_centre.support", "email.support", "web.help"]))


def contact(b: JourneyBuilder, kind: str) -> None:
    if kind == "call":
        s.call(b, "support")
    elif kind == "mail":
        s.inbound_mail(b)
    else:
        s.service_desk(b, b.ctx.rng.choice(STORES), is_return=b.ctx.chance(0.3))


def unresolved_contact(b: JourneyBuilder) -> None:
    """An unresolved call, then exactly one more contact within the repeat window, then quiet."""
    first = s.call(b, "support", resolved=False)
    window = b.ctx.limits.repeat_contact_days
    low, high = (window * f / 7 for f in REPEAT_AFTER_DAYS)
    b.t = first.time + timedelta(days=b.ctx.uniform(low, high))
    kinds = ["call", "mail", "desk"] if b.person.loyalty_id else ["call", "mail"]
    kind = b.ctx.rng.choice(kinds)
    repeat = s.call(b, "support") if kind == "call" else (
        s.inbound_mail(b) if kind == "mail" else s.service_desk(b, b.ctx.rng.choice(STORES)))
    b.record("repeat_contact", repeat, [first, repeat])
    quiet_days = window * QUIET_AFTER_UNRESOLVED_DAYS / 7
    b.contact_quiet_until = first.time + timedelta(days=quiet_days)


def unanswered_mail(b: JourneyBuilder) -> None:
    """An inbound mail answered late, or never (then the customer calls days later)."""
    if b.ctx.chance(0.5):
        received = s.inbound_mail(b, reply="late")
    else:
        received = s.inbound_mail(b, reply="none")
        b.t = received.time + timedelta(days=b.ctx.uniform(*FOLLOW_UP_CALL_DAYS))
        s.call(b, "support")
    b.record("email_unanswered", received, [received])


def researcher(b: JourneyBuilder) -> None:
    if b.ctx.chance(0.5):
        s.campaign(b, clicked=True)
    shared_device_visit(b)
    research(b, b.ctx.rng.randint(2, 4))
    if b.ctx.chance(0.2):
        b.next_session(pre_purchase=True)
        s.call(b, "sales")
    if b.ctx.chance(0.85):
        buy_online(b)
        after_sales(b, b.ctx.rng.choice([0, 0, 1, 2]))


def store_first(b: JourneyBuilder, must_buy: bool) -> None:
    if b.ctx.chance(0.6):
        research(b, b.ctx.rng.randint(1, 2), compare=False)
    store = b.ctx.rng.choice(STORES)
    for _ in range(b.ctx.rng.randint(1, 2)):
        b.next_session(pre_purchase=True)
        s.store_visit(b, store)
    if must_buy or b.ctx.chance(0.8):
        b.next_session()
        s.store_purchase(b, store)
        after_sales(b, b.ctx.rng.choice([0, 1, 1, 2]))


def impulse(b: JourneyBuilder) -> None:
    s.campaign(b, clicked=True)
    shared_device_visit(b)
    b.t += timedelta(minutes=b.ctx.uniform(1, 20))
    s.web_visit(b, b.ctx.rng.choice(b.person.devices), ["product"])
    b.pre_sessions += 1
    buy_online(b)
    if b.ctx.chance(0.5):
        after_sales(b, 0)


def support_heavy(b: JourneyBuilder) -> None:
    shared_device_visit(b)
    research(b, b.ctx.rng.randint(1, 2))
    if b.ctx.chance(0.4):
        store = b.ctx.rng.choice(STORES)
        b.next_session(pre_purchase=True)
        s.store_visit(b, store)
        b.next_session()
        s.store_purchase(b, store)
    else:
        buy_online(b)
    after_sales(b, b.ctx.rng.randint(2, 5))


def browser(b: JourneyBuilder) -> None:
    for _ in range(b.ctx.rng.randint(2, 6)):
        b.next_session(pre_purchase=True)
        kinds = ["content", "search", "product", "compare"]
        s.web_visit(b, b.person.devices[0], b.ctx.rng.choices(kinds, k=b.ctx.rng.randint(1, 5)))


def script_of(persona: str, first_journey: bool) -> Callable[[JourneyBuilder], None]:
    """The journey script of a persona (a store-first buyer's first journey always buys in store)."""
    scripts: dict[str, Callable[[JourneyBuilder], None]] = {
        "researcher": researcher, "impulse": impulse, "support_heavy": support_heavy, "browser": browser,
        "store_first": lambda b: store_first(b, must_buy=first_journey)}
    return scripts[persona]
