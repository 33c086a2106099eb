"""Grafana stage: the six dashboards, built from the journey map (phases and touchpoints)."""

from __future__ import annotations

from grafana.boards import experience, friction, funnel, health, incidents, scorecard
from grafana.model import Dashboard
from schemas.journeymap import JourneyMap


def all_dashboards(journey_map: JourneyMap) -> tuple[Dashboard, ...]:
    """Every dashboard, in menu order."""
    return (funnel.dashboard(journey_map), friction.dashboard(journey_map), scorecard.dashboard(journey_map),
            health.dashboard(journey_map), experience.dashboard(journey_map),
            incidents.dashboard(journey_map))
