"""Streams core: what differs between two layouts of one customer, as the records to send.

The stitcher sends only what a change changed (`changes`), everything a customer holds after a
merge (`rewritten`), the withdrawal of all of it (`everything(..., retracted=True)`) and what a
duplicate event takes part in (`of_event`); each record is drawn by streams.core.render.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from streams.core.layout import Layout
from streams.core.records import EVENT_ID
from streams.core.render import Document, friction_document, snapshot_document, step_document


def changes(old: Layout, new: Layout, version: int) -> list[Document]:
    """Everything that differs between two layouts of one customer, as output records."""
    out = [step_document(new, eid, version) for eid, place in new.placements.items() if old.placements.get(eid) != place]
    out += [snapshot_document(old, jid, version, True) for jid in old.journeys if jid not in new.journeys]
    counts = (_friction_counts(old), _friction_counts(new))
    late = _late_moved(old, new)
    out += [snapshot_document(new, jid, version, False) for jid in new.journeys
            if jid in late or _snapshot_changed(old, new, jid, counts)]
    out += [friction_document(old, fid, version, True) for fid in old.frictions if fid not in new.frictions]
    out += [friction_document(new, fid, version, False) for fid in new.frictions
            if _friction_key(old, fid) != _friction_key(new, fid)]
    return out


def everything(layout: Layout, version: int, retracted: bool = False) -> list[Document]:
    """All current records of a customer (or, retracted, the journeys and frictions withdrawn)."""
    out = [] if retracted else [step_document(layout, eid, version) for eid in layout.placements]
    out += [snapshot_document(layout, jid, version, retracted) for jid in layout.journeys]
    out += [friction_document(layout, fid, version, retracted) for fid in layout.frictions]
    return out


def rewritten(old: Layout, new: Layout, version: int) -> list[Document]:
    """Every current record of `new` at `version`, with what left `old` retracted: a survivor after a merge.

    Records move between customers on a merge (steps by event id, frictions by rule and evidence),
    and the absorbed customer withdrew its copies at its own version: the survivor's copies must
    all be sent again above it, also those it held before (a duplicate delivery, or a replay after
    a crash, can bring an absorbed customer's event to the survivor first).
    """
    out = [snapshot_document(old, jid, version, True) for jid in old.journeys if jid not in new.journeys]
    out += [friction_document(old, fid, version, True) for fid in old.frictions if fid not in new.frictions]
    return out + everything(new, version)


def of_event(layout: Layout, event_id: str, version: int) -> list[Document]:
    """The current records an event takes part in (what a duplicate re-sends)."""
    journey_id = layout.placements[event_id].journey_id
    out = [step_document(layout, event_id, version)]
    if journey_id in layout.journeys:
        out.append(snapshot_document(layout, journey_id, version, False))
    out += [friction_document(layout, fid, version, False) for fid, (jid, _) in layout.frictions.items()
            if jid == journey_id]
    return out


def _snapshot_changed(old: Layout, new: Layout, journey_id: str, counts: tuple[Counter[str], Counter[str]]) -> bool:
    if journey_id not in old.journeys:
        return True
    described_old, described_new = old.described[journey_id], new.described[journey_id]
    return (old.segment != new.segment or counts[0][journey_id] != counts[1][journey_id]
            or (described_old is not described_new and described_old != described_new))


def _late_moved(old: Layout, new: Layout) -> set[str]:
    """The journeys a late event joined or left: their paths (JourneySnapshot.path) changed."""
    moved: set[str] = set()
    for eid in old.late | new.late:
        before, after = old.placements.get(eid), new.placements.get(eid)
        if before != after:
            moved.update(place.journey_id for place in (before, after) if place is not None)
    return moved


def _friction_counts(layout: Layout) -> Counter[str]:
    return Counter(jid for jid, _ in layout.frictions.values())


def _friction_key(layout: Layout, friction_id: str) -> tuple[Any, ...] | None:
    if friction_id not in layout.frictions:
        return None
    journey_id, f = layout.frictions[friction_id]
    return journey_id, f, layout.journeys[journey_id].phase_at(f.touchpoint_event[EVENT_ID])
