"""Streams stage, erasure: events of erased customers are refused before identity resolution.

`journeys forget` puts keyed tokens of the customer's identifier keys on the erasure list
(foundation.erasure_list, schemas.erasure). The worker loads the list at start and follows it while
it runs; stage 1 turns any event carrying an erased identifier into a dead letter without its
payload, so an erased customer is never re-linked or re-stitched, also when the raw topics are
replayed. The check is pure (streams.checking runs it in its pool processes with a snapshot of
the list); `attach` is the thin adapter.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from foundation import erasure_list
from foundation.settings import Settings
from schemas.erasure import ERASED_PREFIX, FORGET_KIND, FORGOTTEN_CUSTOMER, ErasureList, erased_token
from schemas.validation import Problem, Rejection

__all__ = ["ERASED_PREFIX", "ERASED_REASON", "FORGET_KIND", "FORGOTTEN_CUSTOMER", "ErasureList", "attach",
           "erased_rejection", "erased_token", "refused"]

ERASED_REASON = "an identifier of this event belongs to a customer erased on request; the event is not kept"


def refused(erasures: ErasureList, identifiers: Iterable[str]) -> bool:
    """True when any identifier key of an event was erased."""
    return erasures.refuses(identifiers)


def erased_rejection(source: str) -> Rejection:
    """The rejection of an event of an erased customer: its payload is not kept."""
    return Rejection("", source, (Problem("identifiers", ERASED_REASON),))


def attach(app: Any, settings: Settings) -> ErasureList:
    """The erasure list for the worker: loaded now, followed by a task of the app."""
    return erasure_list.attach(app, settings)
