"""Producers stage: the seeded simulator of omnichannel traffic, with its ground truth.

`simulate(...)` (pure, in `core`) writes personas' journeys across web, call centre, e-mail and
store with injected friction, late batches, duplicates and malformed payloads; `run` publishes
them through the producer library; `cli` adds `journeys simulate`. Exports load lazily so that
registering the command costs the `journeys` entry point nothing.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {"Delivery": "arrival", "FRICTION_RATES": "core", "Simulation": "core", "simulate": "core",
            "GroundTruth": "truth"}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{_EXPORTS[name]}"), name)
