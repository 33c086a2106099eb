-- Who suffered a friction: the context dimensions its evidence events carried, each dimension's
-- values (two when the evidence was on a phone and a laptop). Incidents count a friction under each
-- of them; kept on the friction, so they need not look up every evidence event among the touchpoints
-- (that look-up was a fifth of the incident counting over a year at 10M events).
ALTER TABLE friction ADD COLUMN IF NOT EXISTS evidence_context Map(LowCardinality(String), Array(String));

-- Frictions written before: their newest version again, at the same version, with the context of the
-- evidence events the warehouse holds. Of two rows with the same version FINAL keeps the last inserted,
-- and a newer version from the stream still wins. Frictions whose evidence carried none keep the empty map.
INSERT INTO friction (friction_id, customer_id, journey_id, rule, touchpoint, channel, phase, severity,
                      detected_at, measure, threshold, evidence, evidence_context, version, retracted)
SELECT f.friction_id, f.customer_id, f.journey_id, f.rule, f.touchpoint, f.channel, f.phase, f.severity,
       f.detected_at, f.measure, f.threshold, f.evidence, c.evidence_context, f.version, f.retracted
FROM friction AS f FINAL
INNER JOIN (
    SELECT friction_id, mapFromArrays(groupArray(dimension), groupArray(dimension_values)) AS evidence_context
    FROM (
        SELECT friction_id, dimension, arraySort(groupUniqArray(value)) AS dimension_values
        FROM (
            SELECT e.friction_id AS friction_id, t.context AS context
            FROM (SELECT friction_id, arrayJoin(evidence) AS event_id FROM friction FINAL) AS e
            INNER JOIN (SELECT event_id, context FROM touchpoints FINAL WHERE notEmpty(context)
                        AND event_id IN (SELECT arrayJoin(evidence) FROM friction)) AS t ON t.event_id = e.event_id
        )
        ARRAY JOIN mapKeys(context) AS dimension, mapValues(context) AS value
        GROUP BY friction_id, dimension
    )
    GROUP BY friction_id
) AS c ON c.friction_id = f.friction_id;
