-- The webhook delivery log for admins: attempts to deliver notices to the
-- endpoints, newest first (at most `limit`), each filter '' for all.
-- Parameters: endpoint, outcome, test_id, limit.
SELECT
    toString(notice_id) AS notice_id,
    endpoint,
    event_type,
    test_id,
    candidate_id,
    attempt,
    toUnixTimestamp64Milli(at) AS at,
    outcome,
    status,
    duration_ms,
    error,
    toUnixTimestamp64Milli(next_attempt_at) AS next_attempt_at,
    redelivery
FROM webhook_deliveries FINAL
WHERE ({endpoint:String} = '' OR endpoint = {endpoint:String})
  AND ({outcome:String} = '' OR outcome = {outcome:String})
  AND ({test_id:String} = '' OR test_id = {test_id:String})
ORDER BY at DESC
LIMIT {limit:UInt32}
SETTINGS output_format_json_quote_64bit_integers = 0
