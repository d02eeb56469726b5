-- Per-candidate event-time windows: 1-minute tumbling rows and one running
-- session-total row per session (window_kind = 'session'). A late event makes
-- the pipeline re-emit the corrected row with a higher version.
CREATE TABLE IF NOT EXISTS candidate_windows
(
    test_id                 LowCardinality(String),
    candidate_id            String,
    session_id              UUID,
    window_kind             Enum8('minute' = 1, 'session' = 2),
    window_start            DateTime64(3, 'UTC'),
    window_end              DateTime64(3, 'UTC'),
    tab_switches            UInt32,
    hidden_ms               UInt64,
    blur_count              UInt32,
    blur_ms                 UInt64,
    fullscreen_exits        UInt32,
    clipboard_actions       UInt32,
    key_bursts              UInt32,
    permission_revocations  UInt32,
    blocked_ms              UInt64,
    uploads_failed          UInt32,
    expected_face           UInt32,
    uploaded_face           UInt32,
    expected_screen         UInt32,
    uploaded_screen         UInt32,
    expected_audio          UInt32,
    uploaded_audio          UInt32,
    -- network gaps are labelled, never scored as violations
    network_gaps            UInt32,
    network_gap_ms          UInt64,
    late_events             UInt32,
    score                   Float64,
    component_names         Array(LowCardinality(String)),
    component_values        Array(Float64),
    computed_at             DateTime64(3, 'UTC'),
    version                 UInt64
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(window_start)
ORDER BY (test_id, candidate_id, session_id, window_kind, window_start)
TTL toDateTime(window_start) + INTERVAL 30 DAY
