"""Commands that run the whole product on one machine: `journeys demo` and `journeys up`.

Both start the embedded stack (journeys.embedded): a local broker unless Kafka is configured, the
worker with the warehouse sink, and simulated traffic. `demo` runs a fixed simulation to the end
and reports; `up` keeps traffic flowing with a live view until Ctrl-C, and `switch-on` hands a
running `up` a scenario of incidents to inject from then on.
"""

from __future__ import annotations

import contextlib
import signal
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click
from kafka import KafkaConsumer
from rich.console import Console
from rich.live import Live

from foundation.kafka import consumer_options, topic
from foundation.settings import Settings
from journeys.commands.options import settings_of
from journeys.commands.simulate import parse_start, scenario_of
from journeys.embedded import PREVIOUS_DIR, STOP_TIMEOUT_S, EmbeddedStack, embedded_stack, reset_warehouse
from journeys.live import LiveView, decode, render
from journeys.readclient import live_map_line
from journeys.report import print_report
from producers.simulator.incidents import Scenario
from producers.simulator.switch import SWITCHABLE
from schemas.errors import JourneysError
from schemas.journeymap import load_journey_map
from schemas.outputs import FRICTION_TOPIC, HEALTH_TOPIC, STATE_TOPIC

IDLE_EXIT_S = 12
LIVE_HISTORY_DAYS = 30  # live traffic spans the last month, so dashboards on recent ranges fill
LIVE_REFRESH_S = 1.0
INCIDENT_LOG = "incidents.jsonl"
SWITCH_FILE = "switch-on.yaml"
LIVE_INCIDENTS = "--last 1d --period 6h"  # what docs/operations.md recommends in live mode
LIVE_INCIDENTS_THIN = "--last 4d --period 1d"  # a low-volume touchpoint (a call team) needs longer periods
THIN_KINDS = ("long_call_waits",)
REPORT_MIN_WIDTH = 120
console = Console()
if not console.is_terminal:  # logs and CI: wide enough for the report tables
    console = Console(width=REPORT_MIN_WIDTH)


@click.command()
@click.option("--customers", default=5000, show_default=True, help="Simulated customers.")
@click.option("--days", default=120, show_default=True, help="Simulated days of history.")
@click.option("--seed", default=42, show_default=True, help="Simulation seed (same seed, same data).")
@click.pass_context
def demo(ctx: click.Context, customers: int, days: int, seed: int) -> None:
    """Run the whole pipeline embedded on a simulation, then print the funnel, friction and scorecard."""
    settings = settings_of(ctx)
    started = time.monotonic()
    with embedded_stack(settings) as stack:
        _announce_previous(stack)
        _say(f"Local broker on {stack.settings.kafka.bootstrap_servers}; data in {stack.settings.data_dir}")
        reset_warehouse(stack.settings)
        stack.run("migrate", quiet=True)
        worker = stack.start("worker", "--sink", "--exit-when-idle", str(IDLE_EXIT_S))
        truth = stack.settings.data_dir / "ground-truth.json"
        stack.run("simulate", "--customers", str(customers), "--seed", str(seed), "--days", str(days),
                  "--as-fast-as-possible", "--truth", str(truth))
        with console.status("Stitching journeys and loading the warehouse…"):
            stack.wait(worker)
    _report(stack, truth)
    _say(f"Done in {time.monotonic() - started:,.0f} s.")


def _report(stack: EmbeddedStack, truth: Path) -> None:
    report = stack.settings.data_dir / "experience-map.html"
    stack.run("map", "--out", str(report))  # its own process first: chDB opens a path in one process at a time
    rows = print_report(console, stack.settings, load_journey_map(stack.settings.journey_map))
    empty = [name for name, count in rows.items() if count == 0]
    if empty:
        raise JourneysError(f"the demo produced no {', '.join(empty)} rows; see {stack.settings.data_dir / 'logs'}")
    console.rule("Where everything is")
    data = stack.settings.data_dir
    console.print(f"experience map   {report}\nwarehouse        {data / 'warehouse'} "
                  f"(query it: journeys query --list)\nground truth     {truth}\nlogs             {data / 'logs'}")


@click.command()
@click.option("--customers", default=20000, show_default=True, help="Simulated customers.")
@click.option("--rate", default=300, show_default=True, help="Simulated events per second.")
@click.option("--simulate/--no-simulate", default=True, help="Generate traffic (else only the collector).")
@click.option("--collector/--no-collector", default=True, help="Also run the web collector.")
@click.option("--incidents", "scenario_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Inject this scenario's incidents (YAML; start_day counts from the first of the "
                   f"{LIVE_HISTORY_DAYS} simulated days).")
@click.pass_context
def up(ctx: click.Context, customers: int, rate: int, simulate: bool, collector: bool,
       scenario_path: Path | None) -> None:
    """Run the embedded stack live with a terminal view until Ctrl-C; the warehouse is kept."""
    settings = settings_of(ctx)
    scenario = scenario_of(scenario_path, load_journey_map(settings.journey_map))
    with stopped_by_signals(), embedded_stack(settings) as stack:
        try:  # a signal at any point from here on (one only: see stopped_by_signals) stops the stages in order
            _announce_previous(stack)
            _say(f"Local broker on {stack.settings.kafka.bootstrap_servers}; data in {stack.settings.data_dir}")
            stack.run("migrate", quiet=True)
            stack.start("worker", "--sink")
            if collector:
                stack.start("collect")
            if simulate:
                _simulate(stack, customers, rate, scenario_path, scenario)
            _say(live_map_line(stack.settings))  # from journeys.readclient: waits until the worker serves it
            _live(stack.settings)
        except KeyboardInterrupt:
            _say(f"Stopping (at most {STOP_TIMEOUT_S:.0f} s)…")
    _say(f"Stopped. The warehouse is kept in {stack.settings.data_dir / 'warehouse'}: journeys query --list "
         f"(the next embedded start moves it to {stack.settings.data_dir / PREVIOUS_DIR})")


