"""Grafana stage: dashboards as code, built with Grafana's typed builders (grafana-foundation-sdk).

Boards (grafana/boards/) describe panels with the small frozen values below (a title, a kind, the
ClickHouse SQL of each target, unit, thresholds, columns), which the panel check and the tests
read; `to_json` builds them with the SDK's typed builders (dashboard, one builder per panel kind,
query variables, thresholds, overrides) and serialises them with the SDK's encoder. The SDK has
no ClickHouse data source, so `ClickHouseQuery` is ours: a `Dataquery` variant with the plugin's
fields exactly (`rawSql`, `editorType: sql`, `queryType`, numeric `format`), which every panel
builder accepts as a target.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from grafana_foundation_sdk.builders import barchart, bargauge, nodegraph, piechart, stat, table, timeseries
from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.builders import dashboard as builders
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models import dashboard as models

DATASOURCE_TYPE = "grafana-clickhouse-datasource"
DATASOURCE_UID = "journeys-clickhouse"
DATASOURCE = {"type": DATASOURCE_TYPE, "uid": DATASOURCE_UID}
DATASOURCE_REF = models.DataSourceRef(type_val=DATASOURCE_TYPE, uid=DATASOURCE_UID)
PLUGIN_VERSION = "4.11.0"
GRID_COLUMNS = 24
GOOD, WARN, BAD = "green", "orange", "red"
ALL = "$__all"

AnyPanelBuilder = Any  # the SDK's panel builders share methods but no base class


def _barchart() -> barchart.Panel:
    """The SDK writes a hidden legend and sorted tooltips by default; Grafana's own defaults for bar
    charts (what the board had before the SDK) show the legend and keep the series order."""
    legend = (common_builders.VizLegendOptions().show_legend(True).display_mode(common.LegendDisplayMode.LIST)
              .placement(common.LegendPlacement.BOTTOM))
    tooltip = common_builders.VizTooltipOptions().mode(common.TooltipDisplayMode.SINGLE).sort(common.SortOrder.NONE)
    return barchart.Panel().legend(legend).tooltip(tooltip)


PANEL_BUILDERS: dict[str, Callable[[], AnyPanelBuilder]] = {
    "timeseries": timeseries.Panel, "table": table.Panel, "stat": stat.Panel, "barchart": _barchart,
    "bargauge": bargauge.Panel, "piechart": piechart.Panel, "nodeGraph": nodegraph.Panel,
}


class Format(IntEnum):
    """The plugin's `format` numbers (must be JSON numbers, not names)."""

    TIME_SERIES = 0
    TABLE = 1


class ClickHouseQuery(cogvariants.Dataquery):
    """The ClickHouse plugin's target (the SDK ships no ClickHouse data source)."""

    def __init__(self, sql: str, fmt: Format, ref_id: str, sampling: tuple[int, int] | None = None) -> None:
        self.sql, self.format, self.ref_id, self.sampling = sql, fmt, ref_id, sampling

    def to_json(self) -> dict[str, Any]:
        query_type = "timeseries" if self.format is Format.TIME_SERIES else "table"
        query = {"datasource": DATASOURCE, "editorType": "sql", "format": int(self.format),
                 "pluginVersion": PLUGIN_VERSION, "queryType": query_type, "rawSql": self.sql, "refId": self.ref_id}
        if self.sampling is not None:  # an alert query says its own interval and points (no panel to ask)
            query |= {"intervalMs": self.sampling[0], "maxDataPoints": self.sampling[1]}
        return query


@dataclass(frozen=True)
class Target(cogbuilder.Builder[ClickHouseQuery]):
    """One ClickHouse SQL query of a panel, a builder the SDK's panels take as a target."""

    sql: str
    format: Format = Format.TABLE
    ref_id: str = "A"
    sampling: tuple[int, int] | None = None  # (intervalMs, maxDataPoints), for alert queries

    def build(self) -> ClickHouseQuery:
        return ClickHouseQuery(self.sql, self.format, self.ref_id, self.sampling)

    def to_json(self) -> dict[str, Any]:
        return self.build().to_json()


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

    def builder(self) -> builders.ThresholdsConfig:
        steps = [models.Threshold(None, self.base)] + [models.Threshold(v, c) for v, c in self.steps]
        return builders.ThresholdsConfig().mode(models.ThresholdsMode.ABSOLUTE).steps(steps)


