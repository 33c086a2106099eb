"""Producers stage, simulator adapter: incidents switched on while a paced simulation publishes.

`journeys up` plans its month before it publishes it, so a scenario given at start is all it can
plan. An operator who wants to see an incident now writes a scenario to the switch file
(`journeys switch-on FILE` puts it there); the publishing loop looks at the file between chunks
and injects its incidents into the part not yet published. Their `start_day` counts from the
simulated moment the file was picked up (the arrival time of the next chunk's last record). The injection
works on the wire records, with the planned injection's scenes (producers.simulator.incidents):
after a checkout step in scope, a declined payment and the step again, or back-steps. Whether a
customer is in the incident's share is drawn from their key, so a customer stays in or out.
Injected events carry the incident's source-id marker, so `switched_on.watch` logs when the first
one went out. Long call waits rewrite the answered calls in scope instead: a wait within the
journey map's limit (`friction.call_wait_s`) becomes 1.15 to 3 times that limit, as planned ones do,
and the call takes the incident's marker (a new source id, so a new event id).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import orjson

from producers.simulator.incidents import LOOP_STEP, SCENES, IncidentSpec, ScenarioError, load_scenario, marker
from producers.simulator.parallel import Encoded
from producers.simulator.timeline import event_id_of
from producers.simulator.wire import measures_template
from schemas.journeymap import FrictionThresholds

log = logging.getLogger(__name__)
SCENE_STEP_S = 8.0  # seconds between the injected events of one scene (the planned ones share the gap to the next event)
SWITCHABLE = (*SCENES, "long_call_waits")


@dataclass(frozen=True)
class Active:
    spec: IncidentSpec
    begin: datetime
    end: datetime


class Switch:
    """The switch file, looked at between chunks: each new version's incidents become active."""

    def __init__(self, path: Path, limits: FrictionThresholds) -> None:
        self.path, self.limits, self.seen, self.active = path, limits, 0.0, list[Active]()

    def names(self) -> list[str]:
        return [incident.spec.name for incident in self.active]

    def look(self, chunk: Sequence[Encoded]) -> None:
        try:
            changed = self.path.stat().st_mtime
        except FileNotFoundError:
            return
        keyed = [value for _, _, key, value in chunk if key is not None]
        if changed == self.seen or not keyed:
            return
        self.seen = changed
        try:
            scenario = load_scenario(self.path)
        except ScenarioError as err:
            log.error("switch-on ignored: %s", err)
            return
        # Records go out in arrival order: the last one's arrival is the simulated present.
        now = _time(orjson.loads(keyed[-1])["received_time"])
        for spec in scenario.incidents:
            if spec.kind not in SWITCHABLE:
                log.error("switch-on ignored for %s: %s can only be planned (--incidents)", spec.name, spec.kind)
                continue
            begin = now + timedelta(days=spec.start_day)
            self.active = [a for a in self.active if a.spec.name != spec.name]  # switched on again: from now
            self.active.append(Active(spec, begin, begin + timedelta(days=spec.days)))
            log.warning("incident %s switched on from simulated %s to %s", spec.name, begin, begin + timedelta(days=spec.days))

    def inject(self, chunk: Sequence[Encoded]) -> Sequence[Encoded]:
        if not self.active:
            return chunk
        out: list[Encoded] = []
        for record in chunk:
            if record[2] is not None and b'"call_answered"' in record[3]:
                record = self._waited(record)
            out.append(record)
            if record[2] is not None and b'"checkout_step"' in record[3]:
                out += self._scenes(record)
        return out

    def _waited(self, record: Encoded) -> Encoded:
        """An answered call in a long-waits incident's scope, its wait made longer than the limit."""
        channel, hashed, key, value = record
        event = orjson.loads(value)
        measures = event.get("measures")
        if event.get("event_type") != "call_answered" or not isinstance(measures, dict):
            return record
        limit = self.limits.call_wait_s
        for incident in self.active:
            wait = measures.get("wait_s")
            if incident.spec.kind == "long_call_waits" and isinstance(wait, int | float) and wait <= limit \
                    and _struck(incident, event, key):
                own = random.Random(f"{incident.spec.name}/{event['source_id']}")
                source_id = f"{marker(incident.spec.name)}{event['source_id']}"
                event |= {"source_id": source_id, "event_id": event_id_of(str(event["channel"]), source_id),
                          "measures": measures | {"wait_s": round(limit * own.uniform(1.15, 3.0), 1)}}
                return channel, hashed, key, orjson.dumps(event)
        return record

    def _scenes(self, record: Encoded) -> list[Encoded]:
        channel, hashed, key, value = record
        event = orjson.loads(value)
        if event["event_type"] != "checkout_step" or event["measures"].get("checkout_step") != LOOP_STEP:
            return []
        added: list[Encoded] = []
        for incident in self.active:
            if incident.spec.kind in SCENES and _struck(incident, event, key):
                own = random.Random(f"{incident.spec.name}/{event['source_id']}")
                scene = SCENES[incident.spec.kind](own)
                added += [(channel, hashed, key, _scene_event(event, n, kind, measures, incident.spec.name))
                          for n, (kind, measures) in enumerate(scene, start=1)]
        return added


def switchable(chunks: Iterable[Sequence[Encoded]], switch: Switch | None) -> Iterator[Sequence[Encoded]]:
    """The chunks, with the incidents of the switch file injected from when it appears."""
    if switch is None:
        yield from chunks
        return
    for chunk in chunks:
        switch.look(chunk)
        yield switch.inject(chunk)


def _struck(incident: Active, event: dict[str, object], key: bytes | None) -> bool:
    (dim, value), = incident.spec.where.items()
    context = event.get("context") or {}
    in_scope = isinstance(context, dict) and context.get(dim) == value
    when = _time(str(event["event_time"]))
    return in_scope and incident.begin <= when < incident.end and \
        random.Random(f"{incident.spec.name}/{key!r}").random() < incident.spec.share


def _scene_event(event: dict[str, object], n: int, kind: str, measures: dict[str, object], name: str) -> bytes:
    source_id = f"{marker(name)}{event['source_id']}-{n}"
    at = (_time(str(event["event_time"])) + timedelta(seconds=SCENE_STEP_S * n)).isoformat().replace("+00:00", "Z")
    planned = event["measures"] if isinstance(event["measures"], dict) else {}
    session = {"session_id": planned["session_id"]} if "session_id" in planned else {}
    filled = measures_template(str(event["channel"])) | session | measures
    return orjson.dumps(event | {"event_id": event_id_of(str(event["channel"]), source_id), "source_id": source_id,
                                 "event_time": at, "received_time": at, "event_type": kind, "measures": filled})


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
