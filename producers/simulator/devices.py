"""Producers stage, simulator core: the context dimensions simulated events carry.

A web visit says which kind of device it came from, and a call which team answered, so analyses
can break down by `device_type`, `browser` and `agent_team` (dimensions of the journey map). The
kind of a device is a function of its id (a hash, no random draw), so adding context changes no
other draw of a seeded simulation, and every event from one device agrees on it.
"""

from __future__ import annotations

import hashlib

from producers.simulator.history import History

# Share of devices per kind, cumulative over a hash of the device id in [0, 1).
DEVICE_MIX = (("mobile", 0.55), ("desktop", 0.9), ("tablet", 1.0))
BROWSERS = {"mobile": ("safari", "chrome"), "desktop": ("chrome", "firefox", "edge"), "tablet": ("safari",)}


def device_context(device: str) -> dict[str, str]:
    """`device_type` and `browser` of the device with id `device`."""
    digest = hashlib.blake2b(device.encode(), digest_size=8).digest()
    share = int.from_bytes(digest[:4]) / 2**32
    kind = next(name for name, upto in DEVICE_MIX if share < upto)
    browsers = BROWSERS[kind]
    return {"device_type": kind, "browser": browsers[digest[4] % len(browsers)]}


def add_context(story: History) -> None:
    """Every web touch with a device gets its device's context; every call its answering team."""
    for journey in story.journeys:
        for touch in journey:
            if touch.channel == "web" and "anonymous_id" in touch.identifiers:
                touch.context = device_context(touch.identifiers["anonymous_id"])
            elif touch.channel == "call_centre" and "team" in touch.measures:
                touch.context = {"agent_team": touch.measures["team"]}
