"""Print the warehouse's current view as JSON: run as a child process once the worker has stopped.

`python -m tests.reliability.dump` reads the settings from JOURNEYS_* variables (chDB opens one
data path per process, so the test process cannot open the worker's warehouse itself).
"""

from __future__ import annotations

import sys
from typing import Any

import orjson
from clickhouse_connect.driver.client import Client

from clickhouse.client import connect
from foundation.settings import load_settings

STEPS = "SELECT event_id, customer_id, journey_id, step_index, late FROM journey_steps FINAL"
JOURNEYS = ("SELECT journey_id, customer_id, mapKeys(phase_first_at), furthest_phase, converted "
            "FROM journeys FINAL WHERE NOT retracted")
FRICTION = "SELECT friction_id, rule, evidence, customer_id FROM friction FINAL WHERE NOT retracted"
COUNTS = {
    "touchpoints": "SELECT count() FROM touchpoints FINAL",
    "touchpoint_ids": "SELECT uniqExact(event_id) FROM touchpoints",
    "steps": "SELECT count() FROM journey_steps FINAL",
    "step_ids": "SELECT uniqExact(event_id) FROM journey_steps",
    "dead_letters": "SELECT count() FROM dead_letters FINAL",
}
HEALTH = ("SELECT sumIf(events, stage = 'worker'), sumIf(dead_letters, stage = 'worker'), "
          "sumIf(errors, stage = 'sink'), sumIf(retries, stage = 'sink'), anyIf(note, stage = 'sink' AND note != '') "
          "FROM pipeline_health FINAL")


def rows(client: Client, sql: str) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in client.query(sql).result_rows]


def view(client: Client) -> dict[str, Any]:
    worker_events, worker_dead, sink_errors, sink_retries, sink_note = rows(client, HEALTH)[0]
    return {
        "steps": [dict(zip(("event_id", "customer_id", "journey_id", "step_index", "late"), r, strict=True))
                  for r in rows(client, STEPS)],
        "journeys": [{"journey_id": j, "customer_id": c, "phase_first_at": dict.fromkeys(p, ""),
                      "furthest_phase": f or None, "converted": bool(v)} for j, c, p, f, v in rows(client, JOURNEYS)],
        "friction": [{"friction_id": i, "rule": r, "evidence": list(e), "customer_id": c}
                     for i, r, e, c in rows(client, FRICTION)],
        "counts": {name: rows(client, sql)[0][0] for name, sql in COUNTS.items()},
        "health": {"worker_events": worker_events, "worker_dead_letters": worker_dead,
                   "sink_errors": sink_errors, "sink_retries": sink_retries, "sink_note": sink_note},
        "dead_letters": [dict(zip(("source", "reason", "kind", "payload"), r, strict=True))
                         for r in rows(client, "SELECT source, reason, kind, payload FROM dead_letters FINAL")],
    }


def everything(client: Client) -> dict[str, list[str]]:
    """Every row of every table and view of the database, as text (for searching)."""
    tables = rows(client, "SELECT name FROM system.tables WHERE database = currentDatabase()")
    mutations = "SELECT command FROM system.mutations WHERE database = currentDatabase()"  # what deletes said
    return {**{name: [repr(row) for row in rows(client, f"SELECT * FROM `{name}`")] for (name,) in tables},
            "system.mutations": [repr(row) for row in rows(client, mutations)]}


def main() -> None:
    client = connect(load_settings())
    sys.stdout.buffer.write(orjson.dumps(everything(client) if "--all" in sys.argv else view(client)))


if __name__ == "__main__":
    main()
