"""Foundation: the one builder of Faust apps, for the stream worker and the warehouse sink alike.

Both join consumer groups on the same brokers with the same credentials, and on the local broker a
group join waits half the session timeout (/work/shared/BROKER.md): the session, heartbeat and
rebalance timings are set here once, from the settings, so every app joins as fast as the other.
Each caller adds only what is its own (stores, serializers, producer tuning).
"""

from __future__ import annotations

from typing import Any

import faust

from foundation.batches import partitioner
from foundation.kafka import faust_credentials
from foundation.settings import Settings

MIN_SESSION_TIMEOUT_S = 3.0  # Faust's group join below this is not faster, only less robust


def faust_app(settings: Settings, app_id: str, **options: Any) -> faust.App:
    """A Faust app `app_id` on the configured brokers; `options` add to (or override) the shared ones."""
    session_s = max(settings.kafka.session_timeout_ms / 1000, MIN_SESSION_TIMEOUT_S)
    shared: dict[str, Any] = {
        "broker": [f"kafka://{server}" for server in settings.kafka.bootstrap_servers.split(",") if server],
        "broker_credentials": faust_credentials(settings.kafka),
        "broker_session_timeout": session_s, "broker_heartbeat_interval": session_s / 3,
        "broker_rebalance_timeout": 2 * session_s,
        "topic_partitions": settings.kafka.partitions,
        "topic_replication_factor": settings.kafka.replication_factor,
        "producer_partitioner": partitioner,  # the project's one murmur2 (foundation.batches)
    }
    return faust.App(app_id, **(shared | options))
