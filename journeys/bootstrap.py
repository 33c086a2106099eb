"""Entry layer: the one place where stages are wired together into running apps.

The stream worker (streams) and the warehouse sink (clickhouse) never import each other; a worker
run with `--sink` is assembled here: the sink runs as a task of the worker's Faust app (which then
owns the embedded chDB warehouse and so also answers reads), the worker counts the sink's work as
its own when it decides it is idle, and its last health samples wait until the sink has written
them. Commands call these builders; nothing else attaches one stage to another.
"""

from __future__ import annotations

import faust

from clickhouse.agents import WarehousePort, attach_sink
from clickhouse.agents import sink_app as bare_sink_app
from foundation.marks import LogReset
from foundation.settings import Settings
from journeys.reads import attach_reads
from schemas.journeymap import JourneyMap, load_journey_map
from streams.worker import build_stages


def worker_app(settings: Settings, sink: bool = False, exit_when_idle_s: float = 0.0,
               refusals: list[LogReset] | None = None, journey_map: JourneyMap | None = None) -> faust.App:
    """The stream worker's app; with `sink`, the warehouse sink (and the read endpoint) run in it too."""
    stages = build_stages(settings, journey_map, exit_when_idle_s, refusals)
    if sink:
        port = attach_sink(stages.app, settings)
        stages.liveness.watch(lambda: port.last_work_s, lambda reporter: port.samples_written[reporter])
        attach_reads(stages.app, settings)  # the owner of the embedded warehouse answers reads
    return stages.app


def sink_app(settings: Settings) -> tuple[faust.App, WarehousePort]:
    """The warehouse sink alone (`journeys sink`); it owns the embedded warehouse, so it answers reads too."""
    load_journey_map(settings.journey_map)  # registers the map's channels: the sink reads their steps
    app, port = bare_sink_app(settings)
    attach_reads(app, settings)
    return app, port
