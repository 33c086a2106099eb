"""Streams stage, Faust adapter: the worker's app, built from the settings, with the stream stages wired in.

The stages and topics, in order, are in streams.topology; the stages' bodies in streams.stages;
how busy the worker is and when it stops on its own in streams.liveness. `streams.app` builds
`app` for `faust -A streams.app worker`; `journeys worker` builds it through journeys.bootstrap,
which also attaches the warehouse sink when asked.
"""

from __future__ import annotations

import faust

from foundation.faust_app import faust_app
from foundation.kafka import PRODUCER_BATCH_BYTES
from foundation.marks import LogReset
from foundation.settings import Settings
from schemas.journeymap import JourneyMap, load_journey_map
from streams import tansu_fixes
from streams.pools import tune_gc
from streams.stages import Stages
from streams.topology import app_id, wire

IDLE_CHECK_S = 1.0
# The stages hand over whole batches and wait for their acknowledgement: lingering only delays them.
STAGE_LINGER_MS = 0
# Everything the worker sends (outputs, work, changelogs) goes compressed: on the local broker
# that took ~30 % off its CPU per event. Snappy is cheap to write; aiokafka writes lz4 at its
# slowest, tightest level, which cost the worker more than the broker saved.
PRODUCER_COMPRESSION = "snappy"
# Table writes wait in Faust's changelog buffer; past this many the stream pauses to flush them.
CHANGELOG_BUFFER_MESSAGES = 10_000


def create_app(settings: Settings, journey_map: JourneyMap | None = None, exit_when_idle_s: float = 0.0,
               refusals: list[LogReset] | None = None) -> faust.App:
    """The Faust app with the stream stages only (journeys.bootstrap adds the warehouse sink)."""
    return build_stages(settings, journey_map, exit_when_idle_s, refusals).app


def build_stages(settings: Settings, journey_map: JourneyMap | None = None, exit_when_idle_s: float = 0.0,
                 refusals: list[LogReset] | None = None) -> Stages:
    """The worker's app and stages, wired from the settings only, stopping itself once idle (when
    `exit_when_idle_s` > 0: once neither the stages nor what their liveness watches had work for a
    while). A stage that refuses to go on (its log was reset) stops the worker and is added to `refusals`."""
    tansu_fixes.install(settings)
    app = faust_app(
        settings, app_id(settings), store=settings.streams.store, datadir=str(settings.data_dir / "streams"),
        table_standby_replicas=settings.streams.standby_replicas, consumer_auto_offset_reset="earliest",
        web_enabled=settings.streams.web_port > 0, web_port=settings.streams.web_port or 6066,
        key_serializer="raw", value_serializer="raw", producer_linger_ms=STAGE_LINGER_MS,
        producer_max_batch_size=PRODUCER_BATCH_BYTES, logging_config=None,
        producer_compression_type=PRODUCER_COMPRESSION)
    app.producer.buffer.max_messages = CHANGELOG_BUFFER_MESSAGES
    stages = wire(app, settings, journey_map or load_journey_map(settings.journey_map))
    stages.refusals = refusals if refusals is not None else []
    tune_gc()
    if exit_when_idle_s > 0:
        app.timer(IDLE_CHECK_S)(stages.liveness.exit_when_idle(exit_when_idle_s))
    return stages
