-- The newest attempt to deliver one notice to one endpoint, with the body
-- that was signed and sent: what a redelivery sends again.
-- Parameters: endpoint, notice_id.
SELECT
    test_id,
    candidate_id,
    event_type,
    payload
FROM webhook_deliveries FINAL
WHERE endpoint = {endpoint:String} AND notice_id = toUUID({notice_id:String})
ORDER BY at DESC
LIMIT 1
