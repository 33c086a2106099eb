"""The simulator's context dimensions and injected incidents, against its own ground truth.

Web events say which device they came from (the same for every event of a device), calls which
team answered; a scenario's incidents land only in their window, on their dimension value, and
the ground truth lists them with the customers and events touched. Long waits are friction: the
stream core must find exactly the frictions the truth lists, injected waits included.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from journeys.cli import main
from producers.core import event_value
from producers.simulator import Simulation, simulate
from producers.simulator.incidents import IncidentSpec, Scenario, ScenarioError, load_scenario
from producers.simulator.parallel import SimulationArgs, simulated_in_child
from schemas.journeymap import load_journey_map
from schemas.outputs import FrictionEvent, JourneySnapshot, JourneyStep
from streams.core.pipeline import Pipeline
from streams.core.view import current
from tests.streams import truth

START = datetime(2026, 1, 5, tzinfo=UTC)
JOURNEY_MAP = load_journey_map()
SCENARIO = Scenario(incidents=(
    IncidentSpec(name="mobile_errors", kind="checkout_errors", start_day=3, days=10, where={"device_type": "mobile"},
                 share=1.0),
    IncidentSpec(name="desktop_loop", kind="checkout_loop", start_day=0, days=20, where={"device_type": "desktop"},
                 share=0.5),
    IncidentSpec(name="waits", kind="long_call_waits", start_day=0, days=20, where={"agent_team": "team-support"},
                 share=1.0),
))


def run(scenario: Scenario | None, seed: int = 5) -> Simulation:
    return simulate(120, seed, 30, START, JOURNEY_MAP, b"incidents", scenario=scenario)


def test_web_events_carry_their_devices_kind_and_calls_their_team() -> None:
    kinds: dict[str, set[str]] = defaultdict(set)
    for event in run(None).events():
        if event.channel == "web":
            kinds[event.identifiers.anonymous_id or ""].add(event.context["device_type"])
        if event.channel == "call_centre":
            assert event.context == {"agent_team": event.measures.team}
    assert all(len(k) == 1 for k in kinds.values())
    assert {k for ks in kinds.values() for k in ks} == {"mobile", "desktop", "tablet"}


def test_an_empty_scenario_changes_nothing() -> None:
    assert run(Scenario()).events() == run(None).events()


def test_incidents_land_in_their_window_on_their_value_and_the_truth_counts_them() -> None:
    sim = run(SCENARIO)
    errors = [e for e in sim.events() if e.event_type == "error"]
    loops = [e for e in sim.events() if e.event_type == "back_step"]
    assert errors and loops
    assert all(e.context["device_type"] == "mobile" and START + timedelta(days=3) <= e.event_time
               < START + timedelta(days=13) + timedelta(minutes=2) for e in errors)
    assert all(e.context["device_type"] == "desktop" for e in loops)
    listed = {t.name: t for t in sim.truth.incidents}
    assert listed["mobile_errors"].events == 2 * len(errors)  # an error and the step again
    assert listed["desktop_loop"].events == 3 * len(loops)
    assert listed["waits"].events > 0 and listed["mobile_errors"].customers == len({e.identifiers.anonymous_id
                                                                                     for e in errors})


def test_injected_waits_are_the_frictions_the_stream_core_finds() -> None:
    sim = run(SCENARIO)
    pipeline = Pipeline(JOURNEY_MAP)
    outputs = [r for event in sim.events() for r in pipeline.feed(event)]
    view = {kind: current(o.model_dump(mode="json") for o in outputs if isinstance(o, kind))
            for kind in (JourneyStep, JourneySnapshot, FrictionEvent)}
    assert truth.friction(view[FrictionEvent]) == truth.truth_friction(sim.truth)
    assert truth.journeys(view[JourneyStep], view[JourneySnapshot]) == truth.truth_journeys(sim.truth)
    waits = sum(1 for f in view[FrictionEvent].values() if f["rule"] == "long_wait")
    assert waits > run(None).truth.totals.friction_by_rule.get("long_wait", 0)


def test_a_scenario_file_is_read_and_a_bad_one_named(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text("incidents:\n  - {name: e, kind: checkout_errors, start_day: 1, days: 2, "
                    "where: {device_type: mobile}, share: 0.5}\n")
    assert load_scenario(good).incidents[0].where == {"device_type": "mobile"}
    bad = tmp_path / "bad.yaml"
    bad.write_text("incidents:\n  - {name: e, kind: outage, start_day: 1, days: 2, where: {}, share: 2}\n")
    with pytest.raises(ScenarioError, match=r"bad\.yaml"):
        load_scenario(bad)


def test_journeys_simulate_children_inject_the_scenario_and_list_it() -> None:
    expected = run(SCENARIO)
    args = SimulationArgs(120, 5, 30, START, JOURNEY_MAP, b"incidents", SCENARIO)
    with simulated_in_child(args, 500, workers=2) as child:
        values = [value for chunk in child.chunks() for _, _, _, value in chunk]
        truth = child.truth()
    assert values == [d.payload if isinstance(d.payload, bytes) else event_value(d.payload)
                      for d in expected.deliveries]
    assert [(t.name, t.start, t.value, t.customers) for t in truth.incidents] == [
        (t.name, t.start, t.value, None) for t in expected.truth.incidents]


def test_journeys_simulate_names_a_bad_scenario(tmp_path: Path) -> None:
    bad = tmp_path / "scenario.yaml"
    bad.write_text("incidents:\n  - {name: e, kind: checkout_errors, start_day: 1, days: 2, "
                   "where: {shoe_size: '42'}, share: 0.5}\n")
    result = CliRunner().invoke(main, ["simulate", "--incidents", str(bad), "--customers", "1"])
    assert result.exit_code == 2 and "shoe_size" in result.output and "Traceback" not in result.output
