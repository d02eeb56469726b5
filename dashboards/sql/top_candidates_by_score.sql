-- Which candidates of a test should a reviewer look at first?
-- One row per candidate: the highest minute score, the session score, how
-- many minutes crossed the alert threshold and the components that weigh
-- most over the whole session. Network gaps are shown, never scored.
-- Parameters: test_id.
SELECT
    w.candidate_id AS candidate_id,
    max(w.score) AS max_minute_score,
    any(t.score) AS session_score,
    countIf(w.score >= a.threshold) AS alert_minutes,
    any(t.component_names) AS session_components,
    any(t.component_values) AS session_component_values,
    sum(w.network_gaps) AS network_gaps
FROM candidate_windows AS w FINAL
LEFT JOIN
(
    SELECT candidate_id, session_id, score, component_names, component_values
    FROM candidate_windows FINAL
    WHERE test_id = {test_id:String} AND window_kind = 'session'
) AS t ON t.candidate_id = w.candidate_id AND t.session_id = w.session_id
LEFT JOIN
(
    SELECT candidate_id, any(threshold) AS threshold
    FROM anomalies FINAL
    WHERE test_id = {test_id:String}
    GROUP BY candidate_id
) AS a ON a.candidate_id = w.candidate_id
WHERE w.test_id = {test_id:String} AND w.window_kind = 'minute'
GROUP BY w.candidate_id
ORDER BY session_score DESC, max_minute_score DESC, w.candidate_id
