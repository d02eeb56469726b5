-- One row per SDK session, replaced as the session progresses.
CREATE TABLE IF NOT EXISTS sessions
(
    test_id              LowCardinality(String),
    candidate_id         String,
    session_id           UUID,
    started_at           DateTime64(3, 'UTC'),
    last_seen_at         DateTime64(3, 'UTC'),
    ended                UInt8,
    end_reason           LowCardinality(String),
    sdk_version          LowCardinality(String),
    user_agent           String,
    events               UInt64,
    batches              UInt64,
    expected_captures    UInt32,
    uploaded_captures    UInt32,
    -- uploaded / expected over all kinds, 0..100
    completeness_pct     Float32,
    network_gaps         UInt32,
    network_gap_ms       UInt64,
    max_window_score     Float64,
    version              UInt64
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(started_at)
ORDER BY (test_id, candidate_id, session_id)
TTL toDateTime(started_at) + INTERVAL 30 DAY
