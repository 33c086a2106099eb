"""Try writes on a migrated warehouse with the setting `readonly = 1`, in a child process.

`python -m tests.reliability.readonly_probe` (settings from JOURNEYS_* variables) prints a JSON map
statement -> error text ("" when it was allowed). A child process because chDB keeps `readonly`
for the rest of its session, which the test process shares with every other test.
"""

from __future__ import annotations

import sys

import orjson

from clickhouse.client import connect
from clickhouse.migrate import migrate
from foundation.settings import load_settings

WRITES = ("INSERT INTO journeys (journey_id) VALUES ('j-x')", "ALTER TABLE journeys DELETE WHERE 1",
          "DROP TABLE journeys", "CREATE TABLE evil (a String) ENGINE = Memory", "SET readonly = 0")
READ = "SELECT count() FROM journeys"


def main() -> None:
    client = connect(load_settings())
    migrate(client)
    answers: dict[str, str] = {READ: str(client.query(READ, settings={"readonly": 1}).result_rows[0][0])}
    for statement in WRITES:
        try:
            client.command(statement, settings={"readonly": 1})
            answers[statement] = ""
        except Exception as err:  # the refusal is the expected answer, reported as text
            answers[statement] = str(err)
    sys.stdout.buffer.write(orjson.dumps(answers))


if __name__ == "__main__":
    main()
