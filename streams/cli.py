"""Commands of the streams stage (registered on the `journeys` group): `journeys worker`."""

from __future__ import annotations

import click

from foundation.kafka import ensure_topics
from foundation.settings import Settings
from streams.topology import worker_topics


def run_worker(settings: Settings, sink: bool = False, exit_when_idle_s: float = 0.0) -> None:
    """Create the topics, then run the Faust worker until it is stopped (or idle, if asked).

    Raises LogReset (exit code 2, one line) when a stage found its input log reset under its state."""
    from faust import Worker

    from foundation.marks import LogReset
    from journeys.bootstrap import worker_app

    ensure_topics(settings)
    ensure_topics(settings, worker_topics(settings))
    refusals: list[LogReset] = []
    app = worker_app(settings, sink=sink, exit_when_idle_s=exit_when_idle_s, refusals=refusals)
    try:
        Worker(app, loglevel=settings.log_level, quiet=True).execute_from_commandline()
    finally:
        if refusals:  # replaces the worker's SystemExit(0) after the clean stop it asked for
            raise refusals[0]


def register(main: click.Group) -> None:
    """Add this stage's commands to `journeys`."""

    @main.command("worker")
    @click.option("--sink", is_flag=True, help="Also load the output topics into the warehouse.")
    @click.option("--exit-when-idle", "exit_when_idle_s", type=float, default=0.0, show_default=True,
                  help="Stop once neither the stages nor the sink (with --sink) had work for this many "
                       "seconds, counted from when the worker started reading (0: never).")
    @click.pass_context
    def worker(ctx: click.Context, sink: bool, exit_when_idle_s: float) -> None:
        """Run the stream processor: identity, journeys and friction from the raw topics."""
        from journeys.cli import settings_of

        run_worker(settings_of(ctx), sink, exit_when_idle_s)
