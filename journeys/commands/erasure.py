"""The `journeys forget IDENTIFIER` command: erase one customer everywhere (journeys/erasure.py)."""

from __future__ import annotations

import click

from journeys.commands.options import settings_of
from journeys.erasure import forget
from schemas.outputs import IDENTITY_TOPIC


@click.command("forget")
@click.argument("identifier")
@click.option("--dry-run", is_flag=True, help="Only say what would be erased.")
@click.pass_context
def forget_command(ctx: click.Context, identifier: str, dry_run: bool) -> None:
    """Erase one customer (IDENTIFIER: email:ADDRESS, phone:NUMBER, KIND:VALUE or customer_id:ID)."""
    report = forget(settings_of(ctx), identifier, dry_run)
    click.echo(f"{'would erase' if dry_run else 'erased'}: {report.customers} customer id(s), "
               f"{report.identifiers} identifier(s), {report.events} event(s)")
    for table, rows in report.removed.items():
        click.echo(f"  {table:<15} {rows:>8} rows removed")
    if not dry_run:
        click.echo(f"erasure list: {len(report.tombstone.identifiers)} token(s); tombstones on the compacted "
                   f"topics; forget record {report.tombstone.link_id} on {IDENTITY_TOPIC} and in identity_links")

