"""The long-running stream processes: `journeys worker` (the streams stage, with the warehouse
sink if asked) and `journeys sink` (the sink alone).

Each creates the topics it reads and writes, then runs its Faust app until stopped. The sink owns
the embedded warehouse while it runs, so it also answers reads (journeys/reads.py).
"""

from __future__ import annotations

import click
import faust

from clickhouse.client import connect
from clickhouse.migrate import migrate
from foundation.kafka import ensure_topics
from foundation.marks import LogReset
from foundation.settings import Settings
from journeys.bootstrap import sink_app, worker_app
from journeys.commands.options import settings_of
from streams.topology import worker_topics


def run_worker(settings: Settings, sink: bool = False, exit_when_idle_s: float = 0.0) -> None:
    """Create the topics, then run the Faust worker until it is stopped (or idle, if asked).

    Raises LogReset (exit code 2, one line) when a stage found its input log reset under its state."""
    ensure_topics(settings)
    ensure_topics(settings, worker_topics(settings))
    refusals: list[LogReset] = []
    app = worker_app(settings, sink=sink, exit_when_idle_s=exit_when_idle_s, refusals=refusals)
    try:
        faust.Worker(app, loglevel=settings.log_level, quiet=True).execute_from_commandline()
    finally:
        if refusals:  # replaces the worker's SystemExit(0) after the clean stop it asked for
            raise refusals[0]


@click.command("worker")
@click.option("--sink", is_flag=True, help="Also load the output topics into the warehouse.")
@click.option("--exit-when-idle", "exit_when_idle_s", type=float, default=0.0, show_default=True,
              help="Stop once neither the stages nor the sink (with --sink) had work for this many "
                   "seconds, counted from when the worker started reading (0: never).")
@click.pass_context
def worker_command(ctx: click.Context, sink: bool, exit_when_idle_s: float) -> None:
    """Run the stream processor: identity, journeys and friction from the raw topics."""
    run_worker(settings_of(ctx), sink, exit_when_idle_s)


@click.command("sink")
@click.option("--loglevel", default="info", show_default=True, help="Faust worker log level.")
@click.pass_context
def sink_command(ctx: click.Context, loglevel: str) -> None:
    """Run the warehouse sink alone: output topics -> ClickHouse, until stopped."""
    settings = settings_of(ctx)
    ensure_topics(settings)
    client = connect(settings)
    migrate(client, settings.clickhouse.ttl_days, settle_after_s=settings.clickhouse.settle_after_s)
    client.close()
    app, _ = sink_app(settings)  # the sink owns the embedded warehouse: it answers reads too
    faust.Worker(app, loglevel=loglevel).execute_from_commandline()
