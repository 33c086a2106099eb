"""Late evidence writes back only what it changed: in the worker each graph write is a changelog record."""

from __future__ import annotations

from typing import Any

from schemas.journeymap import load_journey_map
from streams.core.identity import IdentityGraph, Sighting

MAP = load_journey_map()
MINUTE_MS = 60_000
MAIL = "email_hash:" + "a" * 64


class Counted(dict[str, Any]):
    """A dict that remembers which keys were written (set or deleted)."""

    def __init__(self) -> None:
        super().__init__()
        self.written: list[str] = []

    def __setitem__(self, key: str, value: Any) -> None:
        self.written.append(key)
        super().__setitem__(key, value)

    def __delitem__(self, key: str) -> None:
        self.written.append(key)
        super().__delitem__(key)

    def pop(self, key: str, *default: Any) -> Any:
        self.written.append(key)
        return super().pop(key, *default)


def sighting(event_id: str, channel: str, event_type: str, minute: int, *identifiers: str) -> Sighting:
    return Sighting(event_id, channel, event_type, identifiers, minute * MINUTE_MS)


def test_a_late_purchase_rewrites_only_the_identifier_it_brings_not_the_whole_household() -> None:
    owner, members, devices = Counted(), Counted(), Counted()
    graph = IdentityGraph(MAP, owner, members, devices, {})
    graph.resolve(sighting("w1", "web", "login", 60, MAIL, "anonymous_id:tablet"))
    graph.resolve(sighting("w2", "web", "login", 70, MAIL, "anonymous_id:laptop"))
    graph.resolve(sighting("s1", "store", "purchase", 120, "loyalty_id:L-1", MAIL))
    customer = owner[MAIL]
    for table in (owner, members, devices):
        table.written.clear()

    late = graph.resolve(sighting("s0", "store", "purchase", 30, "loyalty_id:L-0", MAIL))  # read last, happened first

    assert late.customer_id == customer and owner["loyalty_id:L-0"] == customer
    assert [link.kind for link in late.links] == ["link"] and not late.moves  # folded again: nothing moved
    assert owner.written == ["loyalty_id:L-0"]
    assert members.written == [customer] and devices.written == []
