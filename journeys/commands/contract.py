"""Commands on the contract, for channel engineers: export the JSON Schemas, validate sample payloads,
hash PII (`journeys schemas export`, `journeys validate`, `journeys hash`)."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path
from typing import IO

import click

from journeys.commands.options import settings_of
from schemas.export import export
from schemas.journeymap import load_journey_map
from schemas.pii import PiiError, hash_identifier
from schemas.validation import Rejection, validate


@click.group("schemas")
def schemas_group() -> None:
    """The event contract as JSON Schema."""


@schemas_group.command("export")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.pass_context
def export_command(ctx: click.Context, directory: Path) -> None:
    """Write one JSON Schema (draft 2020-12) per channel of the journey map, and for feedback, into DIRECTORY."""
    load_journey_map(settings_of(ctx).journey_map)  # its channels are the ones exported
    for path in export(directory):
        click.echo(f"wrote {path}")


@click.command("validate")
@click.argument("file", type=click.File("rb"))
@click.pass_context
def validate_command(ctx: click.Context, file: IO[bytes]) -> None:
    """Check a JSON Lines FILE (or - for standard input) against the contract and journey map.

    Prints each rejected line with its reason and a summary; exits 1 if anything was rejected.
    """
    journey_map = load_journey_map(settings_of(ctx).journey_map)
    name = getattr(file, "name", "-")
    accepted, reasons = 0, Counter[str]()
    for number, line in enumerate(file, start=1):
        if not line.strip():
            continue
        result = validate(line.rstrip(b"\r\n"), f"{name}:{number}", journey_map)
        if isinstance(result, Rejection):
            reasons[result.kind] += 1
            click.echo(f"line {number}: {result.reason}")
        else:
            accepted += 1
    rejected = sum(reasons.values())
    click.echo(f"{accepted} valid, {rejected} rejected" +
               ("" if not rejected else " (" + ", ".join(f"{k}: {n}" for k, n in reasons.most_common()) + ")"))
    sys.exit(1 if rejected else 0)


@click.command("hash")
@click.argument("identifier")
@click.option("--region", default=None, metavar="CC",
              help="Region for phone numbers without a country code (default: the default_phone_region setting).")
@click.pass_context
def hash_command(ctx: click.Context, identifier: str, region: str | None) -> None:
    """Print the hash of IDENTIFIER (email:ADDRESS or phone:NUMBER) under the configured PII secret.

    The same hash the producers publish as email_hash / phone_hash (recipe: docs/channels.md), so a
    backend in another language can check its own implementation against it.
    """
    settings = settings_of(ctx)
    secret = settings.pii_secret.get_secret_value().encode("utf-8")
    try:
        _, digest = hash_identifier(identifier, secret, region or settings.default_phone_region)
    except PiiError as err:
        raise click.ClickException(str(err)) from None
    click.echo(digest)
