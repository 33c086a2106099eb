-- Context dimensions (journey map `dimensions:`; schema 1.1): what an event carried besides its
-- measures (device type, browser, UTM source, store region...), name -> value, to break down by.
-- A Map keeps one column for every dimension a map declares now or later.
ALTER TABLE touchpoints ADD COLUMN IF NOT EXISTS context Map(LowCardinality(String), String);
ALTER TABLE journey_steps ADD COLUMN IF NOT EXISTS context Map(LowCardinality(String), String);
