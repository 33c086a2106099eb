"""Grafana stage: the Touchpoint scorecard (every touchpoint's service standard side by side).

One row per touchpoint with the practice's measures for its channel (web time on site and
navigation ease, online sales and checkout abandonment; call-centre wait, transfers and
first-contact resolution; e-mail response time and bounces; store visits, conversion and queue
wait) and CSAT/NPS from the feedback about it. Thresholds colour each cell good or bad; the
friction thresholds come from the journey map, so the colours agree with the friction rules.
"""

from __future__ import annotations

from grafana.boards.common import (
    CHANNEL,
    FRICTION,
    JOURNEY_SEGMENT,
    TOUCHPOINT,
    TOUCHPOINTS,
    event_dimensions,
    friction_dimensions,
    journey_dimensions,
    variables,
    where,
)
from grafana.model import Column, Dashboard, Panel, Target, Thresholds
from schemas.journeymap import JourneyMap

UID = "journeys-scorecard"
EVENTS_IN_RANGE = ("$__timeFilter(event_time)", CHANNEL, TOUCHPOINT, JOURNEY_SEGMENT)

MEASURES = """SELECT touchpoint, any(channel) AS touchpoint_channel, count() AS events, uniqExact(customer_id) AS customers,
  round(avg(dwell_s), 1) AS time_on_page_s,
  round(avg(navigation_ease), 2) AS avg_navigation_ease,
  countIf(event_type = 'order_placed') AS online_sales,
  round(avg(wait_s), 1) AS avg_wait_s,
  round(100 * countIf(transfers > 0) / nullIf(countIf(transfers IS NOT NULL), 0), 1) AS transfer_rate_pct,
  round(100 * countIf(resolved) / nullIf(countIf(resolved IS NOT NULL), 0), 1) AS first_contact_resolution_pct,
  round(avg(response_s) / 3600, 2) AS email_response_h,
  countIf(event_type = 'bounced') AS bounces,
  countIf(event_type = 'visit') AS store_visits,
  round(100 * countIf(event_type = 'purchase') / nullIf(countIf(event_type = 'visit'), 0), 1) AS store_conversion_pct,
  round(avg(queue_wait_s), 1) AS avg_queue_wait_s"""

FEEDBACK = """SELECT ifNull(feedback_touchpoint, touchpoint) AS rated_touchpoint, round(avg(csat), 2) AS avg_csat,
  round(100 * (countIf(nps >= 9) - countIf(nps <= 6)) / nullIf(countIf(nps IS NOT NULL), 0)) AS nps_score,
  countIf(csat IS NOT NULL OR nps IS NOT NULL) AS responses"""


def _scorecard_sql(journey_map: JourneyMap) -> str:
    events_range = (*EVENTS_IN_RANGE, *event_dimensions(journey_map))
    # Feedback often carries no device or campaign: it counts for the journeys that did.
    feedback_range = ("$__timeFilter(event_time)", "(csat IS NOT NULL OR nps IS NOT NULL)", JOURNEY_SEGMENT,
                      *journey_dimensions(journey_map))
    friction_range = ("retracted = 0", "$__timeFilter(detected_at)", *friction_dimensions(journey_map))
    return (f"SELECT m.*, f.avg_csat AS csat, f.nps_score AS nps, f.responses AS feedback_responses,\n"
            "  round(100 * ifNull(x.friction, 0) / m.events, 1) AS friction_per_100_events,\n"
            "  round(100 * x.abandoned / nullIf(x.abandoned + m.online_sales, 0), 1) AS checkout_abandonment_pct\n"
            f"FROM ({MEASURES}\n  FROM {TOUCHPOINTS}\n  {where(*events_range)}\n  GROUP BY touchpoint) AS m\n"
            f"LEFT JOIN ({FEEDBACK}\n  FROM {TOUCHPOINTS}\n  {where(*feedback_range)}\n  GROUP BY rated_touchpoint) AS f"
            " ON f.rated_touchpoint = m.touchpoint\n"
            "LEFT JOIN (SELECT touchpoint AS friction_touchpoint, count() AS friction, countIf(rule = 'abandoned_checkout') AS abandoned\n"
            f"  FROM {FRICTION}\n  {where(*friction_range)}\n  GROUP BY friction_touchpoint) AS x ON x.friction_touchpoint = m.touchpoint\n"
            "ORDER BY m.touchpoint_channel, m.touchpoint")


