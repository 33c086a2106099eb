"""The live terminal view of `journeys up`: what operations watch while traffic flows.

It reads the pipeline's own output topics (health samples, journey snapshots, friction) with a
plain consumer, so it needs no access to the warehouse (which the worker owns in embedded mode).
`LiveView.apply` is a pure fold over those records; `render` draws it with rich.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

from rich.table import Table

RATE_WINDOW_S = 10.0


@dataclass
class LiveView:
    """Counters built from the output topics."""

    events: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    dead_letters: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    lag: dict[str, int] = field(default_factory=dict)
    journeys: dict[str, tuple[int, bool, str]] = field(default_factory=dict)  # id -> (version, retracted, status)
    friction: dict[str, tuple[int, bool, str]] = field(default_factory=dict)  # id -> (version, retracted, rule)
    arrivals: deque[tuple[float, str, int]] = field(default_factory=deque)
    last_sample: dict[tuple[str, str, str], tuple[int, int]] = field(default_factory=dict)

    def apply(self, topic_kind: str, record: dict[str, Any], now: float) -> None:
        if topic_kind == "health":
            self._apply_health(record, now)
        elif topic_kind == "state":
            _keep_newest(self.journeys, record["journey_id"], record["version"], record["retracted"], record["status"])
        elif topic_kind == "friction":
            _keep_newest(self.friction, record["friction_id"], record["version"], record["retracted"], record["rule"])

    def _apply_health(self, record: dict[str, Any], now: float) -> None:
        if record.get("stage") != "worker":
            return
        channel = record.get("channel", "all")
        key = (str(record["minute"]), record["stage"], channel)
        seen_events, seen_dead = self.last_sample.get(key, (0, 0))
        new_events = max(0, int(record.get("events", 0)) - seen_events)
        new_dead = max(0, int(record.get("dead_letters", 0)) - seen_dead)
        self.last_sample[key] = (max(seen_events, int(record.get("events", 0))),
                                 max(seen_dead, int(record.get("dead_letters", 0))))
        self.events[channel] += new_events
        self.dead_letters[channel] += new_dead
        self.lag[channel] = int(record.get("lag", 0))
        self.arrivals.append((now, channel, new_events))

    def rates(self, now: float) -> dict[str, float]:
        while self.arrivals and self.arrivals[0][0] < now - RATE_WINDOW_S:
            self.arrivals.popleft()
        per_channel: dict[str, float] = defaultdict(float)
        for _, channel, count in self.arrivals:
            per_channel[channel] += count / RATE_WINDOW_S
        return per_channel

    def friction_by_rule(self) -> dict[str, int]:
        counts: dict[str, int] = defaultdict(int)
        for _, retracted, rule in self.friction.values():
            if not retracted:
                counts[rule] += 1
        return dict(sorted(counts.items(), key=lambda kv: -kv[1]))

    def active_journeys(self) -> int:
        return sum(1 for _, retracted, status in self.journeys.values() if not retracted and status != "closed")


def _keep_newest(table: dict[str, tuple[int, bool, str]], key: str, version: int, retracted: bool, label: str) -> None:
    current = table.get(key)
    if current is None or version >= current[0]:
        table[key] = (version, retracted, label)


def render(view: LiveView) -> Table:
    now = time.monotonic()
    rates = view.rates(now)
    table = Table(title="Journey Tracker: live (Ctrl-C to stop)", expand=False)
    for column in ("channel", "events/s", "events", "dead letters", "lag"):
        table.add_column(column, justify="right" if column != "channel" else "left")
    for channel in sorted(set(view.events) | set(view.dead_letters)):
        table.add_row(channel, f"{rates.get(channel, 0.0):,.0f}", f"{view.events[channel]:,}",
                      f"{view.dead_letters[channel]:,}", f"{view.lag.get(channel, 0):,}")
    table.add_section()
    table.add_row("active journeys", f"{view.active_journeys():,}", "", "", "")
    for rule, count in view.friction_by_rule().items():
        table.add_row(f"friction: {rule}", f"{count:,}", "", "", "")
    return table


def decode(value: bytes | None) -> dict[str, Any] | None:
    if not value:
        return None
    try:
        record = json.loads(value)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None
