-- A candidate's minute windows for the review timeline: scores, their
-- components and the counts behind them. Parameters: test_id, candidate_id.
SELECT
    toString(session_id) AS session_id,
    toUnixTimestamp64Milli(window_start) AS start,
    toUnixTimestamp64Milli(window_end) AS end,
    score,
    component_names,
    component_values,
    tab_switches,
    hidden_ms,
    blur_count,
    blur_ms,
    fullscreen_exits,
    clipboard_actions,
    key_bursts,
    permission_revocations,
    blocked_ms,
    uploads_failed,
    expected_face,
    uploaded_face,
    expected_screen,
    uploaded_screen,
    expected_audio,
    uploaded_audio,
    recording_expected_ms,
    camera_recorded_ms,
    screen_recorded_ms,
    face_checks,
    no_face_checks,
    several_faces_checks,
    dark_checks,
    unscored_face_checks,
    no_face_ms,
    several_faces_ms,
    face_flags,
    network_gaps,
    network_gap_ms,
    late_events
FROM candidate_windows FINAL
WHERE test_id = {test_id:String} AND candidate_id = {candidate_id:String} AND window_kind = 'minute'
ORDER BY window_start
SETTINGS output_format_json_quote_64bit_integers = 0