def _columns(journey_map: JourneyMap) -> tuple[Column, ...]:
    limits = journey_map.friction
    return (
        Column("csat", thresholds=Thresholds.higher_is_better(limits.csat_max + 1, 4), decimals=2),
        Column("nps", thresholds=Thresholds.higher_is_better(0, 30)),
        Column("friction_per_100_events", thresholds=Thresholds.lower_is_better(5, 15)),
        Column("avg_navigation_ease", thresholds=Thresholds.higher_is_better(limits.navigation_ease_max + 1, 4)),
        Column("time_on_page_s", "s"),
        Column("avg_wait_s", "s", Thresholds.lower_is_better(limits.call_wait_s / 2, limits.call_wait_s)),
        Column("transfer_rate_pct", "percent", Thresholds.lower_is_better(10, 25)),
        Column("first_contact_resolution_pct", "percent", Thresholds.higher_is_better(60, 80)),
        Column("email_response_h", "h", Thresholds.lower_is_better(limits.email_unanswered_h / 2,
                                                                     limits.email_unanswered_h)),
        Column("checkout_abandonment_pct", "percent", Thresholds.lower_is_better(40, 70)),
        Column("store_conversion_pct", "percent", Thresholds.higher_is_better(15, 30)),
        Column("avg_queue_wait_s", "s", Thresholds.lower_is_better(limits.store_queue_s / 2, limits.store_queue_s)),
    )


def _csat_bars(journey_map: JourneyMap) -> Panel:
    sql = (f"{FEEDBACK}\nFROM {TOUCHPOINTS}\n"
           f"{where('$__timeFilter(event_time)', 'csat IS NOT NULL', CHANNEL, JOURNEY_SEGMENT, *journey_dimensions(journey_map))}\n"
           "GROUP BY rated_touchpoint\nORDER BY avg_csat")
    return Panel("CSAT by touchpoint", "bargauge", (Target(sql),), unit="none",
                 thresholds=Thresholds.higher_is_better(3, 4),
                 options={"displayMode": "lcd", "orientation": "horizontal",
                          "reduceOptions": {"calcs": [], "fields": "/^avg_csat$/", "values": True}})


def _friction_bars(journey_map: JourneyMap) -> Panel:
    sql = ("SELECT touchpoint, count() AS friction, countIf(severity = 'high') AS high_severity\n"
           f"FROM {FRICTION}\n{where('retracted = 0', '$__timeFilter(detected_at)', CHANNEL, TOUCHPOINT, *friction_dimensions(journey_map))}\n"
           "GROUP BY touchpoint\nORDER BY friction DESC")
    return Panel("Friction by touchpoint", "bargauge", (Target(sql),),
                 thresholds=Thresholds.lower_is_better(5, 20),
                 options={"displayMode": "gradient", "orientation": "horizontal",
                          "reduceOptions": {"calcs": [], "fields": "/^friction$/", "values": True}})


def dashboard(journey_map: JourneyMap) -> Dashboard:
    table = Panel("Service standard by touchpoint", "table", (Target(_scorecard_sql(journey_map)),), width=24, height=12,
                  description="Each touchpoint's measures side by side; green is good, orange watch, red bad.",
                  columns=_columns(journey_map))
    return Dashboard(UID, "Touchpoint scorecard",
                     "The service standard of every touchpoint, compared side by side.",
                     (table, _csat_bars(journey_map), _friction_bars(journey_map)), variables(journey_map))
