"""The `journeys` command table: every entry loads the command it names, with the summary it shows.

`journeys --help` lists the table's summaries without importing the area modules (so it stays
fast); these tests keep the table and the commands from drifting apart.
"""

from __future__ import annotations

import click
from click.testing import CliRunner
from click.utils import make_default_short_help

from journeys.cli import COMMANDS, main

WHOLE_LINE = 10_000  # a limit no summary reaches: compare whole first paragraphs


def test_each_entry_loads_its_command_with_the_same_summary() -> None:
    ctx = click.Context(main)
    for name, (_, summary) in COMMANDS.items():
        command = main.get_command(ctx, name)
        assert command is not None and command.name == name
        assert make_default_short_help(command.help or "", WHOLE_LINE) == summary, name


def test_help_lists_every_command_as_click_would() -> None:
    """The table's listing equals click's own listing of the loaded commands."""
    listed = CliRunner().invoke(main, ["--help"], terminal_width=100).output
    loaded = click.Group("journeys", commands={n: main.get_command(click.Context(main), n) for n in COMMANDS})
    with click.Context(loaded, terminal_width=100) as ctx:
        formatter = ctx.make_formatter()
        loaded.format_commands(ctx, formatter)
    assert formatter.getvalue() in listed and all(f"  {name} " in listed for name in COMMANDS)
