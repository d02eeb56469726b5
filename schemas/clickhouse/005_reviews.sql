-- Reviewers' verdicts; the latest per (candidate, reviewer) wins. Kept a year
-- longer than the evidence: verdicts are the audit trail.
CREATE TABLE IF NOT EXISTS reviews
(
    test_id        LowCardinality(String),
    candidate_id   String,
    reviewer       String,
    verdict        Enum8('cleared' = 1, 'flagged' = 2),
    comment        String,
    reviewed_at    DateTime64(3, 'UTC'),
    version        UInt64
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(reviewed_at)
ORDER BY (test_id, candidate_id, reviewer)
TTL toDateTime(reviewed_at) + INTERVAL 395 DAY
