-- A test's audit trail for its admins: every staff action on the test or
-- one of its candidates, newest first (at most `limit`); `detail` is a JSON
-- object; `place` is the first 8 hex digits of the client's keyed address
-- hash ('' when unknown), enough to tell places apart and no more.
-- Parameters: test_id, limit.
SELECT
    toString(action_id) AS id,
    toUnixTimestamp64Milli(at) AS at,
    candidate_id,
    staff,
    role,
    action,
    outcome,
    detail,
    if(client_ip_hash = 0, '', substring(lower(hex(client_ip_hash)), 1, 8)) AS place
FROM staff_actions FINAL
WHERE test_id = {test_id:String}
ORDER BY at DESC
LIMIT {limit:UInt32}
SETTINGS output_format_json_quote_64bit_integers = 0
