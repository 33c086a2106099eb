-- The identity graph's audit trail: links, merges, refusals and forgets. link_id is deterministic.
CREATE TABLE IF NOT EXISTS identity_links
(
    link_id            String,
    kind               LowCardinality(String),
    customer_id        String,
    merged_customer_id Nullable(String),
    identifiers        Array(String),
    rule               LowCardinality(String),
    evidence_event_id  Nullable(String),
    event_time         DateTime64(3, 'UTC'),
    recorded_at        DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(event_time)
ORDER BY link_id
SETTINGS non_replicated_deduplication_window = 1000;

-- Operations figures per minute, stage and channel. `reporter` is '' for samples read from the
-- pipeline.health topic (a replay replaces them) and the sink instance for the sink's own
-- error and retry counts (written directly, since the warehouse is what was failing).
CREATE TABLE IF NOT EXISTS pipeline_health
(
    minute         DateTime('UTC'),
    stage          LowCardinality(String),
    channel        LowCardinality(String),
    reporter       String,
    events         UInt64,
    dead_letters   UInt64,
    lag            UInt64,
    errors         UInt64,
    retries        UInt64,
    latency_ms_p50 Nullable(Float64),
    latency_ms_p95 Nullable(Float64),
    note           String
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(minute)
ORDER BY (stage, channel, minute, reporter)
SETTINGS non_replicated_deduplication_window = 1000;

-- Bad input with its reason. dead_letter_id hashes source, reason, payload and rejected_at.
CREATE TABLE IF NOT EXISTS dead_letters
(
    dead_letter_id   String,
    source           String,
    reason           String,
    kind             LowCardinality(String),
    problems         Array(String),
    payload          String,
    payload_encoding LowCardinality(String),
    channel          LowCardinality(String),
    rejected_at      DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(rejected_at)
ORDER BY (rejected_at, dead_letter_id)
SETTINGS non_replicated_deduplication_window = 1000;
