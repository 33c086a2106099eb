"""Run many `journeys` command lines in one child process (one chDB open, one start-up).

`python -m tests.reliability.cli_runs` reads a JSON list of argument lists on stdin and prints a
JSON list of [exit code, output] pairs: each command line goes through the real click group
(`journeys.cli.main`), its option parsing and its query path, as a shell would run it.
"""

from __future__ import annotations

import sys

import orjson
from click.testing import CliRunner

from journeys.cli import main as journeys_main


def main() -> None:
    runner = CliRunner()
    results = []
    for args in orjson.loads(sys.stdin.buffer.read()):
        result = runner.invoke(journeys_main, args, catch_exceptions=True)
        results.append([result.exit_code, result.stdout + (repr(result.exception) if result.exit_code else "")])
    sys.stdout.buffer.write(orjson.dumps(results))


if __name__ == "__main__":
    main()
