-- A candidate's newest LMS attempt context: the signed token the LTI
-- proctoring page recorded (custom event invigil.lti, data.acs), which the
-- wall's LMS controls hand back to the front door. Parameters: test_id,
-- candidate_id.
SELECT
    payload,
    toUnixTimestamp64Milli(ts) AS ts
FROM proctor_events
WHERE test_id = {test_id:String} AND candidate_id = {candidate_id:String}
    AND type = 'custom' AND name = 'invigil.lti'
ORDER BY ts DESC
LIMIT 1
SETTINGS output_format_json_quote_64bit_integers = 0
