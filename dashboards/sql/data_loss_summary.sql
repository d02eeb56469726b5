-- What did the exam lose, test by test? Events stored, events that arrived
-- late (still counted), failed and missing captures, capture completeness,
-- sessions that never ended cleanly and network gap time.
SELECT
    s.test_id,
    count() AS sessions,
    sum(s.events) AS events,
    sum(w.late_events) AS late_events,
    sum(w.uploads_failed) AS failed_uploads,
    sum(s.expected_captures) - sum(s.uploaded_captures) AS missing_captures,
    round(100 * sum(s.uploaded_captures) / greatest(sum(s.expected_captures), 1), 1) AS completeness_pct,
    countIf(s.ended = 0) AS sessions_not_ended,
    sum(s.network_gap_ms) / 1000 AS gap_seconds
FROM sessions AS s FINAL
LEFT JOIN
(
    SELECT session_id, late_events, uploads_failed
    FROM candidate_windows FINAL
    WHERE window_kind = 'session'
) AS w ON w.session_id = s.session_id
GROUP BY s.test_id
ORDER BY s.test_id
