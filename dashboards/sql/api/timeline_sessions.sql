-- A candidate's sessions for the review timeline, in the order they began.
-- Parameters: test_id, candidate_id.
SELECT
    toString(session_id) AS session_id,
    toUnixTimestamp64Milli(started_at) AS started_at,
    toUnixTimestamp64Milli(last_seen_at) AS last_seen_at,
    ended,
    toString(end_reason) AS end_reason,
    sdk_version,
    user_agent,
    -- The keyed hashes, as text: a JSON number loses a UInt64's low bits.
    lower(hex(client_ip_hash)) AS client_ip_hash,
    lower(hex(client_net_hash)) AS client_net_hash,
    events,
    batches,
    expected_captures,
    uploaded_captures,
    completeness_pct,
    delivered_captures,
    recording_expected_ms,
    recorded_ms,
    recording_pct,
    face_checks,
    face_flags,
    no_face_ms,
    several_faces_ms,
    different_person_ms,
    face_references,
    paste_chars,
    answer_paste_chars,
    burst_s,
    screens_added,
    extra_screen_ms,
    other_tab_ms,
    hints,
    concurrent_ms,
    concurrent_sessions,
    network_gaps,
    network_gap_ms,
    max_window_score
FROM sessions FINAL
WHERE test_id = {test_id:String} AND candidate_id = {candidate_id:String}
ORDER BY started_at
SETTINGS output_format_json_quote_64bit_integers = 0
