-- Journey snapshots, versioned. The newest version of a journey_id is the truth; a retracted
-- newest version means the journey no longer exists (merged away or re-cut by a late event).
-- journey_id fixes started_at (it is derived from the journey's first event), so neither the
-- partition key nor the sorting key (started_at, journey_id) ever splits two versions of one
-- journey. Leading with started_at serves time-range dashboards and keeps FINAL cheap: re-sent
-- versions are of recent journeys, so only the newest key ranges need merging at query time.
CREATE TABLE IF NOT EXISTS journeys
(
    journey_id       String,
    customer_id      String,
    version          UInt64,
    retracted        Bool,
    segment          LowCardinality(String),
    started_at       DateTime64(3, 'UTC'),
    last_event_at    DateTime64(3, 'UTC'),
    events           UInt32,
    channels         Array(LowCardinality(String)),
    channel_switches UInt32,
    first_channel    LowCardinality(String),
    phase_first_at   Map(String, DateTime64(3, 'UTC')),
    furthest_phase   LowCardinality(String),
    current_phase    LowCardinality(String),
    converted        Bool,
    status           LowCardinality(String),
    friction_count   UInt32,
    csat_avg         Nullable(Float64),
    updated_at       DateTime64(3, 'UTC'),
    -- time to convert (first purchase - start), kept per row so the funnel needs no Map lookups
    seconds_to_convert UInt32 MATERIALIZED
        if(converted AND mapContains(phase_first_at, 'purchase'),
           toUInt32(greatest(0, dateDiff('second', started_at, phase_first_at['purchase']))), 0),
    INDEX idx_customer customer_id TYPE bloom_filter GRANULARITY 4
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(started_at)
ORDER BY (started_at, journey_id)
SETTINGS non_replicated_deduplication_window = 1000;

-- Pain points, versioned like journeys; a retracted newest version no longer holds.
-- rule and touchpoint are part of the friction's identity (its id hashes rule and evidence).
-- Not partitioned: detected_at may move between versions (e.g. an unanswered mail is detected
-- when the customer's clock passes the deadline), and versions in different partitions would
-- never collapse. Frictions are a small fraction of the events.
CREATE TABLE IF NOT EXISTS friction
(
    friction_id  String,
    customer_id  String,
    journey_id   String,
    rule         LowCardinality(String),
    touchpoint   LowCardinality(String),
    channel      LowCardinality(String),
    phase        LowCardinality(String),
    severity     LowCardinality(String),
    detected_at  DateTime64(3, 'UTC'),
    measure      Nullable(Float64),
    threshold    Nullable(Float64),
    evidence     Array(String),
    version      UInt64,
    retracted    Bool,
    INDEX idx_customer customer_id TYPE bloom_filter GRANULARITY 4
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (rule, touchpoint, friction_id)
SETTINGS non_replicated_deduplication_window = 1000;
