-- Possible collusion: candidates whose minute-by-minute tab switches (from
-- the start of their session) are identical and not empty. Each row is one
-- pattern shared by two or more candidates.
-- Parameters: test_id.
SELECT
    pattern,
    count() AS candidates,
    groupArray(candidate_id) AS who
FROM
(
    SELECT
        candidate_id,
        arrayMap(x -> x.2, arraySort(x -> x.1, groupArray((window_start, tab_switches)))) AS pattern
    FROM candidate_windows FINAL
    WHERE test_id = {test_id:String} AND window_kind = 'minute'
    GROUP BY candidate_id
    HAVING arraySum(pattern) > 0
    ORDER BY candidate_id
)
GROUP BY pattern
HAVING candidates > 1
ORDER BY candidates DESC, toString(pattern)
