"""The `journeys` command: one entry point for every process and tool.

This module is the table of contents: each command name maps to the area module of
journeys/commands/ that defines it, loaded by name when the command runs, so `journeys worker`
does not import Grafana's builders, `journeys query` not Faust, and `journeys --help` no stage. Settings
are read once here and passed to commands in the context (journeys.commands.options.settings_of).
"""

from __future__ import annotations

import importlib
import logging
import sys

import click
from click.utils import make_default_short_help

from foundation.settings import load_settings
from journeys import __version__
from schemas.errors import JourneysError

# Kafka clients log every connection at INFO; operators need their warnings, not their chatter.
NOISY_CLIENT_LOGGERS = ("kafka", "aiokafka")
AREAS = "journeys.commands."
# command name -> ("area module:click command", its one-line summary). The module (under
# journeys/commands/) is imported only when its command runs; `journeys --help` lists the summaries
# from here, so it imports no stage (tests/journeys/test_command_table.py keeps them equal to the
# commands' own first lines).
COMMANDS: dict[str, tuple[str, str]] = {
    "broker": ("ingest:broker_command", "Run the local Kafka-protocol broker (in memory) until Ctrl-C or SIGTERM."),
    "collect": ("ingest:collect_command", "Serve the web beacon collector: POST /v1/events, GET /healthz."),
    "conformance": ("analyses:conformance_command", "Conformance: per touchpoint, journeys that go back a phase, skip "
                                                    "one, or stay longer than allowed."),
    "demo": ("runtime:demo", "Run the whole pipeline embedded on a simulation, then print the funnel, friction "
                             "and scorecard."),
    "explain": ("analyses:explain_command", "What explains a change: per changed step share or friction rate, each "
                                            "dimension value's part of it."),
    "forget": ("erasure:forget_command", "Erase one customer (IDENTIFIER: email:ADDRESS, phone:NUMBER, KIND:VALUE or "
                                         "customer_id:ID)."),
    "funnel": ("analyses:funnel_command", "Step funnel per period: journeys reaching each step in order within the "
                                          "window, vs the previous period."),
    "grafana": ("dashboards:grafana_group", "Dashboards as code: build the JSON, deploy to Grafana, check every panel "
                                            "query."),
    "hash": ("contract:hash_command", "Print the hash of IDENTIFIER (email:ADDRESS or phone:NUMBER) under the "
                                      "configured PII secret."),
    "import": ("ingest:import_command", "Import a CSV or JSON Lines FILE of CHANNEL events through a declarative "
                                       "mapping."),
    "incidents": ("analyses:incidents_command", "Incidents: cells worse (or better) than their baseline of trailing "
                                                "periods, joined over periods."),
    "map": ("experience_map:map_command", "Draw the experience map (phases x touchpoints, emotion curve, moments of "
                                          "truth)."),
    "migrate": ("warehouse:migrate_command", "Create or upgrade the warehouse tables (safe to re-run)."),
    "paths": ("analyses:paths_command", "Paths: transitions between steps with counts, shares and median time between; "
                                        "or loops."),
    "query": ("warehouse:query_command", "Run the named analytical query NAME (see --list)."),
    "schemas": ("contract:schemas_group", "The event contract as JSON Schema."),
    "simulate": ("simulate:simulate_command", "Publish simulated customer journeys (with known friction) and write "
                                              "their ground truth."),
    "sink": ("worker:sink_command", "Run the warehouse sink alone: output topics -> ClickHouse, until stopped."),
    "switch-on": ("runtime:switch_on", "Switch on the incidents of a scenario FILE in a running `journeys up`, "
                                       "from its present simulated moment."),
    "topics": ("ingest:topics_group", "The pipeline's Kafka topics."),
    "up": ("runtime:up", "Run the embedded stack live with a terminal view until Ctrl-C; the warehouse is kept."),
    "validate": ("contract:validate_command", "Check a JSON Lines FILE (or - for standard input) against the contract "
                                              "and journey map."),
    "worker": ("worker:worker_command", "Run the stream processor: identity, journeys and friction from the raw "
                                        "topics."),
}


class JourneysGroup(click.Group):
    """Loads each command's area module on demand, and turns the project's own errors into one
    clear line and exit code 2, not a traceback."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module, _, attr = COMMANDS[cmd_name][0].partition(":")
        command = getattr(importlib.import_module(AREAS + module), attr)
        assert isinstance(command, click.Command) and command.name == cmd_name, COMMANDS[cmd_name]
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list from the table's summaries, as click lays it out, without loading them."""
        limit = formatter.width - 6 - max(len(name) for name in COMMANDS)
        rows = [(name, make_default_short_help(summary, limit)) for name, (_, summary) in sorted(COMMANDS.items())]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except JourneysError as err:
            click.echo(f"error: {err}", err=True)
            sys.exit(2)


@click.group(cls=JourneysGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="journeys")
@click.pass_context
def main(ctx: click.Context) -> None:
    """Journey Tracker: live, omnichannel customer journeys from touchpoint events."""
    settings = load_settings()
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for chatty in NOISY_CLIENT_LOGGERS:
        logging.getLogger(chatty).setLevel(max(logging.WARNING, logging.getLogger().level))
    ctx.obj = settings
