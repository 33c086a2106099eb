-- Each journey's path, kept whole: paths and loops over a year grouped 10M touchpoints into a million
-- journeys and sorted each one's steps at every read (0.5 s of grouping and 0.5 s of sorting at 10M
-- rows); reading them from here costs a tenth of that. One row per journey and snapshot version,
-- written by the sink from the snapshot the worker sends (JourneySnapshot.path): the steps arrive in
-- the EPHEMERAL columns and ClickHouse keeps them as paths read them: in time order (events at the same
-- millisecond in the order of their step numbers), repeats of one step in a row counted once, steps as
-- numbers (cityHash64(touchpoint, event_type), as clickhouse/analyses/paths.py numbers them).
-- journey: cityHash64(journey_id), the key analyses group by.
-- row_version: 2 x the snapshot's version + 2. The view below writes a placeholder for every journey a
--   touchpoint names at 2 x that touchpoint's version + 1: above every snapshot older than the step (a
--   journey that grew, or came back under an id it had before, while its new snapshot is not written yet)
--   and below the snapshot of the step's own version. A placeholder is unknown: analyses read that
--   journey's steps from the touchpoints.
-- known: the row holds the journey's whole path (false: a placeholder, a journey too long to send, an
--   older worker, or, with a TTL, a journey whose first event expired).
-- bounded: first_at and last_at hold every event of the journey, late ones included (false: a
--   placeholder, whose times are those of one insert, or a worker older than the path).
-- first_values: each breakdown's value on the journey's first event carrying it (segment, channel and
--   every context dimension).
-- codes, times: DEFAULT, not MATERIALIZED, so a copy of the table (`journeys forget`) keeps them.
-- Partitions by the journey's number (a version never leaves its partition): FINAL merges one part in
-- one thread, and over a million paths that cost twice what four partitions read side by side cost.
CREATE TABLE IF NOT EXISTS journey_paths
(
    journey          UInt64 DEFAULT cityHash64(journey_id),
    journey_id       String,
    customer_id      String,
    row_version      UInt64,
    retracted        Bool,
    known            Bool,
    bounded          Bool,
    step_touchpoints Array(LowCardinality(String)) EPHEMERAL,
    step_event_types Array(LowCardinality(String)) EPHEMERAL,
    step_times       Array(DateTime64(3, 'UTC')) EPHEMERAL,
    -- the steps as (time, number) in time order, and the numbers alone: for the two columns below
    step_sorted      Array(Tuple(DateTime64(3, 'UTC'), UInt64)) EPHEMERAL
        arraySort(arrayZip(step_times, arrayMap((t, e) -> cityHash64(t, e), step_touchpoints, step_event_types))),
    step_codes       Array(UInt64) EPHEMERAL arrayMap(s -> s.2, step_sorted),
    first_at         DateTime64(3, 'UTC') DEFAULT if(empty(step_times), toDateTime64(0, 3, 'UTC'), arrayMin(step_times)),
    last_at          DateTime64(3, 'UTC') DEFAULT if(empty(step_times), toDateTime64(0, 3, 'UTC'), arrayMax(step_times)),
    codes            Array(UInt64) DEFAULT arrayFilter((c, p) -> c != p, step_codes, arrayPopBack(arrayPushFront(step_codes, 0))),
    times            Array(DateTime64(3, 'UTC')) DEFAULT
        arrayMap(s -> s.1, arrayFilter((s, p) -> s.2 != p, step_sorted, arrayPopBack(arrayPushFront(step_codes, 0)))),
    first_values     Map(LowCardinality(String), String),
    INDEX idx_customer customer_id TYPE bloom_filter GRANULARITY 4
)
ENGINE = ReplacingMergeTree(row_version)
PARTITION BY journey % 4
ORDER BY journey;

CREATE MATERIALIZED VIEW IF NOT EXISTS journey_paths_placeholders TO journey_paths AS
SELECT cityHash64(journey_id) AS journey, journey_id, any(customer_id) AS customer_id,
       2 * max(version) + 1 AS row_version, false AS retracted, false AS known, false AS bounded,
       min(event_time) AS first_at, max(event_time) AS last_at
FROM touchpoints WHERE journey_id != '' GROUP BY journey_id;

-- Journeys written before: a placeholder for each journey the newest touchpoints name, then the whole
-- path of each whose snapshot the warehouse holds, at that snapshot's version (bench/queries_bench.py
-- runs these two after a load).
INSERT INTO journey_paths (journey, journey_id, customer_id, row_version, retracted, known, bounded, first_at, last_at)
SELECT cityHash64(journey_id), journey_id, any(customer_id), 2 * max(version) + 1, false, false, false,
       min(event_time), max(event_time)
FROM touchpoints FINAL WHERE journey_id != '' GROUP BY journey_id;

INSERT INTO journey_paths (journey, journey_id, customer_id, row_version, retracted, known, bounded, step_touchpoints,
                           step_event_types, step_times, first_values)
SELECT cityHash64(journey_id), journey_id, j.customer_id, 2 * j.version + 2, j.retracted, true, true,
       s.step_touchpoints, s.step_event_types, s.step_times, f.first_values
FROM (
    SELECT journey_id, groupArray(touchpoint) AS step_touchpoints, groupArray(event_type) AS step_event_types,
           groupArray(event_time) AS step_times, max(version) AS steps_version
    FROM touchpoints FINAL WHERE journey_id != '' GROUP BY journey_id
) AS s
INNER JOIN (
    SELECT journey_id, mapFromArrays(groupArray(dimension), groupArray(first_value)) AS first_values
    FROM (
        SELECT journey_id, pair.1 AS dimension, argMin(pair.2, (event_time, event_id)) AS first_value
        FROM touchpoints FINAL
        ARRAY JOIN arrayConcat([('segment', toString(segment)), ('channel', toString(channel))],
                               arrayMap((k, v) -> (toString(k), v), mapKeys(context), mapValues(context))) AS pair
        WHERE journey_id != ''
        GROUP BY journey_id, dimension
    )
    GROUP BY journey_id
) AS f USING journey_id
INNER JOIN (SELECT journey_id, customer_id, version, retracted FROM journeys FINAL) AS j USING journey_id
WHERE j.version >= s.steps_version;
