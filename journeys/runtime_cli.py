"""Commands that run the whole product: `journeys demo`, `journeys up`, `journeys broker`."""

from __future__ import annotations

import click


def register(main: click.Group) -> None:
    """Add the runtime commands to `journeys`."""
