-- A dead letter always fits in one Kafka message (schemas/deadletters.py): a payload over the
-- limit keeps its first bytes in `payload` and its last in `payload_tail`, with the size and the
-- SHA-256 of the whole, so an operator can still match it with the sender's copy.
ALTER TABLE dead_letters
    ADD COLUMN IF NOT EXISTS payload_truncated Bool DEFAULT false,
    ADD COLUMN IF NOT EXISTS payload_tail String DEFAULT '',
    ADD COLUMN IF NOT EXISTS payload_bytes UInt64 DEFAULT 0,
    ADD COLUMN IF NOT EXISTS payload_sha256 String DEFAULT '';
