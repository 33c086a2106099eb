"""The paths node graph: its two queries are the nodes and the edges Grafana's node graph reads,
and the edges are the transitions `journeys paths` counts (run on chDB by test_panels.py)."""

from __future__ import annotations

from grafana.boards import paths
from grafana.cases import shape_problems


def test_a_node_graph_needs_nodes_or_edges_columns() -> None:
    assert shape_problems("nodeGraph", [("id", "String"), ("title", "String"), ("mainstat", "UInt64")], []) == []
    assert shape_problems("nodeGraph", [("id", "String"), ("source", "String"), ("target", "String")], []) == []
    assert shape_problems("nodeGraph", [("step", "String"), ("n", "UInt64")], [])


def test_the_panel_asks_for_nodes_and_edges_over_the_dashboards_time_range() -> None:
    panel = paths.panel()
    assert [t.ref_id for t in panel.targets] == ["nodes", "edges"]
    window = "event_time >= $__fromTime_ms AND event_time < $__toTime_ms"  # half open, as kept paths' last_at < end
    assert all(window in t.sql and "{" not in t.sql.replace("{}", "") for t in panel.targets)
