"""Commands that bring events in: the producers stage and the broker it publishes to.

`journeys broker` runs the local broker, `journeys topics create` creates the pipeline's topics,
`journeys collect` serves the web beacon collector and `journeys import` loads a channel's export
file. Each command only parses flags and prints; the work is in the stage's modules.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path
from types import FrameType

import click
from pydantic import SecretStr
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

from foundation.kafka import ensure_topics, topic_specs
from foundation.localbroker import local_broker
from journeys.commands.options import settings_of
from producers.collector import EVENTS_PATH, serve
from producers.importer import ImportSummary, check_channel, import_file
from producers.mapping import load_mapping
from producers.publisher import Publisher
from schemas.errors import BrokerError
from schemas.journeymap import map_channel_names

BROKER_POLL_S = 0.5


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@click.command("broker")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=int, default=9092, show_default=True, help="Port to listen on (0: any free port).")
@click.option("--log-file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Broker log (default: a file in the temporary directory).")
def broker_command(host: str, port: int, log_file: Path | None) -> None:
    """Run the local Kafka-protocol broker (in memory) until Ctrl-C or SIGTERM."""
    signal.signal(signal.SIGTERM, _raise_interrupt)
    with local_broker(host, port or None, log_file) as broker:
        click.echo(f"local broker ready: bootstrap servers {broker.bootstrap_servers} (log {broker.log_path})")
        click.echo(f"  export JOURNEYS_KAFKA__BOOTSTRAP_SERVERS={broker.bootstrap_servers}")
        try:
            while broker.process.poll() is None:
                time.sleep(BROKER_POLL_S)
        except KeyboardInterrupt:
            click.echo("stopping the local broker")
            return
    raise BrokerError(f"the local broker exited with code {broker.process.returncode}; see {broker.log_path}")


@click.group("topics")
def topics_group() -> None:
    """The pipeline's Kafka topics."""


@topics_group.command("create")
@click.pass_context
def topics_create_command(ctx: click.Context) -> None:
    """Create every topic the pipeline uses (idempotent): raw, dead-letter and output topics."""
    settings = settings_of(ctx)
    created = set(ensure_topics(settings))
    for spec in topic_specs(settings):
        state = "created" if spec.name in created else "exists "
        policy = "compact" if spec.compacted else "delete"
        click.echo(f"{state} {spec.name}  partitions={spec.partitions} cleanup={policy}")
    click.echo(f"{len(created)} created, {len(topic_specs(settings)) - len(created)} already existed")


@click.command("collect")
@click.option("--host", default=None, help="Address to listen on (default: settings, 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port to listen on (default: settings, 8088).")
@click.option("--token", "tokens", multiple=True, help="Accept this bearer token (repeatable; adds to settings).")
@click.pass_context
def collect_command(ctx: click.Context, host: str | None, port: int | None, tokens: tuple[str, ...]) -> None:
    """Serve the web beacon collector: POST /v1/events, GET /healthz."""
    settings = settings_of(ctx)
    collector = settings.collector.model_copy(update={
        "tokens": [*settings.collector.tokens, *(SecretStr(t) for t in tokens)]})
    settings = settings.model_copy(update={"collector": collector})
    host, port = host or collector.host, port or collector.port
    click.echo(f"collector on http://{host}:{port}{EVENTS_PATH} -> {settings.kafka.bootstrap_servers} (Ctrl-C stops)")
    serve(settings, host, port)


@click.command("import")
@click.option("--channel", required=True, help="Channel of the events, e.g. call_centre, email, store.")
@click.option("--mapping", "mapping_path", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Mapping file (YAML): source columns -> event fields; see producers/mappings/.")
@click.option("--rejects", "rejects_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Where rejected rows go (JSON Lines; default: <data_dir>/rejects/<file>-<time>.jsonl).")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.pass_context
def import_command(ctx: click.Context, channel: str, mapping_path: Path, rejects_path: Path | None,
                   file: Path) -> None:
    """Import a CSV or JSON Lines FILE of CHANNEL events through a declarative mapping."""
    settings, mapping = settings_of(ctx), load_mapping(mapping_path)
    check_channel(channel, mapping, mapping_path, map_channel_names(settings.journey_map))
    console = Console(stderr=True)
    columns = ("{task.description}", BarColumn(), DownloadColumn(), TimeRemainingColumn())
    with Publisher.connect(settings, source="importer") as publisher, \
            Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task(f"importing {file.name}", total=file.stat().st_size)
        summary = import_file(publisher, file, mapping, channel, rejects_path,
                              lambda size: progress.advance(task, size))
    _print_summary(summary)


def _print_summary(summary: ImportSummary) -> None:
    click.echo(f"{summary.file}: read {summary.read}, published {summary.published}, rejected {summary.rejected}")
    for reason, count in summary.rejected_by_reason.most_common():
        click.echo(f"  rejected {count:>6}  {reason}")
    if summary.rejected:
        click.echo(f"rejected rows: {summary.rejects_file} (and the dead-letter topic)")
