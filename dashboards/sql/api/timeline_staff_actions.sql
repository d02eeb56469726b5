-- What staff did to a candidate's exam (controls sent to the candidate's
-- learning platform, taken or not), oldest first; `detail` is a JSON
-- object of what staff gave and what came back. Parameters: test_id,
-- candidate_id.
SELECT
    toString(action_id) AS id,
    toUnixTimestamp64Milli(at) AS at,
    staff,
    role,
    action,
    outcome,
    detail
FROM staff_actions FINAL
WHERE test_id = {test_id:String} AND candidate_id = {candidate_id:String}
ORDER BY at
SETTINGS output_format_json_quote_64bit_integers = 0
