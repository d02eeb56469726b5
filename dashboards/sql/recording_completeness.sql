-- Did we get the video? Per candidate of a test that records video
-- (recording.mode = video): the time a recording was expected (session
-- open and not blocked), the time each track's delivered segments cover,
-- and the completeness percentage over both tracks (lowest first).
-- Parameters: test_id.
SELECT
    candidate_id,
    sum(recording_expected_ms) AS expected_ms,
    sum(camera_recorded_ms) AS camera_ms,
    sum(screen_recorded_ms) AS screen_ms,
    round(if(expected_ms = 0, 100, 100 * (camera_ms + screen_ms) / (2 * expected_ms)), 1) AS recording_pct
FROM candidate_windows FINAL
WHERE test_id = {test_id:String} AND window_kind = 'minute'
GROUP BY candidate_id
ORDER BY recording_pct, candidate_id
