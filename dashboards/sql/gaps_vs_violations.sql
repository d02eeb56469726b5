-- Was it the network or the candidate? Per candidate: minutes with a
-- network gap, gap time, minutes with a scored violation, and how many of
-- those violation minutes coincide with a gap (evidence to weigh with care).
-- Parameters: test_id.
SELECT
    candidate_id,
    countIf(network_gap_ms > 0) AS gap_minutes,
    sum(network_gap_ms) / 1000 AS gap_seconds,
    countIf(score > 0) AS violation_minutes,
    countIf(score > 0 AND network_gap_ms > 0) AS violation_minutes_in_gaps
FROM candidate_windows FINAL
WHERE test_id = {test_id:String} AND window_kind = 'minute'
GROUP BY candidate_id
ORDER BY violation_minutes DESC, gap_minutes DESC, candidate_id
