"""Grafana stage: small models of dashboards as code, rendered to Grafana's JSON.

Dashboards are built in Python (grafana/boards/) from these frozen dataclasses and exported as
stable, sorted JSON, so a change to a panel is a reviewable diff. Targets use the ClickHouse
plugin's fields exactly (`rawSql`, `editorType: sql`, `queryType`, numeric `format`); variables
are ClickHouse query variables, multi-value with All, refreshed when the dashboard loads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

DATASOURCE_TYPE = "grafana-clickhouse-datasource"
DATASOURCE_UID = "journeys-clickhouse"
DATASOURCE = {"type": DATASOURCE_TYPE, "uid": DATASOURCE_UID}
PLUGIN_VERSION = "4.11.0"
SCHEMA_VERSION = 39
GRID_COLUMNS = 24
GOOD, WARN, BAD = "green", "orange", "red"


class Format(IntEnum):
    """The plugin's `format` numbers (must be JSON numbers, not names)."""

    TIME_SERIES = 0
    TABLE = 1


@dataclass(frozen=True)
class Target:
    """One ClickHouse SQL query of a panel."""

    sql: str
    format: Format = Format.TABLE
    ref_id: str = "A"

    def to_json(self) -> dict[str, Any]:
        query_type = "timeseries" if self.format is Format.TIME_SERIES else "table"
        return {"datasource": DATASOURCE, "editorType": "sql", "format": int(self.format),
                "pluginVersion": PLUGIN_VERSION, "queryType": query_type, "rawSql": self.sql,
                "refId": self.ref_id}


@dataclass(frozen=True)
class Thresholds:
    """Colour steps: the base colour, then (value, colour) from that value upwards."""

    base: str
    steps: tuple[tuple[float, str], ...] = ()

    @classmethod
    def higher_is_better(cls, warn_below: float, good_from: float) -> Thresholds:
        return cls(BAD, ((warn_below, WARN), (good_from, GOOD)))

    @classmethod
    def lower_is_better(cls, warn_from: float, bad_from: float) -> Thresholds:
        return cls(GOOD, ((warn_from, WARN), (bad_from, BAD)))

    def to_json(self) -> dict[str, Any]:
        steps: list[dict[str, Any]] = [{"color": self.base, "value": None}]
        steps += [{"color": colour, "value": value} for value, colour in self.steps]
        return {"mode": "absolute", "steps": steps}


@dataclass(frozen=True)
class Column:
    """How one table column (field) is shown: unit, decimals, and colouring by thresholds."""

    name: str
    unit: str = ""
    thresholds: Thresholds | None = None
    decimals: int | None = None

    def to_json(self) -> dict[str, Any]:
        props: list[dict[str, Any]] = []
        if self.unit:
            props.append({"id": "unit", "value": self.unit})
        if self.decimals is not None:
            props.append({"id": "decimals", "value": self.decimals})
        if self.thresholds is not None:
            props.append({"id": "thresholds", "value": self.thresholds.to_json()})
            props.append({"id": "custom.cellOptions", "value": {"type": "color-background"}})
        return {"matcher": {"id": "byName", "options": self.name}, "properties": props}


@dataclass(frozen=True)
class Panel:
    """A panel: its visual kind, its queries, and the columns its kind needs from them."""

    title: str
    kind: str  # timeseries | table | stat | barchart | bargauge | piechart | nodeGraph
    targets: tuple[Target, ...]
    width: int = 12
    height: int = 8
    description: str = ""
    unit: str = ""
    thresholds: Thresholds | None = None
    columns: tuple[Column, ...] = ()
    options: dict[str, Any] = field(default_factory=dict)
    stack: bool = False

    def to_json(self, panel_id: int, x: int, y: int) -> dict[str, Any]:
        defaults: dict[str, Any] = {"unit": self.unit} if self.unit else {}
        if self.thresholds is not None:
            defaults["thresholds"] = self.thresholds.to_json()
            defaults["color"] = {"mode": "thresholds"}
        if self.stack:
            defaults["custom"] = {"stacking": {"group": "A", "mode": "normal"}}
        return {
            "datasource": DATASOURCE, "description": self.description, "id": panel_id,
            "fieldConfig": {"defaults": defaults, "overrides": [c.to_json() for c in self.columns]},
            "gridPos": {"h": self.height, "w": self.width, "x": x, "y": y},
            "options": self.options, "targets": [t.to_json() for t in self.targets],
            "title": self.title, "type": self.kind,
        }


@dataclass(frozen=True)
class Variable:
    """A ClickHouse query variable: multi-value, with All (no custom all value)."""

    name: str
    label: str
    sql: str

    def to_json(self) -> dict[str, Any]:
        return {"current": {"text": ["All"], "value": ["$__all"]}, "datasource": DATASOURCE,
                "definition": self.sql, "includeAll": True, "label": self.label, "multi": True,
                "name": self.name, "options": [], "query": self.sql, "refresh": 1, "sort": 1,
                "type": "query"}


@dataclass(frozen=True)
class Dashboard:
    """A dashboard: panels laid out left to right, top to bottom, on Grafana's 24-column grid."""

    uid: str
    title: str
    description: str
    panels: tuple[Panel, ...]
    variables: tuple[Variable, ...] = ()
    refresh: str = ""
    time_from: str = "now-7d"
    tags: tuple[str, ...] = ("journeys",)

    def layout(self) -> list[dict[str, Any]]:
        placed, x, y, row_height = [], 0, 0, 0
        for panel_id, panel in enumerate(self.panels, start=1):
            if x + panel.width > GRID_COLUMNS:
                x, y, row_height = 0, y + row_height, 0
            placed.append(panel.to_json(panel_id, x, y))
            x, row_height = x + panel.width, max(row_height, panel.height)
        return placed

    def to_json(self) -> dict[str, Any]:
        return {
            "description": self.description, "editable": True, "panels": self.layout(),
            "refresh": self.refresh, "schemaVersion": SCHEMA_VERSION, "tags": list(self.tags),
            "templating": {"list": [v.to_json() for v in self.variables]},
            "time": {"from": self.time_from, "to": "now"}, "timezone": "utc",
            "title": self.title, "uid": self.uid, "version": 1,
        }
