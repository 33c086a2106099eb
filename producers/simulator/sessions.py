"""Producers stage, simulator core: sessions, the small scenes a journey is written from.

Each function writes one session of touches at the builder's cursor (a web visit, a checkout, a
campaign mail, a call, a support e-mail thread, a store visit or purchase, a survey answer) with
the identifiers that source would really know: anonymous web until a login, then the e-mail hash;
calls with phone, CRM id and e-mail; the store with the loyalty card. Friction that lives in one
event (long wait, transfers, long queue, low scores, poor navigation) is injected here.
"""

from __future__ import annotations

from datetime import timedelta

from producers.simulator.timeline import JourneyBuilder, Touch

PAGES = {"content": ("web.content", "page_view", "/blog/guide-{n}"),
         "search": ("web.search", "search", "/search?q=item{n}"),
         "product": ("web.product", "product_view", "/products/item-{n}"),
         "compare": ("web.compare", "compare", "/compare/item-{n}")}
SURVEYED_PAGES = ("web.content", "web.search", "web.product", "web.compare")
SURVEY_SHARE = 0.2
CHECKOUT_STEPS = 3


def web_ids(b: JourneyBuilder, device: str) -> dict[str, str]:
    ids = {"anonymous_id": device}
    if device in b.person.logged_in and b.person.email_hash:
        ids["email_hash"] = b.person.email_hash
    return ids


def login(b: JourneyBuilder, device: str) -> Touch:
    """A web login: the evidence that links the device to the person's e-mail."""
    assert b.person.email_hash, "only people with an e-mail address log in"
    b.person.logged_in.add(device)
    return b.emit(b.later(1, 20), "web", "web.account", "login", web_ids(b, device), {"path": "/login"})


def web_visit(b: JourneyBuilder, device: str, pages: list[str], sign_in: bool = False,
              anonymous: bool = False) -> list[Touch]:
    """Pages in one web session (carrying only the device's id when `anonymous`); maybe a
    navigation survey at the end."""
    session = b.ctx.uid("s-", 48)
    touches = [login(b, device)] if sign_in else []
    for kind in pages:
        touchpoint, event_type, path = PAGES[kind]
        measures = {"path": path.format(n=b.ctx.rng.randint(1, 400)), "session_id": session,
                    "dwell_s": b.ctx.dwell_s()}
        ids = {"anonymous_id": device} if anonymous else web_ids(b, device)
        touches.append(b.emit(b.later(5, 90), "web", touchpoint, event_type, ids, measures))
    if b.ctx.chance(SURVEY_SHARE) and touches[-1].touchpoint in SURVEYED_PAGES:
        touches.append(_navigation_survey(b, device, touches[-1].touchpoint, session))
    return touches


def _navigation_survey(b: JourneyBuilder, device: str, touchpoint: str, session: str) -> Touch:
    limit = b.ctx.limits.navigation_ease_max
    poor = b.inject("poor_navigation")
    ease = b.ctx.score(5, limit, injected=poor)
    measures = {"session_id": session} if ease is None else {"session_id": session, "navigation_ease": ease}
    touch = b.emit(b.later(5, 30), "web", touchpoint, "survey", web_ids(b, device), measures)
    if poor:
        b.record("poor_navigation", touch, [touch])
    return touch


def help_visit(b: JourneyBuilder, device: str) -> list[Touch]:
    measures = {"path": f"/help/topic-{b.ctx.rng.randint(1, 60)}", "dwell_s": b.ctx.dwell_s()}
    return [b.emit(b.later(5, 60), "web", "web.help", "help_view", web_ids(b, device), measures)]


def checkout(b: JourneyBuilder, device: str, abandon: bool = False) -> Touch:
    """Cart and checkout steps, then the order (all within minutes) unless abandoned.

    Returns the first checkout step: the evidence of an abandoned attempt.
    """
    if device not in b.person.logged_in:
        login(b, device)
    session = b.ctx.uid("s-", 48)
    cart = round(b.ctx.lognormal(60.0, 0.8, 5.0, 2000.0), 2)
    b.emit(b.later(5, 40), "web", "web.checkout", "add_to_cart", web_ids(b, device),
           {"session_id": session, "cart_value": cart, "path": "/cart"})
    steps = [b.emit(b.later(10, 90), "web", "web.checkout", "checkout_step", web_ids(b, device),
                    {"session_id": session, "checkout_step": n, "path": f"/checkout/{n}"})
             for n in range(1, (CHECKOUT_STEPS if not abandon else b.ctx.rng.randint(1, 2)) + 1)]
    if not abandon:
        order = b.ctx.uid("o-", 48)
        b.emit(b.later(10, 90), "web", "web.checkout", "order_placed", web_ids(b, device),
               {"session_id": session, "order_id": order, "order_amount": cart, "path": "/checkout/done"})
        b.emit(b.later(30, 120), "email", "email.service", "sent", {"email_hash": _email(b)},
               {"direction": "outbound", "campaign": "order_confirmation"})
    return steps[0]


