-- Names by number for paths and loops, which build a million journeys' paths from numbers (a step as
-- cityHash64(touchpoint, event_type), a breakdown value as its cityHash64) and give the names back at
-- the end. Finding the names among a year of touchpoints took 0.25 s each at 10M rows; these tables
-- hold each name once. Materialized views, unlike the rollups of 0004: a name never has to be taken
-- back, and one that no event carries any more only makes a look-up one entry longer. No customer's
-- data: a step is a touchpoint and an event type, a value one of a declared dimension's values.
CREATE TABLE IF NOT EXISTS step_names
(
    code       UInt64,
    touchpoint LowCardinality(String),
    event_type LowCardinality(String)
)
ENGINE = ReplacingMergeTree
ORDER BY code;

CREATE MATERIALIZED VIEW IF NOT EXISTS step_names_writer TO step_names AS
SELECT DISTINCT cityHash64(touchpoint, event_type) AS code, touchpoint, event_type FROM touchpoints;

-- The values a breakdown can take: each context dimension's, and the segments and channels events had.
CREATE TABLE IF NOT EXISTS dimension_values
(
    dimension LowCardinality(String),
    value     String
)
ENGINE = ReplacingMergeTree
ORDER BY (dimension, value);

CREATE MATERIALIZED VIEW IF NOT EXISTS dimension_values_writer TO dimension_values AS
SELECT DISTINCT pair.1 AS dimension, pair.2 AS value FROM touchpoints
ARRAY JOIN arrayConcat([('segment', toString(segment)), ('channel', toString(channel))],
                       arrayMap((k, v) -> (toString(k), v), mapKeys(context), mapValues(context))) AS pair;

-- What was written before (a name also written meanwhile by a view is kept once).
INSERT INTO step_names SELECT DISTINCT cityHash64(touchpoint, event_type), touchpoint, event_type FROM touchpoints;

INSERT INTO dimension_values
SELECT DISTINCT pair.1, pair.2 FROM touchpoints
ARRAY JOIN arrayConcat([('segment', toString(segment)), ('channel', toString(channel))],
                       arrayMap((k, v) -> (toString(k), v), mapKeys(context), mapValues(context))) AS pair;
