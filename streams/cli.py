"""Commands of the streams stage (registered on the `journeys` group)."""

from __future__ import annotations

import click


def register(main: click.Group) -> None:
    """Add this stage's commands to `journeys`."""
