-- One row per SDK event, enriched by ingest. Timeline queries read one
-- candidate's rows in ORDER BY order; a retried batch writes the same
-- (session_id, seq) again and ReplacingMergeTree keeps the highest version
-- (query with FINAL for exact counts before merges).
CREATE TABLE IF NOT EXISTS proctor_events
(
    test_id         LowCardinality(String),
    candidate_id    String,
    session_id      UUID,
    seq             UInt64,
    event_id        UUID,
    ts              DateTime64(3, 'UTC'),
    received_at     DateTime64(3, 'UTC'),
    batch_seq       UInt64,
    type            Enum8('session_started' = 0, 'session_ended' = 1, 'permission' = 2,
                          'visibility' = 3, 'focus' = 4, 'fullscreen' = 5,
                          'screen_share_ended' = 6, 'clipboard' = 7, 'context_menu' = 8,
                          'key_activity' = 9, 'capture' = 10, 'network' = 11,
                          'blocked' = 12, 'unblocked' = 13, 'sdk_error' = 14, 'custom' = 15),
    -- Typed columns for the fields reviews filter on; a column that does not
    -- apply to the row's type holds its default ('' or 0).
    state           LowCardinality(String),  -- permission/visibility/focus/fullscreen/network
    device          LowCardinality(String),  -- permission: camera/microphone/screen
    action          LowCardinality(String),  -- clipboard: copy/cut/paste
    reason          LowCardinality(String),  -- blocked/unblocked/session_ended
    chars           UInt32,                  -- clipboard
    keys            UInt32,                  -- key_activity
    interval_ms     UInt32,                  -- key_activity
    capture_kind    LowCardinality(String),  -- capture: face/screen/audio
    capture_status  LowCardinality(String),  -- capture: uploaded/failed/skipped
    capture_key     String,
    capture_bytes   UInt64,
    capture_seq     UInt64,
    attempts        UInt32,
    name            String,                  -- custom name, sdk_error code
    -- the whole event as the SDK sent it (JSON), for anything not in a column
    payload         String,
    ingest_node     LowCardinality(String),
    client_ip_hash  UInt64,
    user_agent      String,
    version         UInt64
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(ts)
ORDER BY (test_id, candidate_id, session_id, seq)
TTL toDateTime(ts) + INTERVAL 30 DAY
