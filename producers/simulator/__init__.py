"""Producers stage: the seeded simulator of omnichannel traffic, with its ground truth.

`simulate(...)` (pure, in `core`) writes personas' journeys across web, call centre, e-mail and
store with injected friction, incidents, late batches, duplicates and malformed payloads; `run`
publishes them through the producer library; `journeys simulate` (journeys/commands/simulate.py)
is its command.
"""

from __future__ import annotations

from producers.simulator.arrival import Delivery
from producers.simulator.core import FRICTION_RATES, Simulation, simulate
from producers.simulator.truth import GroundTruth

__all__ = ["FRICTION_RATES", "Delivery", "GroundTruth", "Simulation", "simulate"]
