"""The eleven friction rules as Python functions, as they were before rules moved into the map.

Kept only as a test oracle: the map's rules must find exactly what these found
(tests/streams/test_friction_equivalence.py).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

from schemas.journeymap import FrictionThresholds
from streams.core.boundaries import PURCHASE, Journey
from streams.core.records import (
    CHANNEL,
    EVENT_ID,
    EVENT_TYPE,
    FEEDBACK,
    MEASURES,
    PHASE,
    TOUCHPOINT,
    Record,
    T,
)
from streams.core.rulekinds import Friction

MS_PER_MIN = 60_000
MS_PER_H = 3_600_000
MS_PER_DAY = 86_400_000
CALL, STORE, WEB, EMAIL = "call_centre", "store", "web", "email"
CHECKOUT_TYPES = frozenset({"checkout_step", "order_placed"})  # what abandoned_checkout reads
MAIL_TYPES = frozenset({"received", "replied"})  # what email_unanswered reads


def detect_as_before(journey: Journey, clock_ms: int, limits: FrictionThresholds) -> dict[str, Friction]:
    """Every friction that holds for this journey at the customer's clock, by friction id.

    Each rule gets the events it can act on (in order), sorted out in one pass: the stitcher runs
    this for every journey a batch changes, and eleven passes over every event cost more than the
    rules themselves. A rule given such a subset finds exactly what it finds in the whole journey.
    """
    events = [record for record, _ in journey.steps]
    calls, stores, webs, contacts, checkout, mail, rated = [], [], [], [], [], [], []
    for r in events:
        channel, kind = r[CHANNEL], r[EVENT_TYPE]
        if channel == CALL:
            calls.append(r)
        elif channel == STORE:
            stores.append(r)
        elif channel == WEB:
            webs.append(r)
        if _is_contact(r):
            contacts.append(r)
        if kind in CHECKOUT_TYPES:
            checkout.append(r)
        elif kind in MAIL_TYPES:
            mail.append(r)
        if r[FEEDBACK]:
            rated.append(r)
    found = itertools.chain(
        long_wait(calls, clock_ms, limits), long_queue(stores, clock_ms, limits), transfers(calls, clock_ms, limits),
        abandoned_checkout(checkout, clock_ms, limits), repeat_contact(contacts, clock_ms, limits),
        email_unanswered(mail, clock_ms, limits), low_csat(rated, clock_ms, limits),
        nps_detractor(rated, clock_ms, limits), poor_navigation(webs, clock_ms, limits),
        stalled(events, clock_ms, limits), channel_hop(checkout + calls, clock_ms, limits))
    return {f.friction_id: f for f in found}


def _single(rule: str, record: Record, severity: str, measure: float | None, threshold: float | None,
            touchpoint: str | None = None) -> Friction:
    return Friction(rule, record, severity, (record[EVENT_ID],), record[T], touchpoint or record[TOUCHPOINT],
                    measure, threshold)


def long_wait(events: list[Record], clock_ms: int, limits: FrictionThresholds) -> Iterator[Friction]:
    for r in events:
        wait = r[MEASURES].get("wait_s")
        if r[CHANNEL] == CALL and wait is not None and wait > limits.call_wait_s:
            severity = "high" if wait > 2 * limits.call_wait_s else "medium"
            yield _single("long_wait", r, severity, wait, limits.call_wait_s)


def long_queue(events: list[Record], clock_ms: int, limits: FrictionThresholds) -> Iterator[Friction]:
    for r in events:
        wait = r[MEASURES].get("queue_wait_s")
        if r[CHANNEL] == STORE and wait is not None and wait > limits.store_queue_s:
            yield _single("long_queue", r, "medium", wait, limits.store_queue_s)


def transfers(events: list[Record], clock_ms: int, limits: FrictionThresholds) -> Iterator[Friction]:
    for r in events:
        count = r[MEASURES].get("transfers")
        if r[CHANNEL] == CALL and count is not None and count >= limits.transfers:
            severity = "high" if count >= limits.transfers + 2 else "medium"
            yield _single("transfers", r, severity, count, limits.transfers)


def checkout_attempts(events: list[Record], limits: FrictionThresholds) -> Iterator[Record]:
    """First checkout_step of each abandoned attempt (steps within the window are one attempt)."""
    window_ms = limits.checkout_abandon_min * MS_PER_MIN
    steps = [r for r in events if r[CHANNEL] == WEB and r[EVENT_TYPE] == "checkout_step"]
    orders = [r[T] for r in events if r[EVENT_TYPE] == "order_placed"]
    previous: Record | None = None
    for step in steps:
        if previous is None or step[T] - previous[T] > window_ms:
            first = step
            if not any(first[T] <= t <= first[T] + window_ms for t in orders):
                yield first
        previous = step


def abandoned_checkout(events: list[Record], clock_ms: int, limits: FrictionThresholds) -> Iterator[Friction]:
    window_ms = limits.checkout_abandon_min * MS_PER_MIN
    for first in checkout_attempts(events, limits):
        if clock_ms > first[T] + window_ms:
            yield _single("abandoned_checkout", first, "medium", None, limits.checkout_abandon_min)


def _is_contact(r: Record) -> bool:
    return r[CHANNEL] == CALL or r[EVENT_TYPE] == "received" or (r[CHANNEL] == STORE and r[EVENT_TYPE] == "service_desk")


def repeat_contact(events: list[Record], clock_ms: int, limits: FrictionThresholds) -> Iterator[Friction]:
    window_ms = limits.repeat_contact_days * MS_PER_DAY
    unresolved: Record | None = None
    for r in events:
        if unresolved is not None and _is_contact(r) and r[T] - unresolved[T] <= window_ms:
            yield Friction("repeat_contact", r, "medium", (unresolved[EVENT_ID], r[EVENT_ID]), r[T], r[TOUCHPOINT],
                           (r[T] - unresolved[T]) / MS_PER_DAY, limits.repeat_contact_days)
        if r[CHANNEL] == CALL and r[MEASURES].get("resolved") is False:
            unresolved = r


def email_unanswered(events: list[Record], clock_ms: int, limits: FrictionThresholds) -> Iterator[Friction]:
    window_ms = limits.email_unanswered_h * MS_PER_H
    for mail in (r for r in events if r[CHANNEL] == EMAIL and r[EVENT_TYPE] == "received"):
        thread = mail[MEASURES].get("thread_id")
        replies = [r[T] for r in events if r[EVENT_TYPE] == "replied" and thread is not None
                   and r[MEASURES].get("thread_id") == thread and r[MEASURES].get("direction") != "inbound"
                   and r[T] >= mail[T]]
        answered_ms = min(replies) if replies else None
        if answered_ms is not None and answered_ms - mail[T] <= window_ms:
            continue
        if answered_ms is not None or clock_ms > mail[T] + window_ms:
            hours = None if answered_ms is None else (answered_ms - mail[T]) / MS_PER_H
            yield _single("email_unanswered", mail, "medium", hours, limits.email_unanswered_h)


def _feedback_touchpoint(r: Record) -> str:
    return str(r[FEEDBACK].get("about_touchpoint") or r[TOUCHPOINT])


def low_csat(events: list[Record], clock_ms: int, limits: FrictionThresholds) -> Iterator[Friction]:
    for r in events:
        csat = (r[FEEDBACK] or {}).get("csat")
        if csat is not None and csat <= limits.csat_max:
            yield _single("low_csat", r, "high" if csat == 1 else "medium", csat, limits.csat_max,
                          _feedback_touchpoint(r))


def nps_detractor(events: list[Record], clock_ms: int, limits: FrictionThresholds) -> Iterator[Friction]:
    for r in events:
        nps = (r[FEEDBACK] or {}).get("nps")
        if nps is not None and nps <= limits.nps_detractor_max:
            yield _single("nps_detractor", r, "low", nps, limits.nps_detractor_max, _feedback_touchpoint(r))


def poor_navigation(events: list[Record], clock_ms: int, limits: FrictionThresholds) -> Iterator[Friction]:
    for r in events:
        ease = r[MEASURES].get("navigation_ease")
        if r[CHANNEL] == WEB and ease is not None and ease <= limits.navigation_ease_max:
            yield _single("poor_navigation", r, "low", ease, limits.navigation_ease_max)


def stalled(events: list[Record], clock_ms: int, limits: FrictionThresholds) -> Iterator[Friction]:
    gap_ms = limits.stalled_days * MS_PER_DAY
    converted = False
    for before, after in itertools.pairwise(events):
        converted = converted or before[PHASE] == PURCHASE
        if not converted and after[T] - before[T] > gap_ms:
            yield Friction("stalled", after, "low", (before[EVENT_ID], after[EVENT_ID]), after[T], after[TOUCHPOINT],
                           (after[T] - before[T]) / MS_PER_DAY, limits.stalled_days)


def channel_hop(events: list[Record], clock_ms: int, limits: FrictionThresholds) -> Iterator[Friction]:
    hop_ms = limits.channel_hop_h * MS_PER_H
    for step in (a.touchpoint_event for a in abandoned_checkout(events, clock_ms, limits)):
        call = next((r for r in events if r[CHANNEL] == CALL and step[T] < r[T] <= step[T] + hop_ms), None)
        if call is not None:
            yield Friction("channel_hop", call, "high", (step[EVENT_ID], call[EVENT_ID]), call[T], call[TOUCHPOINT],
                           (call[T] - step[T]) / MS_PER_H, limits.channel_hop_h)
