-- The review list, part 1: each candidate's sessions summed (capture slots
-- expected and filled, captures delivered, recordings, gaps, events, when,
-- whether all ended). Parameters: test_id.
SELECT
    candidate_id,
    count() AS sessions,
    sum(expected_captures) AS expected_captures,
    sum(uploaded_captures) AS uploaded_captures,
    sum(delivered_captures) AS delivered_captures,
    sum(network_gaps) AS network_gaps,
    sum(events) AS events,
    sum(recording_expected_ms) AS recording_expected_ms,
    sum(recorded_ms) AS recorded_ms,
    max(max_window_score) AS max_minute_score,
    min(ended) AS ended,
    toUnixTimestamp64Milli(min(started_at)) AS started_at,
    toUnixTimestamp64Milli(max(last_seen_at)) AS last_seen_at
FROM sessions FINAL
WHERE test_id = {test_id:String}
GROUP BY candidate_id
SETTINGS output_format_json_quote_64bit_integers = 0
