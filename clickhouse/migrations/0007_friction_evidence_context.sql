-- Who suffered a friction: the context dimensions its evidence events carried, each dimension's
-- values (two when the evidence was on a phone and a laptop). Incidents count a friction under each
-- of them; kept on the friction, so they need not look up every evidence event among the touchpoints
-- (that look-up was a fifth of the incident counting over a year at 10M events).
-- evidence_context_known: false for a friction written by a worker older than the field (a sink that
-- reads such a record again writes it so); incidents then look its evidence up as before.
ALTER TABLE friction ADD COLUMN IF NOT EXISTS evidence_context Map(LowCardinality(String), Array(String));

ALTER TABLE friction ADD COLUMN IF NOT EXISTS evidence_context_known Bool DEFAULT false;

-- Frictions written before: their newest version again, at the same version, with the context of the
-- evidence events the warehouse holds ({} when they carried none) ...
INSERT INTO friction (friction_id, customer_id, journey_id, rule, touchpoint, channel, phase, severity,
                      detected_at, measure, threshold, evidence, evidence_context, evidence_context_known,
                      version, retracted)
SELECT f.friction_id, f.customer_id, f.journey_id, f.rule, f.touchpoint, f.channel, f.phase, f.severity,
       f.detected_at, f.measure, f.threshold, f.evidence, c.evidence_context, true, f.version, f.retracted
FROM friction AS f FINAL
LEFT JOIN (
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
) AS c ON c.friction_id = f.friction_id
WHERE NOT f.evidence_context_known;

-- ... merged at once with the rows they repeat: of two rows with the same version a merge keeps the
-- last inserted, while a read that copies rows in parallel (`journeys forget` rebuilding the table)
-- would keep either.
OPTIMIZE TABLE friction FINAL;
