-- Rollups for the funnel and the touchpoint KPIs.
-- They are views, not materialized views, on purpose: a materialized view sees every inserted
-- block, including re-sent versions and replays, and no sum or average it keeps can take an old
-- version back out. Reading the versioned tables with FINAL is always right; the funnel over
-- 10 million journeys still answers well under a second (see bench/clickhouse_bench.py).

-- The journeys that exist now: the newest version of each journey, retracted ones hidden.
CREATE VIEW IF NOT EXISTS journeys_current AS
SELECT * FROM journeys FINAL WHERE NOT retracted;

-- Frictions that hold now.
CREATE VIEW IF NOT EXISTS friction_current AS
SELECT * FROM friction FINAL WHERE NOT retracted;

-- Funnel rollup: journeys per start day, segment, first channel and furthest phase.
CREATE VIEW IF NOT EXISTS funnel_daily AS
SELECT
    toDate(started_at) AS day,
    segment,
    first_channel,
    furthest_phase,
    count() AS journeys,
    countIf(converted) AS converted_journeys,
    avgIf(seconds_to_convert, converted) AS avg_s_to_convert
FROM journeys FINAL
WHERE NOT retracted
GROUP BY day, segment, first_channel, furthest_phase;

-- Touchpoint KPI rollup: one row per day and touchpoint with the domain's measures.
CREATE VIEW IF NOT EXISTS touchpoint_daily AS
SELECT
    toDate(event_time) AS day,
    touchpoint,
    any(channel) AS channel,
    count() AS events,
    uniqExact(customer_id) AS customers,
    avg(dwell_s) AS avg_dwell_s,
    avg(navigation_ease) AS avg_navigation_ease,
    countIf(event_type = 'order_placed') AS online_sales,
    avg(wait_s) AS avg_wait_s,
    countIf(transfers > 0) / nullIf(countIf(transfers IS NOT NULL), 0) AS transfer_rate,
    countIf(resolved) / nullIf(countIf(resolved IS NOT NULL), 0) AS first_contact_resolution,
    avg(response_s) AS avg_response_s,
    countIf(event_type = 'bounced') AS bounces,
    countIf(event_type = 'visit') AS store_visits,
    countIf(event_type = 'purchase') AS store_purchases,
    avg(queue_wait_s) AS avg_queue_wait_s,
    avg(csat) AS avg_csat,
    countIf(csat IS NOT NULL) AS csat_responses
FROM touchpoints FINAL
GROUP BY day, touchpoint;