@dataclass(frozen=True)
class Column:
    """How one table column (field) is shown: unit, decimals, and colouring by thresholds."""

    name: str
    unit: str = ""
    thresholds: Thresholds | None = None
    decimals: int | None = None

    def properties(self) -> list[models.DynamicConfigValue]:
        props: list[models.DynamicConfigValue] = []
        if self.unit:
            props.append(models.DynamicConfigValue("unit", self.unit))
        if self.decimals is not None:
            props.append(models.DynamicConfigValue("decimals", self.decimals))
        if self.thresholds is not None:
            props.append(models.DynamicConfigValue("thresholds", self.thresholds.builder().build()))
            props.append(models.DynamicConfigValue("custom.cellOptions", {"type": "color-background"}))
        return props


def _reduce(options: dict[str, Any]) -> common_builders.ReduceDataOptions:
    return (common_builders.ReduceDataOptions().calcs(options["calcs"]).fields(options["fields"])
            .values(options["values"]))


# A panel's `options`, each set through its typed builder method (an unknown key is an error).
OPTIONS: dict[str, Callable[[AnyPanelBuilder, Any], AnyPanelBuilder]] = {
    "displayMode": lambda p, v: p.display_mode(common.BarGaugeDisplayMode(v)),
    "orientation": lambda p, v: p.orientation(common.VizOrientation(v)),
    "reduceOptions": lambda p, v: p.reduce_options(_reduce(v)),
    "xField": lambda p, v: p.x_field(v),
    "colorByField": lambda p, v: p.color_by_field(v),
}


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

    def builder(self, panel_id: int, x: int, y: int) -> AnyPanelBuilder:
        """The SDK's builder of this panel's kind, placed at (x, y)."""
        panel = (PANEL_BUILDERS[self.kind]().id(panel_id).title(self.title).description(self.description)
                 .datasource(DATASOURCE_REF).targets(list(self.targets))
                 .grid_pos(models.GridPos(h=self.height, w=self.width, x=x, y=y)))
        if self.unit:
            panel = panel.unit(self.unit)
        if self.thresholds is not None:
            panel = panel.thresholds(self.thresholds.builder()).color_scheme(
                builders.FieldColor().mode(models.FieldColorModeId.THRESHOLDS))
        if self.stack:
            panel = panel.stacking(common_builders.StackingConfig().group("A").mode(common.StackingMode.NORMAL))
        for column in self.columns:
            panel = panel.override_by_name(column.name, column.properties())
        for key, value in self.options.items():
            panel = OPTIONS[key](panel, value)
        return panel


@dataclass(frozen=True)
class Variable:
    """A ClickHouse query variable: multi-value, with All (no custom all value)."""

    name: str
    label: str
    sql: str

    def builder(self) -> builders.QueryVariable:
        return (builders.QueryVariable(self.name).label(self.label).query(self.sql).datasource(DATASOURCE_REF)
                .multi(True).include_all(True)
                .current(models.VariableOption(text=["All"], value=[ALL]))
                .refresh(models.VariableRefresh.ON_DASHBOARD_LOAD).sort(models.VariableSort.ALPHABETICAL_ASC))


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

    def placed(self) -> list[AnyPanelBuilder]:
        """Each panel's builder on the grid: a row is as tall as its tallest panel."""
        placed, x, y, row_height = [], 0, 0, 0
        for panel_id, panel in enumerate(self.panels, start=1):
            if x + panel.width > GRID_COLUMNS:
                x, y, row_height = 0, y + row_height, 0
            placed.append(panel.builder(panel_id, x, y))
            x, row_height = x + panel.width, max(row_height, panel.height)
        return placed

    def builder(self) -> builders.Dashboard:
        board = (builders.Dashboard(self.title).uid(self.uid).description(self.description).editable()
                 .tags(list(self.tags)).refresh(self.refresh).time(self.time_from, "now").timezone("utc")
                 .version(1).variables([v.builder() for v in self.variables]))
        board.build().panels = [p.build() for p in self.placed()]  # our own grid, not the builder's
        return board

    def to_json(self) -> dict[str, Any]:
        """Grafana's dashboard JSON, as plain data."""
        return plain(self.builder().build())


def plain(built: object) -> dict[str, Any]:
    """A built SDK object as plain JSON data (the SDK's encoder, then parsed back)."""
    document: dict[str, Any] = json.loads(json.dumps(built, cls=JSONEncoder))
    return document
