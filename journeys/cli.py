"""The `journeys` command: one entry point for every process and tool.

This module is the table of contents: each command name maps to the area module of
journeys/commands/ that defines it, loaded by name when the command runs (or when help lists it),
so `journeys worker` does not import Grafana's builders and `journeys query` not Faust. Settings
are read once here and passed to commands in the context (journeys.commands.options.settings_of).
"""

from __future__ import annotations

import importlib
import logging
import sys

import click

from foundation.settings import load_settings
from journeys import __version__
from schemas.errors import JourneysError

# Kafka clients log every connection at INFO; operators need their warnings, not their chatter.
NOISY_CLIENT_LOGGERS = ("kafka", "aiokafka")
AREAS = "journeys.commands."
# command name -> "area module:click command" (the module is under journeys/commands/)
COMMANDS = {
    "schemas": "contract:schemas_group", "validate": "contract:validate_command", "hash": "contract:hash_command",
    "broker": "ingest:broker_command", "topics": "ingest:topics_group", "collect": "ingest:collect_command",
    "import": "ingest:import_command", "simulate": "simulate:simulate_command",
    "worker": "worker:worker_command", "sink": "worker:sink_command",
    "migrate": "warehouse:migrate_command", "query": "warehouse:query_command",
    "funnel": "analyses:funnel_command", "paths": "analyses:paths_command",
    "incidents": "analyses:incidents_command", "explain": "analyses:explain_command",
    "grafana": "dashboards:grafana_group", "map": "experience_map:map_command",
    "demo": "runtime:demo", "up": "runtime:up", "forget": "erasure:forget_command",
}


class JourneysGroup(click.Group):
    """Loads each command's area module on demand, and turns the project's own errors into one
    clear line and exit code 2, not a traceback."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module, _, attr = COMMANDS[cmd_name].partition(":")
        command = getattr(importlib.import_module(AREAS + module), attr)
        assert isinstance(command, click.Command) and command.name == cmd_name, COMMANDS[cmd_name]
        return command

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
