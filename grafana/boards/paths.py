"""Grafana stage: the paths node graph (which step follows which, and how often).

The nodes and edges are the paths analysis of clickhouse/analyses (the SQL of `journeys paths`)
over every journey in the dashboard's time range, from its start and up to MAX_DEPTH transitions
deep, summed over positions: an edge per (step, next step) with its transitions, a node per step
with the transitions leaving it. Parameters are literals fixed here, as for the step funnel.
"""

from __future__ import annotations

from clickhouse.analyses.paths import MAX_DEPTH, paths_sql
from grafana.boards.step_funnel import with_literals
from grafana.model import Panel, Target

LITERALS = {"start": "$__fromTime_ms", "end": "$__toTime_ms", "anchor": "''", "direction": "'from'",
            "depth": str(MAX_DEPTH), "by": "''", "limit": "10000", "channel": "''", "segment": "''",
            "where_dim": "''", "where_value": "''"}


def _transitions() -> str:
    """The window half open, in milliseconds, as the kept paths' (`last_at < end`) is: `$__timeFilter` is
    in whole seconds and takes its end in, so a journey could be read twice or not at all at an edge."""
    return with_literals(paths_sql(), LITERALS)


def panel() -> Panel:
    edges = (f"SELECT concat(from_step, ' -> ', to_step) AS id, from_step AS source, to_step AS target,\n"
             f"  sum(transitions) AS mainstat\nFROM ({_transitions()})\nGROUP BY from_step, to_step\nORDER BY id")
    nodes = (f"SELECT step AS id, step AS title, sum(n) AS mainstat\n"
             f"FROM (SELECT from_step AS step, transitions AS n FROM ({_transitions()})\n"
             f"      UNION ALL SELECT to_step, 0 FROM ({_transitions()}))\nGROUP BY step\nORDER BY id")
    return Panel("Paths: which step follows which", "nodeGraph", (Target(nodes, ref_id="nodes"),
                                                                  Target(edges, ref_id="edges")),
                 width=24, height=14,
                 description="Transitions between touchpoint:event_type steps (a step repeated in a row counts "
                 "once), over the journeys of the time range. `journeys paths` gives shares, median times and "
                 "loops, from or to any step and per dimension.")
