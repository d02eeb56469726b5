-- The review list, part 3: how many of each candidate's minutes reached the
-- alert threshold. Parameters: test_id.
SELECT candidate_id, count() AS alert_minutes
FROM anomalies FINAL
WHERE test_id = {test_id:String} AND score >= threshold
GROUP BY candidate_id
SETTINGS output_format_json_quote_64bit_integers = 0