def campaign(b: JourneyBuilder, clicked: bool) -> list[Touch]:
    """A campaign mail: sent, delivered, maybe opened hours later and clicked."""
    ids, name = {"email_hash": _email(b)}, f"campaign-{b.ctx.rng.randint(1, 12)}"
    touches = [b.emit(b.t, "email", "email.campaign", "sent", ids, {"campaign": name})]
    touches.append(b.emit(b.later(2, 30), "email", "email.campaign", "delivered", ids, {"campaign": name}))
    if clicked or b.ctx.chance(0.5):
        touches.append(b.emit(b.later(1800, 8 * 3600), "email", "email.campaign", "opened", ids, {"campaign": name}))
    if clicked:
        touches.append(b.emit(b.later(5, 120), "email", "email.campaign", "clicked", ids, {"campaign": name}))
    return touches


def call(b: JourneyBuilder, line: str, resolved: bool = True, may_inject: bool = True) -> Touch:
    """An answered call: wait, handling, transfers and resolution; maybe a long wait or transfers."""
    crm_id, phone = b.person.crm(b.ctx)
    long_wait = may_inject and b.inject("long_wait")
    transfers = may_inject and not long_wait and b.inject("transfers")
    measures = {"queue": line, "wait_s": b.ctx.call_wait_s(long_wait), "handle_s": b.ctx.handle_s(),
                "transfers": b.ctx.transfers(transfers), "resolved": resolved, "team": f"team-{line}",
                "reason": "product_question" if line == "sales" else "order_problem"}
    ids = {"phone_hash": phone, "crm_id": crm_id, "email_hash": _email(b)}
    touch = b.emit(b.later(0, 60), "call_centre", f"call_centre.{line}", "call_answered", ids, measures)
    for rule, on in (("long_wait", long_wait), ("transfers", transfers)):
        if on:
            b.record(rule, touch, [touch])
    return touch


def inbound_mail(b: JourneyBuilder, reply: str = "normal") -> Touch:
    """A customer's mail to the support inbox, answered in time ('normal'), 'late', or 'none'."""
    crm_id, _ = b.person.crm(b.ctx)
    ids, thread = {"email_hash": _email(b), "crm_id": crm_id}, b.ctx.uid("th-", 48)
    received = b.emit(b.later(0, 60), "email", "email.support", "received", ids,
                      {"direction": "inbound", "thread_id": thread})
    if reply != "none":
        delay = b.ctx.reply_delay(late=reply == "late")
        b.emit(received.time + delay, "email", "email.support", "replied", ids,
               {"direction": "outbound", "thread_id": thread, "response_s": round(delay.total_seconds(), 1)})
    return received


def store_ids(b: JourneyBuilder) -> dict[str, str]:
    return {"loyalty_id": b.person.loyalty(b.ctx), "email_hash": _email(b)}


def store_visit(b: JourneyBuilder, store: str) -> Touch:
    measures = {"store_id": store, "visit_s": round(b.ctx.lognormal(900.0, 0.6, 60.0, 7200.0), 1)}
    return b.emit(b.later(0, 600), "store", "store.floor", "visit", store_ids(b), measures)


def store_purchase(b: JourneyBuilder, store: str) -> Touch:
    """A till purchase with the loyalty card (evidence linking card and e-mail); maybe a long queue."""
    long_queue = b.inject("long_queue")
    measures = {"store_id": store, "queue_wait_s": b.ctx.queue_wait_s(long_queue),
                "purchase_amount": round(b.ctx.lognormal(45.0, 0.8, 2.0, 3000.0), 2)}
    touch = b.emit(b.later(60, 1800), "store", "store.checkout", "purchase", store_ids(b), measures)
    if long_queue:
        b.record("long_queue", touch, [touch])
    return touch


def service_desk(b: JourneyBuilder, store: str, is_return: bool = False) -> Touch:
    measures = {"store_id": store, "service_desk_request": "return" if is_return else "repair",
                "is_return": is_return}
    event_type = "return" if is_return else "service_desk"
    return b.emit(b.later(0, 600), "store", "store.service_desk", event_type, store_ids(b), measures)


def feedback(b: JourneyBuilder, about: str) -> Touch:
    """A survey answer about one touchpoint, by e-mail; maybe a low CSAT or a detractor NPS."""
    limits = b.ctx.limits
    low_csat = b.inject("low_csat")
    detractor = not low_csat and b.inject("nps_detractor")
    csat = b.ctx.score(5, limits.csat_max, low_csat) if not detractor else None
    nps = b.ctx.score(10, limits.nps_detractor_max, detractor) if not low_csat else None
    answer = {"csat": csat, "nps": nps, "about_touchpoint": about,
              "comment": None if csat is not None or nps is not None else "no comment"}
    touch = b.emit(b.later(600, 6 * 3600), "email", "email.service", "feedback", {"email_hash": _email(b)},
                   {"direction": "inbound"}, answer)
    for rule, on in (("low_csat", low_csat), ("nps_detractor", detractor)):
        if on:
            b.record(rule, touch, [touch], touchpoint=about)
    return touch


def hours(value: float) -> timedelta:
    return timedelta(hours=value)


def _email(b: JourneyBuilder) -> str:
    assert b.person.email_hash, f"{b.person.persona} has no e-mail address"
    return b.person.email_hash
