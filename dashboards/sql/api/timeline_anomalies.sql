-- A candidate's minutes that reached the alert threshold, with what made
-- them. Parameters: test_id, candidate_id.
SELECT
    toString(session_id) AS session_id,
    toUnixTimestamp64Milli(window_start) AS start,
    toUnixTimestamp64Milli(window_end) AS end,
    toString(severity) AS severity,
    score,
    threshold,
    component_names,
    component_values
FROM anomalies FINAL
WHERE test_id = {test_id:String} AND candidate_id = {candidate_id:String} AND score >= threshold
ORDER BY window_start
SETTINGS output_format_json_quote_64bit_integers = 0
