-- Everything one candidate did, in order: each event with the minute it
-- falls in and that minute's score, so a reviewer reads cause and effect on
-- one time axis. Late events (received after their minute closed) are
-- marked. Parameters: test_id, candidate_id.
SELECT
    e.ts,
    e.seq,
    e.type,
    e.state,
    e.device,
    e.action,
    e.reason,
    e.capture_kind,
    e.capture_status,
    e.keys,
    toStartOfMinute(e.ts) AS minute,
    w.score AS minute_score,
    e.received_at > toStartOfMinute(e.ts) + INTERVAL 75 SECOND AS late
FROM proctor_events AS e FINAL
LEFT JOIN
(
    SELECT session_id, window_start, score
    FROM candidate_windows FINAL
    WHERE test_id = {test_id:String} AND candidate_id = {candidate_id:String} AND window_kind = 'minute'
) AS w ON w.session_id = e.session_id AND w.window_start = toStartOfMinute(e.ts)
WHERE e.test_id = {test_id:String} AND e.candidate_id = {candidate_id:String}
ORDER BY e.ts, e.seq
