-- The invigil schema for the ClickHouse cluster `invigil`, database `invigil`:
-- replicated local tables and Distributed tables over them, sharded by candidate.
-- Generated from schemas/clickhouse by
--   invigil migrate --cluster-ddl invigil --database invigil
-- do not edit (a test compares this file with the generator's output).
-- `invigil migrate --cluster invigil` applies the same statements and records
-- them in a replicated ledger, which the pipeline checks before it starts.

CREATE DATABASE IF NOT EXISTS invigil ON CLUSTER invigil;

CREATE TABLE IF NOT EXISTS invigil.invigil_schema_migrations ON CLUSTER invigil (id UInt32, name String, checksum UInt64, applied_at DateTime) ENGINE = ReplicatedReplacingMergeTree('/clickhouse/invigil/invigil/invigil_schema_migrations', '{shard}-{replica}') ORDER BY id;

-- 001_proctor_events
CREATE TABLE IF NOT EXISTS invigil.proctor_events_local ON CLUSTER invigil
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
    state           LowCardinality(String),
    device          LowCardinality(String),
    action          LowCardinality(String),
    reason          LowCardinality(String),
    chars           UInt32,
    keys            UInt32,
    interval_ms     UInt32,
    capture_kind    LowCardinality(String),
    capture_status  LowCardinality(String),
    capture_key     String,
    capture_bytes   UInt64,
    capture_seq     UInt64,
    attempts        UInt32,
    name            String,
    payload         String,
    ingest_node     LowCardinality(String),
    client_ip_hash  UInt64,
    user_agent      String,
    version         UInt64
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/invigil/proctor_events_local', '{replica}', version)
PARTITION BY toYYYYMM(ts)
ORDER BY (test_id, candidate_id, session_id, seq)
TTL toDateTime(ts) + INTERVAL 30 DAY;
CREATE TABLE IF NOT EXISTS invigil.proctor_events ON CLUSTER invigil AS invigil.proctor_events_local
ENGINE = Distributed(invigil, invigil, proctor_events_local, cityHash64(test_id, candidate_id));
INSERT INTO invigil.invigil_schema_migrations (id, name, checksum, applied_at) VALUES (1, 'proctor_events', 9931357435642593030, now());

-- 002_candidate_windows
CREATE TABLE IF NOT EXISTS invigil.candidate_windows_local ON CLUSTER invigil
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
    network_gaps            UInt32,
    network_gap_ms          UInt64,
    late_events             UInt32,
    score                   Float64,
    component_names         Array(LowCardinality(String)),
    component_values        Array(Float64),
    computed_at             DateTime64(3, 'UTC'),
    version                 UInt64
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/invigil/candidate_windows_local', '{replica}', version)
PARTITION BY toYYYYMM(window_start)
ORDER BY (test_id, candidate_id, session_id, window_kind, window_start)
TTL toDateTime(window_start) + INTERVAL 30 DAY;
CREATE TABLE IF NOT EXISTS invigil.candidate_windows ON CLUSTER invigil AS invigil.candidate_windows_local
ENGINE = Distributed(invigil, invigil, candidate_windows_local, cityHash64(test_id, candidate_id));
INSERT INTO invigil.invigil_schema_migrations (id, name, checksum, applied_at) VALUES (2, 'candidate_windows', 9110025636028994181, now());

-- 003_anomalies
CREATE TABLE IF NOT EXISTS invigil.anomalies_local ON CLUSTER invigil
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
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/invigil/anomalies_local', '{replica}', version)
PARTITION BY toYYYYMM(window_start)
ORDER BY (test_id, candidate_id, session_id, window_start)
TTL toDateTime(window_start) + INTERVAL 30 DAY;
CREATE TABLE IF NOT EXISTS invigil.anomalies ON CLUSTER invigil AS invigil.anomalies_local
ENGINE = Distributed(invigil, invigil, anomalies_local, cityHash64(test_id, candidate_id));
INSERT INTO invigil.invigil_schema_migrations (id, name, checksum, applied_at) VALUES (3, 'anomalies', 8997100949525710102, now());

-- 004_sessions
CREATE TABLE IF NOT EXISTS invigil.sessions_local ON CLUSTER invigil
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
    completeness_pct     Float32,
    network_gaps         UInt32,
    network_gap_ms       UInt64,
    max_window_score     Float64,
    version              UInt64
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/invigil/sessions_local', '{replica}', version)
PARTITION BY toYYYYMM(started_at)
ORDER BY (test_id, candidate_id, session_id)
TTL toDateTime(started_at) + INTERVAL 30 DAY;
CREATE TABLE IF NOT EXISTS invigil.sessions ON CLUSTER invigil AS invigil.sessions_local
ENGINE = Distributed(invigil, invigil, sessions_local, cityHash64(test_id, candidate_id));
INSERT INTO invigil.invigil_schema_migrations (id, name, checksum, applied_at) VALUES (4, 'sessions', 7530668682239819637, now());

-- 005_reviews
CREATE TABLE IF NOT EXISTS invigil.reviews_local ON CLUSTER invigil
(
    test_id        LowCardinality(String),
    candidate_id   String,
    reviewer       String,
    verdict        Enum8('cleared' = 1, 'flagged' = 2),
    comment        String,
    reviewed_at    DateTime64(3, 'UTC'),
    version        UInt64
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/invigil/reviews_local', '{replica}', version)
PARTITION BY toYYYYMM(reviewed_at)
ORDER BY (test_id, candidate_id, reviewer)
TTL toDateTime(reviewed_at) + INTERVAL 395 DAY;
CREATE TABLE IF NOT EXISTS invigil.reviews ON CLUSTER invigil AS invigil.reviews_local
ENGINE = Distributed(invigil, invigil, reviews_local, cityHash64(test_id, candidate_id));
INSERT INTO invigil.invigil_schema_migrations (id, name, checksum, applied_at) VALUES (5, 'reviews', 16047918462293993000, now());

-- 006_recordings
ALTER TABLE invigil.proctor_events_local ON CLUSTER invigil MODIFY COLUMN type Enum8('session_started' = 0, 'session_ended' = 1, 'permission' = 2,
                          'visibility' = 3, 'focus' = 4, 'fullscreen' = 5,
                          'screen_share_ended' = 6, 'clipboard' = 7, 'context_menu' = 8,
                          'key_activity' = 9, 'capture' = 10, 'network' = 11,
                          'blocked' = 12, 'unblocked' = 13, 'sdk_error' = 14, 'custom' = 15,
                          'recording' = 16), ADD COLUMN IF NOT EXISTS duration_ms UInt32 AFTER attempts;
ALTER TABLE invigil.proctor_events ON CLUSTER invigil MODIFY COLUMN type Enum8('session_started' = 0, 'session_ended' = 1, 'permission' = 2,
                          'visibility' = 3, 'focus' = 4, 'fullscreen' = 5,
                          'screen_share_ended' = 6, 'clipboard' = 7, 'context_menu' = 8,
                          'key_activity' = 9, 'capture' = 10, 'network' = 11,
                          'blocked' = 12, 'unblocked' = 13, 'sdk_error' = 14, 'custom' = 15,
                          'recording' = 16), ADD COLUMN IF NOT EXISTS duration_ms UInt32 AFTER attempts;
ALTER TABLE invigil.candidate_windows_local ON CLUSTER invigil ADD COLUMN IF NOT EXISTS recording_expected_ms UInt64 AFTER uploaded_audio, ADD COLUMN IF NOT EXISTS camera_recorded_ms UInt64 AFTER recording_expected_ms, ADD COLUMN IF NOT EXISTS screen_recorded_ms UInt64 AFTER camera_recorded_ms;
ALTER TABLE invigil.candidate_windows ON CLUSTER invigil ADD COLUMN IF NOT EXISTS recording_expected_ms UInt64 AFTER uploaded_audio, ADD COLUMN IF NOT EXISTS camera_recorded_ms UInt64 AFTER recording_expected_ms, ADD COLUMN IF NOT EXISTS screen_recorded_ms UInt64 AFTER camera_recorded_ms;
ALTER TABLE invigil.sessions_local ON CLUSTER invigil ADD COLUMN IF NOT EXISTS recording_expected_ms UInt64 AFTER completeness_pct, ADD COLUMN IF NOT EXISTS recorded_ms UInt64 AFTER recording_expected_ms, ADD COLUMN IF NOT EXISTS recording_pct Float32 AFTER recorded_ms;
ALTER TABLE invigil.sessions ON CLUSTER invigil ADD COLUMN IF NOT EXISTS recording_expected_ms UInt64 AFTER completeness_pct, ADD COLUMN IF NOT EXISTS recorded_ms UInt64 AFTER recording_expected_ms, ADD COLUMN IF NOT EXISTS recording_pct Float32 AFTER recorded_ms;
INSERT INTO invigil.invigil_schema_migrations (id, name, checksum, applied_at) VALUES (6, 'recordings', 738646146032775097, now());

-- 007_delivered_captures
ALTER TABLE invigil.sessions_local ON CLUSTER invigil ADD COLUMN IF NOT EXISTS delivered_captures UInt32 AFTER completeness_pct;
ALTER TABLE invigil.sessions ON CLUSTER invigil ADD COLUMN IF NOT EXISTS delivered_captures UInt32 AFTER completeness_pct;
INSERT INTO invigil.invigil_schema_migrations (id, name, checksum, applied_at) VALUES (7, 'delivered_captures', 5703934010890007526, now());

-- 008_face_checks
ALTER TABLE invigil.proctor_events_local ON CLUSTER invigil MODIFY COLUMN type Enum8('session_started' = 0, 'session_ended' = 1, 'permission' = 2,
                          'visibility' = 3, 'focus' = 4, 'fullscreen' = 5,
                          'screen_share_ended' = 6, 'clipboard' = 7, 'context_menu' = 8,
                          'key_activity' = 9, 'capture' = 10, 'network' = 11,
                          'blocked' = 12, 'unblocked' = 13, 'sdk_error' = 14, 'custom' = 15,
                          'recording' = 16, 'face' = 17), ADD COLUMN IF NOT EXISTS faces UInt8 AFTER duration_ms, ADD COLUMN IF NOT EXISTS face_confidence Float32 AFTER faces, ADD COLUMN IF NOT EXISTS face_size Float32 AFTER face_confidence, ADD COLUMN IF NOT EXISTS light Float32 AFTER face_size;
ALTER TABLE invigil.proctor_events ON CLUSTER invigil MODIFY COLUMN type Enum8('session_started' = 0, 'session_ended' = 1, 'permission' = 2,
                          'visibility' = 3, 'focus' = 4, 'fullscreen' = 5,
                          'screen_share_ended' = 6, 'clipboard' = 7, 'context_menu' = 8,
                          'key_activity' = 9, 'capture' = 10, 'network' = 11,
                          'blocked' = 12, 'unblocked' = 13, 'sdk_error' = 14, 'custom' = 15,
                          'recording' = 16, 'face' = 17), ADD COLUMN IF NOT EXISTS faces UInt8 AFTER duration_ms, ADD COLUMN IF NOT EXISTS face_confidence Float32 AFTER faces, ADD COLUMN IF NOT EXISTS face_size Float32 AFTER face_confidence, ADD COLUMN IF NOT EXISTS light Float32 AFTER face_size;
ALTER TABLE invigil.candidate_windows_local ON CLUSTER invigil ADD COLUMN IF NOT EXISTS face_checks UInt32 AFTER screen_recorded_ms, ADD COLUMN IF NOT EXISTS no_face_checks UInt32 AFTER face_checks, ADD COLUMN IF NOT EXISTS several_faces_checks UInt32 AFTER no_face_checks, ADD COLUMN IF NOT EXISTS dark_checks UInt32 AFTER several_faces_checks, ADD COLUMN IF NOT EXISTS unscored_face_checks UInt32 AFTER dark_checks, ADD COLUMN IF NOT EXISTS no_face_ms UInt64 AFTER unscored_face_checks, ADD COLUMN IF NOT EXISTS several_faces_ms UInt64 AFTER no_face_ms, ADD COLUMN IF NOT EXISTS face_flags UInt32 AFTER several_faces_ms;
ALTER TABLE invigil.candidate_windows ON CLUSTER invigil ADD COLUMN IF NOT EXISTS face_checks UInt32 AFTER screen_recorded_ms, ADD COLUMN IF NOT EXISTS no_face_checks UInt32 AFTER face_checks, ADD COLUMN IF NOT EXISTS several_faces_checks UInt32 AFTER no_face_checks, ADD COLUMN IF NOT EXISTS dark_checks UInt32 AFTER several_faces_checks, ADD COLUMN IF NOT EXISTS unscored_face_checks UInt32 AFTER dark_checks, ADD COLUMN IF NOT EXISTS no_face_ms UInt64 AFTER unscored_face_checks, ADD COLUMN IF NOT EXISTS several_faces_ms UInt64 AFTER no_face_ms, ADD COLUMN IF NOT EXISTS face_flags UInt32 AFTER several_faces_ms;
ALTER TABLE invigil.sessions_local ON CLUSTER invigil ADD COLUMN IF NOT EXISTS face_checks UInt32 AFTER recording_pct, ADD COLUMN IF NOT EXISTS face_flags UInt32 AFTER face_checks, ADD COLUMN IF NOT EXISTS no_face_ms UInt64 AFTER face_flags, ADD COLUMN IF NOT EXISTS several_faces_ms UInt64 AFTER no_face_ms;
ALTER TABLE invigil.sessions ON CLUSTER invigil ADD COLUMN IF NOT EXISTS face_checks UInt32 AFTER recording_pct, ADD COLUMN IF NOT EXISTS face_flags UInt32 AFTER face_checks, ADD COLUMN IF NOT EXISTS no_face_ms UInt64 AFTER face_flags, ADD COLUMN IF NOT EXISTS several_faces_ms UInt64 AFTER no_face_ms;
INSERT INTO invigil.invigil_schema_migrations (id, name, checksum, applied_at) VALUES (8, 'face_checks', 5153816335693059493, now());

-- 009_identity_checks
ALTER TABLE invigil.proctor_events_local ON CLUSTER invigil ADD COLUMN IF NOT EXISTS face_similarity Float32 DEFAULT -1 AFTER light, ADD COLUMN IF NOT EXISTS face_reference UInt8 AFTER face_similarity;
ALTER TABLE invigil.proctor_events ON CLUSTER invigil ADD COLUMN IF NOT EXISTS face_similarity Float32 DEFAULT -1 AFTER light, ADD COLUMN IF NOT EXISTS face_reference UInt8 AFTER face_similarity;
ALTER TABLE invigil.candidate_windows_local ON CLUSTER invigil ADD COLUMN IF NOT EXISTS identity_checks UInt32 AFTER face_flags, ADD COLUMN IF NOT EXISTS different_person_checks UInt32 AFTER identity_checks, ADD COLUMN IF NOT EXISTS different_person_ms UInt64 AFTER different_person_checks, ADD COLUMN IF NOT EXISTS face_references UInt32 AFTER different_person_ms;
ALTER TABLE invigil.candidate_windows ON CLUSTER invigil ADD COLUMN IF NOT EXISTS identity_checks UInt32 AFTER face_flags, ADD COLUMN IF NOT EXISTS different_person_checks UInt32 AFTER identity_checks, ADD COLUMN IF NOT EXISTS different_person_ms UInt64 AFTER different_person_checks, ADD COLUMN IF NOT EXISTS face_references UInt32 AFTER different_person_ms;
ALTER TABLE invigil.sessions_local ON CLUSTER invigil ADD COLUMN IF NOT EXISTS different_person_ms UInt64 AFTER several_faces_ms, ADD COLUMN IF NOT EXISTS face_references UInt32 AFTER different_person_ms;
ALTER TABLE invigil.sessions ON CLUSTER invigil ADD COLUMN IF NOT EXISTS different_person_ms UInt64 AFTER several_faces_ms, ADD COLUMN IF NOT EXISTS face_references UInt32 AFTER different_person_ms;
INSERT INTO invigil.invigil_schema_migrations (id, name, checksum, applied_at) VALUES (9, 'identity_checks', 10468550857446327515, now());

-- 010_staff_actions
CREATE TABLE IF NOT EXISTS invigil.staff_actions_local ON CLUSTER invigil
(
    test_id        LowCardinality(String),
    candidate_id   String,
    action_id      UUID,
    at             DateTime64(3, 'UTC'),
    staff          String,
    role           LowCardinality(String),
    action         LowCardinality(String),
    outcome        LowCardinality(String),
    detail         String,
    ingest_node    LowCardinality(String),
    client_ip_hash UInt64,
    version        UInt64
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/invigil/staff_actions_local', '{replica}', version)
PARTITION BY toYYYYMM(at)
ORDER BY (test_id, candidate_id, action_id)
TTL toDateTime(at) + INTERVAL 395 DAY;
CREATE TABLE IF NOT EXISTS invigil.staff_actions ON CLUSTER invigil AS invigil.staff_actions_local
ENGINE = Distributed(invigil, invigil, staff_actions_local, cityHash64(test_id, candidate_id));
INSERT INTO invigil.invigil_schema_migrations (id, name, checksum, applied_at) VALUES (10, 'staff_actions', 1432807274715328945, now());

-- 011_webhook_deliveries
CREATE TABLE IF NOT EXISTS invigil.webhook_deliveries_local ON CLUSTER invigil
(
    test_id         LowCardinality(String),
    candidate_id    String,
    endpoint        LowCardinality(String),
    notice_id       UUID,
    event_type      LowCardinality(String),
    attempt         UInt32,
    at              DateTime64(3, 'UTC'),
    outcome         LowCardinality(String),
    status          UInt16,
    duration_ms     UInt32,
    error           String,
    next_attempt_at DateTime64(3, 'UTC'),
    redelivery      UInt8,
    payload         String,
    version         UInt64
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/invigil/webhook_deliveries_local', '{replica}', version)
PARTITION BY toYYYYMM(at)
ORDER BY (test_id, endpoint, notice_id, at)
TTL toDateTime(at) + INTERVAL 30 DAY;
CREATE TABLE IF NOT EXISTS invigil.webhook_deliveries ON CLUSTER invigil AS invigil.webhook_deliveries_local
ENGINE = Distributed(invigil, invigil, webhook_deliveries_local, cityHash64(test_id, candidate_id));
INSERT INTO invigil.invigil_schema_migrations (id, name, checksum, applied_at) VALUES (11, 'webhook_deliveries', 11108221404220629687, now());

-- 012_environment_signals
ALTER TABLE invigil.proctor_events_local ON CLUSTER invigil MODIFY COLUMN type Enum8('session_started' = 0, 'session_ended' = 1, 'permission' = 2,
                          'visibility' = 3, 'focus' = 4, 'fullscreen' = 5,
                          'screen_share_ended' = 6, 'clipboard' = 7, 'context_menu' = 8,
                          'key_activity' = 9, 'capture' = 10, 'network' = 11,
                          'blocked' = 12, 'unblocked' = 13, 'sdk_error' = 14, 'custom' = 15,
                          'recording' = 16, 'face' = 17, 'display' = 18, 'environment' = 19,
                          'other_tabs' = 20), ADD COLUMN IF NOT EXISTS paste_target LowCardinality(String) AFTER chars, ADD COLUMN IF NOT EXISTS peak_keys UInt16 AFTER interval_ms, ADD COLUMN IF NOT EXISTS burst_s UInt16 AFTER peak_keys;
ALTER TABLE invigil.proctor_events ON CLUSTER invigil MODIFY COLUMN type Enum8('session_started' = 0, 'session_ended' = 1, 'permission' = 2,
                          'visibility' = 3, 'focus' = 4, 'fullscreen' = 5,
                          'screen_share_ended' = 6, 'clipboard' = 7, 'context_menu' = 8,
                          'key_activity' = 9, 'capture' = 10, 'network' = 11,
                          'blocked' = 12, 'unblocked' = 13, 'sdk_error' = 14, 'custom' = 15,
                          'recording' = 16, 'face' = 17, 'display' = 18, 'environment' = 19,
                          'other_tabs' = 20), ADD COLUMN IF NOT EXISTS paste_target LowCardinality(String) AFTER chars, ADD COLUMN IF NOT EXISTS peak_keys UInt16 AFTER interval_ms, ADD COLUMN IF NOT EXISTS burst_s UInt16 AFTER peak_keys;
INSERT INTO invigil.invigil_schema_migrations (id, name, checksum, applied_at) VALUES (12, 'environment_signals', 16564913388002157081, now());

-- 013_environment_windows
ALTER TABLE invigil.candidate_windows_local ON CLUSTER invigil ADD COLUMN IF NOT EXISTS paste_chars UInt64 AFTER face_references, ADD COLUMN IF NOT EXISTS answer_paste_chars UInt64 AFTER paste_chars, ADD COLUMN IF NOT EXISTS burst_s UInt32 AFTER answer_paste_chars, ADD COLUMN IF NOT EXISTS screens_added UInt32 AFTER burst_s, ADD COLUMN IF NOT EXISTS extra_screen_ms UInt64 AFTER screens_added, ADD COLUMN IF NOT EXISTS other_tab_ms UInt64 AFTER extra_screen_ms, ADD COLUMN IF NOT EXISTS hints UInt8 AFTER other_tab_ms;
ALTER TABLE invigil.candidate_windows ON CLUSTER invigil ADD COLUMN IF NOT EXISTS paste_chars UInt64 AFTER face_references, ADD COLUMN IF NOT EXISTS answer_paste_chars UInt64 AFTER paste_chars, ADD COLUMN IF NOT EXISTS burst_s UInt32 AFTER answer_paste_chars, ADD COLUMN IF NOT EXISTS screens_added UInt32 AFTER burst_s, ADD COLUMN IF NOT EXISTS extra_screen_ms UInt64 AFTER screens_added, ADD COLUMN IF NOT EXISTS other_tab_ms UInt64 AFTER extra_screen_ms, ADD COLUMN IF NOT EXISTS hints UInt8 AFTER other_tab_ms;
ALTER TABLE invigil.sessions_local ON CLUSTER invigil ADD COLUMN IF NOT EXISTS paste_chars UInt64 AFTER face_references, ADD COLUMN IF NOT EXISTS answer_paste_chars UInt64 AFTER paste_chars, ADD COLUMN IF NOT EXISTS burst_s UInt32 AFTER answer_paste_chars, ADD COLUMN IF NOT EXISTS screens_added UInt32 AFTER burst_s, ADD COLUMN IF NOT EXISTS extra_screen_ms UInt64 AFTER screens_added, ADD COLUMN IF NOT EXISTS other_tab_ms UInt64 AFTER extra_screen_ms, ADD COLUMN IF NOT EXISTS hints UInt8 AFTER other_tab_ms;
ALTER TABLE invigil.sessions ON CLUSTER invigil ADD COLUMN IF NOT EXISTS paste_chars UInt64 AFTER face_references, ADD COLUMN IF NOT EXISTS answer_paste_chars UInt64 AFTER paste_chars, ADD COLUMN IF NOT EXISTS burst_s UInt32 AFTER answer_paste_chars, ADD COLUMN IF NOT EXISTS screens_added UInt32 AFTER burst_s, ADD COLUMN IF NOT EXISTS extra_screen_ms UInt64 AFTER screens_added, ADD COLUMN IF NOT EXISTS other_tab_ms UInt64 AFTER extra_screen_ms, ADD COLUMN IF NOT EXISTS hints UInt8 AFTER other_tab_ms;
INSERT INTO invigil.invigil_schema_migrations (id, name, checksum, applied_at) VALUES (13, 'environment_windows', 18379852802205615884, now());

-- 014_concurrent_sessions
ALTER TABLE invigil.candidate_windows_local ON CLUSTER invigil ADD COLUMN IF NOT EXISTS concurrent_ms UInt64 AFTER hints, ADD COLUMN IF NOT EXISTS concurrent_sessions UInt32 AFTER concurrent_ms;
ALTER TABLE invigil.candidate_windows ON CLUSTER invigil ADD COLUMN IF NOT EXISTS concurrent_ms UInt64 AFTER hints, ADD COLUMN IF NOT EXISTS concurrent_sessions UInt32 AFTER concurrent_ms;
ALTER TABLE invigil.sessions_local ON CLUSTER invigil ADD COLUMN IF NOT EXISTS concurrent_ms UInt64 AFTER hints, ADD COLUMN IF NOT EXISTS concurrent_sessions UInt32 AFTER concurrent_ms;
ALTER TABLE invigil.sessions ON CLUSTER invigil ADD COLUMN IF NOT EXISTS concurrent_ms UInt64 AFTER hints, ADD COLUMN IF NOT EXISTS concurrent_sessions UInt32 AFTER concurrent_ms;
INSERT INTO invigil.invigil_schema_migrations (id, name, checksum, applied_at) VALUES (14, 'concurrent_sessions', 4729891668929200763, now());

-- 015_client_network
ALTER TABLE invigil.proctor_events_local ON CLUSTER invigil ADD COLUMN IF NOT EXISTS client_net_hash UInt64 AFTER client_ip_hash;
ALTER TABLE invigil.proctor_events ON CLUSTER invigil ADD COLUMN IF NOT EXISTS client_net_hash UInt64 AFTER client_ip_hash;
ALTER TABLE invigil.sessions_local ON CLUSTER invigil ADD COLUMN IF NOT EXISTS client_ip_hash UInt64 AFTER user_agent, ADD COLUMN IF NOT EXISTS client_net_hash UInt64 AFTER client_ip_hash;
ALTER TABLE invigil.sessions ON CLUSTER invigil ADD COLUMN IF NOT EXISTS client_ip_hash UInt64 AFTER user_agent, ADD COLUMN IF NOT EXISTS client_net_hash UInt64 AFTER client_ip_hash;
INSERT INTO invigil.invigil_schema_migrations (id, name, checksum, applied_at) VALUES (15, 'client_network', 8693168431954925407, now());
