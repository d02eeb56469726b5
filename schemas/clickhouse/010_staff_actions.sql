-- What staff did to a candidate's exam (today: controls sent to the
-- candidate's learning platform), one row per action, shown in the
-- candidate's timeline. Written from the staff topic at least once: a
-- redelivered action repeats its action_id and replaces its own row. Kept
-- as long as the verdicts: it is part of the record of how a candidate was
-- treated.
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
    version        UInt64
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(at)
ORDER BY (test_id, candidate_id, action_id)
TTL toDateTime(at) + INTERVAL 395 DAY
