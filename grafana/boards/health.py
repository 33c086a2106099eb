"""Grafana stage: the Live journey health dashboard, for operations (refreshes every 10 s).

Throughput per channel, consumer lag, dead letters and their reasons, active and stalled
journeys, end-to-end latency and sink errors, from the per-minute `pipeline_health` samples and
the `dead_letters` table. Pipeline samples and dead letters carry no context, so only the journeys
panel follows the dimension variables. Rates are per second over buckets of at least one minute, the grain
of the samples, so a short interval never shows a partial minute as a dip.
"""

from __future__ import annotations

from grafana.boards.common import (
    CHANNEL,
    INGEST_STAGES,
    JOURNEY_CHANNEL,
    JOURNEYS,
    SEGMENT,
    VARIABLES,
    journey_dimensions,
    variables,
    where,
)
from grafana.model import BAD, Column, Dashboard, Format, Panel, Target, Thresholds
from schemas.journeymap import JourneyMap

UID = "journeys-health"
HEALTH = "pipeline_health FINAL"
BUCKET_S = "greatest($__interval_s, 60)"
CONSUMER_STAGES = "('worker', 'sink')"
# Consumer stages report for all channels at once (channel 'all'): keep them under any selection.
STAGE_CHANNEL = "$__conditionalAll(channel IN ('all', ${channel:singlequote}), $channel)"
LAG_WARN, LAG_BAD = 1_000, 10_000
LATENCY_WARN_MS, LATENCY_BAD_MS = 5_000, 30_000


def _series(title: str, sql: str, unit: str = "", thresholds: Thresholds | None = None) -> Panel:
    return Panel(title, "timeseries", (Target(sql, Format.TIME_SERIES),), unit=unit, thresholds=thresholds)


def _events_per_s() -> Panel:
    sql = (f"SELECT toStartOfInterval(minute, INTERVAL {BUCKET_S} second) AS time, channel,\n"
           f"  sum(events) / {BUCKET_S} AS events_per_s\n"
           f"FROM {HEALTH}\n{where('$__timeFilter(minute)', f'stage IN {INGEST_STAGES}', CHANNEL)}\n"
           "GROUP BY time, channel\nORDER BY time")
    return _series("Events per second by channel", sql, "reqps")


def _lag() -> Panel:
    sql = ("SELECT $__timeInterval(minute) AS time, stage, max(lag) AS lag\n"
           f"FROM {HEALTH}\n{where('$__timeFilter(minute)', f'stage IN {CONSUMER_STAGES}', STAGE_CHANNEL)}\n"
           "GROUP BY time, stage\nORDER BY time")
    return _series("Consumer lag", sql, "short", Thresholds.lower_is_better(LAG_WARN, LAG_BAD))


def _dead_letters() -> Panel:
    sql = ("SELECT $__timeInterval(rejected_at) AS time, if(channel = '', 'unknown', channel) AS source_channel,\n"
           "  count() AS dead_letters\n"
           f"FROM dead_letters FINAL\n{where('$__timeFilter(rejected_at)', CHANNEL)}\n"
           "GROUP BY time, source_channel\nORDER BY time")
    return _series("Dead letters", sql, "short")


def _dead_letter_reasons() -> Panel:
    sql = ("SELECT kind, reason, count() AS dead_letters, max(rejected_at) AS last_seen\n"
           f"FROM dead_letters FINAL\n{where('$__timeFilter(rejected_at)', CHANNEL)}\n"
           "GROUP BY kind, reason\nORDER BY dead_letters DESC\nLIMIT 20")
    return Panel("Dead-letter reasons", "table", (Target(sql),),
                 columns=(Column("dead_letters", thresholds=Thresholds("transparent", ((1, BAD),))),))


def _journeys_now(journey_map: JourneyMap) -> Panel:
    scope = ("retracted = 0", "$__timeFilter(last_event_at)", JOURNEY_CHANNEL, SEGMENT, *journey_dimensions(journey_map))
    sql = ("SELECT countIf(status = 'active') AS active, countIf(status = 'stalled') AS stalled,\n"
           "  countIf(status = 'closed') AS closed\n"
           f"FROM {JOURNEYS}\n{where(*scope)}")
    return Panel("Active and stalled journeys", "stat", (Target(sql),),
                 description="Journeys with an event in the range, by status.")


def _latency() -> Panel:
    sql = ("SELECT $__timeInterval(minute) AS time, stage, max(latency_ms_p95) AS p95_ms, max(latency_ms_p50) AS p50_ms\n"
           f"FROM {HEALTH}\n{where('$__timeFilter(minute)', 'latency_ms_p95 IS NOT NULL', STAGE_CHANNEL)}\n"
           "GROUP BY time, stage\nORDER BY time")
    return _series("End-to-end latency", sql, "ms", Thresholds.lower_is_better(LATENCY_WARN_MS, LATENCY_BAD_MS))


def _errors() -> Panel:
    sql = ("SELECT $__timeInterval(minute) AS time, stage, sum(errors) AS errors, sum(retries) AS retries\n"
           f"FROM {HEALTH}\n{where('$__timeFilter(minute)', STAGE_CHANNEL)}\n"
           "GROUP BY time, stage\nORDER BY time")
    return _series("Errors and retries", sql, "short")


def dashboard(journey_map: JourneyMap) -> Dashboard:
    channel, _, segment = VARIABLES
    return Dashboard(
        UID, "Live journey health",
        "Operations: throughput, lag, dead letters, journeys in flight and latency, refreshed every 10 s.",
        (_events_per_s(), _lag(), _dead_letters(), _dead_letter_reasons(), _journeys_now(journey_map), _latency(), _errors()),
        variables(journey_map, (channel, segment)), refresh="10s", time_from="now-1h")
