-- The audit trail of one test: who did what to which candidate, and from
-- how many places (client_ip_hash, keyed like the candidates'), per staff
-- member and kind of action. Parameters: test_id.
SELECT
    staff,
    role,
    action,
    count() AS actions,
    uniqExact(candidate_id) AS candidates,
    uniqExact(client_ip_hash) AS places,
    countIf(outcome = 'failed') AS failed,
    min(at) AS first,
    max(at) AS last
FROM staff_actions FINAL
WHERE test_id = {test_id:String}
GROUP BY staff, role, action
ORDER BY staff, action
