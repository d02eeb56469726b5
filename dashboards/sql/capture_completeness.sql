-- Did we get the evidence? Per candidate and capture kind: captures
-- expected while the session was open and not blocked, captures uploaded,
-- missing and the completeness percentage (lowest first).
-- Parameters: test_id.
SELECT
    candidate_id,
    kind,
    expected,
    uploaded,
    expected - uploaded AS missing,
    round(if(expected = 0, 100, 100 * uploaded / expected), 1) AS completeness_pct
FROM
(
    SELECT
        candidate_id,
        sum(expected_face) AS ef, sum(uploaded_face) AS uf,
        sum(expected_screen) AS es, sum(uploaded_screen) AS us,
        sum(expected_audio) AS ea, sum(uploaded_audio) AS ua
    FROM candidate_windows FINAL
    WHERE test_id = {test_id:String} AND window_kind = 'minute'
    GROUP BY candidate_id
)
ARRAY JOIN
    ['face', 'screen', 'audio'] AS kind,
    [ef, es, ea] AS expected,
    [uf, us, ua] AS uploaded
ORDER BY completeness_pct, candidate_id, kind
