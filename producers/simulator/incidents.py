"""Producers stage, simulator core: incidents injected into a simulation, and their truth.

A scenario (a YAML file, `journeys simulate --incidents FILE`) lists time-bounded incidents, each
scoped to one context-dimension value and a share of customers: payment errors at a checkout
step, a loop between two checkout steps, long call waits. They are written into the histories
after each person's journeys are drawn (before arrivals), from the simulator's own model and a
random stream of their own, so a run without a scenario is unchanged and the ground truth states
what was injected without asking any detector. Long waits are friction, recorded as injections.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from producers.simulator.context import Context
from producers.simulator.history import History
from producers.simulator.timeline import Injection, Touch, to_ms
from producers.simulator.truth import IncidentTruth
from schemas.journeymap import JourneyMap

Kind = Literal["checkout_errors", "checkout_loop", "long_call_waits"]
# Where each kind strikes (touchpoint, what the analyses should see change).
SIGNATURE = {"checkout_errors": ("web.checkout", "error"), "checkout_loop": ("web.checkout", "back_step"),
             "long_call_waits": ("call_centre.support", "long_wait")}
LOOP_STEP = 2  # errors and loops strike after this checkout step
MAX_INSERT_GAP_S = 60.0


class IncidentSpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=r"^[a-z0-9_]{1,40}$")
    kind: Kind
    start_day: float = Field(ge=0)
    days: float = Field(gt=0)
    where: dict[str, str] = Field(min_length=1, max_length=1, description="One dimension: value, e.g. device_type: mobile")
    share: float = Field(gt=0, le=1, description="Share of the customers in scope who are affected.")

    def window(self, start: datetime) -> tuple[datetime, datetime]:
        begin = start + timedelta(days=self.start_day)
        return begin, begin + timedelta(days=self.days)


class Scenario(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    incidents: tuple[IncidentSpec, ...] = ()


class ScenarioError(ValueError):
    """A scenario file that cannot be read, with the file and what is wrong."""


def load_scenario(path: Path) -> Scenario:
    try:
        return Scenario.model_validate(yaml.safe_load(path.read_text()) or {})
    except (OSError, yaml.YAMLError, ValidationError) as err:
        raise ScenarioError(f"incident scenario {path}: {err}") from None


def marker(name: str) -> str:
    """The source-id prefix of the events an incident injects (the truth and live logs find them by it)."""
    return f"ix{name[:6]}-"


def inject(scenario: Scenario, ctx: Context, story: History, start: datetime) -> None:
    """Write the scenario's incidents into one person's history (in place)."""
    for spec in scenario.incidents:
        own = random.Random(f"{ctx.salt}/{ctx.owner}/{spec.name}")
        if own.random() < spec.share:
            _STRIKE[spec.kind](spec, ctx, story, start, own)


def _in_scope(spec: IncidentSpec, touch: Touch, start: datetime) -> bool:
    begin, end = spec.window(start)
    (dim, value), = spec.where.items()
    return begin <= touch.time < end and (touch.context or {}).get(dim) == value


def _checkout(spec: IncidentSpec, ctx: Context, story: History, start: datetime, own: random.Random) -> None:
    for journey in story.journeys:
        for step in [t for t in journey if t.event_type == "checkout_step" and t.measures.get("checkout_step") == LOOP_STEP
                     and _in_scope(spec, t, start)]:
            _insert_after(ctx, journey, step, SCENES[spec.kind](own), marker(spec.name))


def _error_scene(own: random.Random) -> list[tuple[str, dict[str, object]]]:
    """A declined payment, then the step again."""
    return [("error", {"error_kind": "payment", "error_code": "card_declined", "path": "/checkout/payment"}),
            ("checkout_step", {"checkout_step": LOOP_STEP, "path": f"/checkout/{LOOP_STEP}"})]


def _loop_scene(own: random.Random) -> list[tuple[str, dict[str, object]]]:
    """Back to the previous step and forward again, one to three times."""
    scene: list[tuple[str, dict[str, object]]] = []
    for _ in range(own.randint(1, 3)):
        scene += [("back_step", {"path": f"/checkout/{LOOP_STEP - 1}"}),
                  ("checkout_step", {"checkout_step": LOOP_STEP - 1, "path": f"/checkout/{LOOP_STEP - 1}"}),
                  ("checkout_step", {"checkout_step": LOOP_STEP, "path": f"/checkout/{LOOP_STEP}"})]
    return scene


# What follows a checkout step in scope (producers.simulator.switch injects the same on the wire).
SCENES = {"checkout_errors": _error_scene, "checkout_loop": _loop_scene}


def _insert_after(ctx: Context, journey: list[Touch], step: Touch, scene: list[tuple[str, dict[str, object]]],
                  prefix: str) -> None:
    """The scene's events, evenly spaced between `step` and the journey's next event."""
    following = min((t.time for t in journey if t.time > step.time), default=step.time + timedelta(seconds=60))
    gap = min((following - step.time).total_seconds(), MAX_INSERT_GAP_S)
    session = {"session_id": step.measures["session_id"]} if "session_id" in step.measures else {}
    for n, (event_type, measures) in enumerate(scene, start=1):
        at = to_ms(step.time + timedelta(seconds=gap * n / (len(scene) + 1)))
        journey.append(Touch(at, "web", step.touchpoint, event_type, dict(step.identifiers),
                             ctx.uid(prefix), step.segment, {**session, **measures},
                             context=dict(step.context or {})))


def _call_waits(spec: IncidentSpec, ctx: Context, story: History, start: datetime, own: random.Random) -> None:
    limit = ctx.limits.call_wait_s
    for journey, injected in zip(story.journeys, story.injections, strict=True):
        for call in journey:
            if call.event_type == "call_answered" and _in_scope(spec, call, start) and call.measures["wait_s"] <= limit:
                call.measures["wait_s"] = round(limit * own.uniform(1.15, 3.0), 1)
                call.source_id = ctx.uid(marker(spec.name))  # marks it for the truth's count
                call._event_id = None
                injected.append(Injection("long_wait", call, [call]))


_STRIKE = {"checkout_errors": _checkout, "checkout_loop": _checkout, "long_call_waits": _call_waits}


def incident_truth(scenario: Scenario, start: datetime, histories: list[History] | None) -> tuple[IncidentTruth, ...]:
    """What was injected: each incident, its scope and the customers and events it touched (not
    counted without the histories)."""
    out = []
    for spec in scenario.incidents:
        prefix = marker(spec.name)
        hit = [sum(1 for j in h.journeys for t in j if t.source_id.startswith(prefix)) for h in histories or []]
        (dim, value), = spec.where.items()
        begin, end = spec.window(start)
        touchpoint, what = SIGNATURE[spec.kind]
        out.append(IncidentTruth(name=spec.name, kind=spec.kind, touchpoint=touchpoint, what=what, start=begin,
                                 end=end, dimension=dim, value=value, share=spec.share,
                                 customers=None if histories is None else sum(1 for n in hit if n),
                                 events=None if histories is None else sum(hit)))
    return tuple(out)


def check_dimensions(scenario: Scenario, journey_map: JourneyMap) -> None:
    """Every incident's dimension is one the journey map declares."""
    for spec in scenario.incidents:
        (dim, _), = spec.where.items()
        if dim not in journey_map.dimension_names:
            raise ScenarioError(f"incident {spec.name}: {dim!r} is not a dimension of the journey map")
