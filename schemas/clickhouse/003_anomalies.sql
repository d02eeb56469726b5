-- Windows whose score crossed the test's alert threshold, with the
-- components that explain it.
CREATE TABLE IF NOT EXISTS anomalies
(
    test_id           LowCardinality(String),
    candidate_id      String,
    session_id        UUID,
    window_start      DateTime64(3, 'UTC'),
    window_end        DateTime64(3, 'UTC'),
    severity          Enum8('warning' = 1, 'critical' = 2),
    score             Float64,
    threshold         Float64,
    component_names   Array(LowCardinality(String)),
    component_values  Array(Float64),
    detected_at       DateTime64(3, 'UTC'),
    version           UInt64
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(window_start)
ORDER BY (test_id, candidate_id, session_id, window_start)
TTL toDateTime(window_start) + INTERVAL 30 DAY
