"""The `journeys` command: one entry point for every process and tool.

Each stage contributes its own commands from its `cli.py` (`register(main)`), so this module
stays a table of contents. Settings are read once here and passed to commands in the context.
"""

from __future__ import annotations

import logging
import sys

import click

from foundation.settings import Settings, load_settings
from journeys import __version__
from schemas.errors import JourneysError

# Kafka clients log every connection at INFO; operators need their warnings, not their chatter.
NOISY_CLIENT_LOGGERS = ("kafka", "aiokafka")


class JourneysGroup(click.Group):
    """Turns the project's own errors into one clear line and exit code 2, not a traceback."""

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


def settings_of(ctx: click.Context) -> Settings:
    settings = ctx.find_object(Settings)
    assert settings is not None, "main() stores the settings in the context"
    return settings


def _register_stages() -> None:
    from clickhouse.cli import register as register_clickhouse
    from grafana.cli import register as register_grafana
    from grafana.experience_map.cli import register as register_map
    from journeys.erasure import register as register_erasure
    from journeys.runtime_cli import register as register_runtime
    from producers.cli import register as register_producers
    from producers.simulator.cli import register as register_simulator
    from schemas.cli import register as register_schemas
    from streams.cli import register as register_streams

    for register in (register_schemas, register_producers, register_simulator, register_streams,
                     register_clickhouse, register_grafana, register_map, register_runtime, register_erasure):
        register(main)


_register_stages()
