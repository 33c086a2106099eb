-- Raw touchpoint events of every channel, one row per event_id, with the journey placement.
-- Re-sent steps carry a higher version: ReplacingMergeTree(version) keeps the newest placement.
-- The sorting key holds only what never changes for an event (customer_id and journey_id change
-- on merges and re-cuts, so they live in skip indexes instead).
CREATE TABLE IF NOT EXISTS touchpoints
(
    event_id             String,
    event_time           DateTime64(3, 'UTC'),
    received_time        DateTime64(3, 'UTC'),
    channel              LowCardinality(String),
    touchpoint           LowCardinality(String),
    event_type           LowCardinality(String),
    customer_id          String,
    journey_id           String,
    phase                LowCardinality(String),
    segment              LowCardinality(String),
    late                 Bool,
    version              UInt64,
    -- web
    path                 Nullable(String),
    session_id           Nullable(String),
    dwell_s              Nullable(Float64),
    navigation_ease      Nullable(UInt8),
    cart_value           Nullable(Float64),
    checkout_step        Nullable(UInt8),
    order_id             Nullable(String),
    order_amount         Nullable(Float64),
    -- call centre
    queue                Nullable(String),
    wait_s               Nullable(Float64),
    handle_s             Nullable(Float64),
    transfers            Nullable(UInt8),
    reason               Nullable(String),
    resolved             Nullable(Bool),
    team                 Nullable(String),
    -- e-mail
    direction            Nullable(String),
    campaign             Nullable(String),
    thread_id            Nullable(String),
    response_s           Nullable(Float64),
    -- store
    store_id             Nullable(String),
    visit_s              Nullable(Float64),
    queue_wait_s         Nullable(Float64),
    purchase_amount      Nullable(Float64),
    service_desk_request Nullable(String),
    is_return            Nullable(Bool),
    -- feedback (any channel)
    csat                 Nullable(UInt8),
    nps                  Nullable(UInt8),
    feedback_touchpoint  Nullable(String),
    comment              Nullable(String),
    -- every measure as sent, for channels added after this migration
    measures_json        String,
    INDEX idx_customer customer_id TYPE bloom_filter GRANULARITY 4,
    INDEX idx_journey journey_id TYPE bloom_filter GRANULARITY 4
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(event_time)
ORDER BY (touchpoint, event_time, event_id)
SETTINGS non_replicated_deduplication_window = 1000;

-- One row per step: an event's place in its journey (narrow, for sequence analysis).
CREATE TABLE IF NOT EXISTS journey_steps
(
    event_id     String,
    event_time   DateTime64(3, 'UTC'),
    customer_id  String,
    journey_id   String,
    step_index   UInt32,
    phase        LowCardinality(String),
    channel      LowCardinality(String),
    touchpoint   LowCardinality(String),
    event_type   LowCardinality(String),
    late         Bool,
    version      UInt64,
    INDEX idx_customer customer_id TYPE bloom_filter GRANULARITY 4,
    INDEX idx_journey journey_id TYPE bloom_filter GRANULARITY 4
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(event_time)
ORDER BY (event_time, event_id)
SETTINGS non_replicated_deduplication_window = 1000;
