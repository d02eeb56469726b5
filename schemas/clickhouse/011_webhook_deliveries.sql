-- The webhook delivery log: one row per attempt to deliver a notice
-- (session.started, session.flagged, review.verdict, …) to an endpoint,
-- with what came of it: delivered (a 2xx in time), retrying (with when the
-- next attempt is due) or gave_up (the last attempt, 24 hours after the
-- notice by default). payload is the body that was signed and sent, so the
-- admin page can show it and send it again; it holds ids, scores and
-- totals, never candidate content. A log row written twice (the
-- dispatcher's insert retried) repeats its key and replaces itself.
CREATE TABLE IF NOT EXISTS webhook_deliveries
(
    test_id         LowCardinality(String),
    candidate_id    String,
    endpoint        LowCardinality(String),
    notice_id       UUID,
    event_type      LowCardinality(String),
    attempt         UInt32,
    at              DateTime64(3, 'UTC'),
    outcome         LowCardinality(String),
    -- the HTTP status (0: no answer), how long the attempt took, and why
    -- it failed (a status line, a timeout, a refused connection)
    status          UInt16,
    duration_ms     UInt32,
    error           String,
    next_attempt_at DateTime64(3, 'UTC'),
    -- 1 for a redelivery asked for in the admin page
    redelivery      UInt8,
    payload         String,
    version         UInt64
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(at)
ORDER BY (test_id, endpoint, notice_id, at)
TTL toDateTime(at) + INTERVAL 30 DAY
