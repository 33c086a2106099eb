"""Story helpers: write touchpoint events tersely, feed them to the pure pipeline, read the journeys."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

from schemas.channels import event_adapter
from schemas.events import TouchpointEventBase
from schemas.journeymap import load_journey_map
from schemas.outputs import FrictionEvent, IdentityLink, JourneySnapshot, JourneyStep
from streams.core.pipeline import Emitted, Pipeline
from streams.core.view import current

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
TOUCHPOINTS = {"web": "web.product", "call_centre": "call_centre.support", "email": "email.support",
               "store": "store.floor"}
_ids = itertools.count(1)


def at(days: float = 0, hours: float = 0, minutes: float = 0) -> datetime:
    return START + timedelta(days=days, hours=hours, minutes=minutes)


def event(channel: str, event_type: str, when: datetime, touchpoint: str | None = None, event_id: str = "",
          segment: str | None = None, feedback: dict[str, Any] | None = None, received: datetime | None = None,
          context: dict[str, str] | None = None, **ids_and_measures: Any) -> TouchpointEventBase:
    """A valid event; it arrives (received_time) as it happens unless `received` says later."""
    ids = {k: v for k, v in ids_and_measures.items() if k in ("anonymous_id", "email_hash", "phone_hash",
                                                                "loyalty_id", "crm_id")}
    measures = {k: v for k, v in ids_and_measures.items() if k not in ids}
    doc = {"event_id": event_id or f"e{next(_ids):04d}", "event_time": when, "received_time": received or when,
           "channel": channel, "touchpoint": touchpoint or TOUCHPOINTS[channel], "event_type": event_type,
           "identifiers": ids, "segment": segment, "feedback": feedback, "measures": measures, "context": context or {}}
    result: TouchpointEventBase = event_adapter().validate_python(doc)
    return result


def email(n: int) -> str:
    return f"{n:064x}"


class Story:
    """Events in, journeys out: the pure pipeline with the consumer's view of its outputs."""

    def __init__(self) -> None:
        self.pipeline = Pipeline(load_journey_map())
        self.emitted: list[Emitted] = []

    def send(self, *events: TouchpointEventBase) -> list[Emitted]:
        out: list[Emitted] = []
        for e in events:
            out += self.pipeline.feed(e)
        self.emitted += out
        return out

    def _current(self, kind: type) -> list[dict[str, Any]]:
        return list(current(o.model_dump(mode="json") for o in self.emitted if isinstance(o, kind)).values())

    def journeys(self) -> list[dict[str, Any]]:
        return sorted(self._current(JourneySnapshot), key=lambda j: (j["customer_id"], j["started_at"]))

    def steps(self) -> list[dict[str, Any]]:
        return sorted(self._current(JourneyStep), key=lambda s: (s["journey_id"], s["step_index"]))

    def frictions(self, rule: str | None = None) -> list[dict[str, Any]]:
        return [f for f in self._current(FrictionEvent) if rule is None or f["rule"] == rule]

    def links(self, kind: str | None = None) -> list[IdentityLink]:
        return [o for o in self.emitted if isinstance(o, IdentityLink) and (kind is None or o.kind == kind)]

    def step_ids(self, journey: dict[str, Any]) -> list[str]:
        return [s["event"]["event_id"] for s in self.steps() if s["journey_id"] == journey["journey_id"]
                and not s["late"]]