def _simulate(stack: EmbeddedStack, customers: int, rate: int, scenario_path: Path | None,
              scenario: Scenario | None) -> None:
    start = (datetime.now(UTC) - timedelta(days=LIVE_HISTORY_DAYS)).date().isoformat()
    switch_file(stack.settings).unlink(missing_ok=True)  # a switch of a previous run is not this one's
    planned = ("--incidents", str(scenario_path)) if scenario_path else ()
    stack.start("simulate", "--customers", str(customers), "--seed", str(int(time.time())),
                "--rate", str(rate), "--days", str(LIVE_HISTORY_DAYS), "--start", start, "--no-progress",
                *planned, "--incident-log", str(incident_log(stack.settings)),
                "--switch-file", str(switch_file(stack.settings)))
    _announce_incidents(scenario, start, stack.settings)


@click.command("switch-on")
@click.argument("scenario_path", metavar="FILE", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.pass_context
def switch_on(ctx: click.Context, scenario_path: Path) -> None:
    """Switch on the incidents of a scenario FILE in a running `journeys up`, from its present simulated moment."""
    settings = settings_of(ctx)
    scenario = scenario_of(scenario_path, load_journey_map(settings.journey_map))
    planned_only = [spec.name for spec in scenario.incidents if spec.kind not in SWITCHABLE] if scenario else []
    if planned_only:
        raise click.BadParameter(f"{', '.join(planned_only)}: only {', '.join(SWITCHABLE)} can be switched on while "
                                 "`up` runs (give the others to `journeys up --incidents`)", param_hint="FILE")
    target = switch_file(settings)
    target.parent.mkdir(parents=True, exist_ok=True)
    written = target.with_suffix(".tmp")
    written.write_bytes(scenario_path.read_bytes())
    written.replace(target)  # whole, at once: the simulator never reads half a file
    _say(f"written to {target}: a running `journeys up` injects it from its next chunk (start_day counts from "
         f"that simulated moment); when it is published: {incident_log(settings)}", soft_wrap=True)


def switch_file(settings: Settings) -> Path:
    """The scenario `journeys switch-on` hands to the simulator of a running `up` (producers/simulator/switch.py)."""
    return settings.data_dir / SWITCH_FILE


def incident_log(settings: Settings) -> Path:
    """Where the simulator of `up` notes each incident's first published event (switched_on.watch)."""
    return settings.data_dir / "logs" / INCIDENT_LOG


def _announce_incidents(scenario: Scenario | None, start: str, settings: Settings) -> None:
    for spec in scenario.incidents if scenario else ():
        begin, _ = spec.window(parse_start(start))
        (dim, value), = spec.where.items()
        ask = LIVE_INCIDENTS_THIN if spec.kind in THIN_KINDS else LIVE_INCIDENTS
        _say(f"incident {spec.name} ({spec.kind}, {dim}={value}) switches on at simulated {begin:%Y-%m-%d %H:%M}; "
             f"when it is published: {incident_log(settings)}; see it: journeys incidents {ask}",
             soft_wrap=True)


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def stopped_by_signals() -> Iterator[None]:
    """Ctrl-C (SIGINT) and SIGTERM stop `up` in order, whatever the process inherited.

    A shell without job control starts a background command (`journeys up &` in a script, CI, a
    Makefile) with SIGINT ignored, and Python keeps it ignored: Ctrl-C or `kill -INT` then did
    nothing. A service manager stops with SIGTERM, which would have killed `up` without stopping
    its stages."""

    def interrupt(signum: int, frame: object) -> None:
        _ignore_signals()  # one stop: a second signal must not cut it short (the stages get a deadline)
        raise KeyboardInterrupt(signal.Signals(signum).name)

    previous = {sig: signal.signal(sig, interrupt) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _ignore_signals() -> None:
    for sig in STOP_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)


def _live(settings: Settings) -> None:
    kinds = {topic(settings, HEALTH_TOPIC): "health", topic(settings, STATE_TOPIC): "state",
             topic(settings, FRICTION_TOPIC): "friction"}
    consumer = KafkaConsumer(*kinds, **consumer_options(settings, group_id=None))
    view = LiveView()
    try:
        with Live(render(view), console=console, refresh_per_second=2) as live:
            while True:
                for tp, records in consumer.poll(timeout_ms=int(LIVE_REFRESH_S * 1000)).items():
                    for message in records:
                        record = decode(message.value)
                        if record is not None:
                            view.apply(kinds[tp.topic], record, time.monotonic())
                live.update(render(view))
    finally:
        consumer.close()


def _announce_previous(stack: EmbeddedStack) -> None:
    if stack.previous is not None:
        _say(f"a new embedded log: previous worker state and warehouse kept in {stack.previous}", soft_wrap=True)


def _say(text: str, soft_wrap: bool = False) -> None:
    """One line for the user; soft_wrap keeps a path whole (copyable) on a narrow terminal."""
    console.print(f"[bold]journeys[/bold] {text}", soft_wrap=soft_wrap)
