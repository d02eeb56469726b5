-- Every reviewer's newest verdict on the candidates of a test, or on one
-- candidate, oldest first. Parameters: test_id, candidate_id (empty: every
-- candidate of the test).
SELECT
    candidate_id,
    reviewer,
    toString(verdict) AS verdict,
    comment,
    toUnixTimestamp64Milli(reviewed_at) AS reviewed_at
FROM reviews FINAL
WHERE test_id = {test_id:String} AND ({candidate_id:String} = '' OR candidate_id = {candidate_id:String})
ORDER BY reviewed_at
SETTINGS output_format_json_quote_64bit_integers = 0
