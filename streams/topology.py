"""Streams adapter: the worker's topology as code, its stages and topics in order on one screen.

Every topic name carries the settings' topic prefix, and so does the app id, so the changelog
topics and consumer groups never collide with another deployment or test. Work between stages
travels in batches (one Kafka message per batch and partition, streams.work), so Faust's
per-message cost is paid once per batch and each customer's state is read and written once per
batch. How each stage keeps its state, marks and sends safe over a crash: streams.stages.
"""

from __future__ import annotations

import faust

from foundation.kafka import TopicSpec, topic
from foundation.settings import Settings
from schemas.journeymap import JourneyMap
from streams.intake import intake
from streams.stages import Stages, WorkPlaces
from streams.table_writes import BufferedTable

IDENTITY_WORK_TOPIC = "streams.identity"
CUSTOMER_WORK_TOPIC = "streams.customers"
GRAPH_TABLE = "identity-graph"  # owner, members, devices, evidence (streams.core.identity): keys o:, m:, d:, v:
STATE_TABLE = "customer-state"
HEALTH_INTERVAL_S = 10.0


def app_id(settings: Settings) -> str:
    return f"{settings.kafka.topic_prefix}journeys-worker"


def worker_topics(settings: Settings) -> list[TopicSpec]:
    """The worker's own work topics (the pipeline's topics come from foundation.kafka)."""
    return [TopicSpec(topic(settings, IDENTITY_WORK_TOPIC), 1),
            TopicSpec(topic(settings, CUSTOMER_WORK_TOPIC), settings.kafka.partitions)]


def wire(app: faust.App, settings: Settings, journey_map: JourneyMap) -> Stages:
    """The pipeline, in the order data flows through it."""
    n = settings.kafka.partitions
    # touchpoints.<channel> (n partitions)   raw JSON events, keyed by an identifier
    #  | 1. validate  whole fetches (streams.intake), checked in pool processes (streams.checking)
    #  |              bad ones -> touchpoints.deadletter: DeadLetter
    #  v              one message = packed [record, ...] (streams.core.records, streams.codecs)
    identity_work = app.topic(topic(settings, IDENTITY_WORK_TOPIC), partitions=1, key_type=bytes, value_type=bytes)
    #  | 2. resolve   in order, over the identity graph: table identity-graph (1 partition: identity
    #  |              decisions are global), str -> graph entries -> identity.links: IdentityLink
    #  v              one message per customer partition = packed [command, ...] (streams.core.commands)
    graph = BufferedTable(app.Table(GRAPH_TABLE, default=None, partitions=1, key_type=str))
    customer_work = app.topic(topic(settings, CUSTOMER_WORK_TOPIC), partitions=n, key_type=bytes, value_type=bytes)
    #  | 3. stitch    per customer: table customer-state, customer_id -> encoded CustomerState
    #  |              -> journeys.steps: JourneyStep, journeys.state: JourneySnapshot,
    #  |                 journeys.friction: FrictionEvent (documents, streams.core.render)
    #  v              merges and moves forward commands -> streams.customers (the other customer's partition)
    states = BufferedTable(app.Table(STATE_TABLE, default=None, partitions=n, key_type=str, value_type=bytes))
    stages = Stages(app, settings, journey_map, WorkPlaces(identity_work, customer_work, graph, states))
    app.task(intake(app, settings, f"{app_id(settings)}-intake", stages.validate, stages.raw_lag,
                    stages.liveness.reading))
    app.agent(identity_work, name="resolve")(stages.stopping_on_failure("resolve", stages.resolve))
    app.agent(customer_work, name="stitch")(stages.stopping_on_failure("stitch", stages.stitch))
    # every HEALTH_INTERVAL_S -> pipeline.health: HealthSample per channel and minute (streams.liveness)
    app.timer(HEALTH_INTERVAL_S)(stages.liveness.flush_health)
    return stages
