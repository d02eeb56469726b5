-- The audit trail: what staff did (controls sent to a learning platform,
-- timelines opened, media links signed, live watches, messages, verdicts,
-- configuration changes), one row per action, from where (client_ip_hash,
-- keyed like the candidates'). test_id/candidate_id are '' for an action on
-- neither. Written from the staff topic at least once: a redelivered action
-- repeats its action_id and replaces its own row, so nothing is ever
-- changed or lost. Kept as long as the verdicts: it is part of the record of
-- how a candidate was treated.
CREATE TABLE IF NOT EXISTS staff_actions
(
    test_id        LowCardinality(String),
    candidate_id   String,
    action_id      UUID,
    at             DateTime64(3, 'UTC'),
    staff          String,
    role           LowCardinality(String),
    action         LowCardinality(String),
    outcome        LowCardinality(String),
    -- what staff gave and what came back, a JSON object
    detail         String,
    ingest_node    LowCardinality(String),
    client_ip_hash UInt64,
    version        UInt64
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(at)
ORDER BY (test_id, candidate_id, action_id)
TTL toDateTime(at) + INTERVAL 395 DAY
