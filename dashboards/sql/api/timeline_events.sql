-- A candidate's events for the review timeline, in (ts, seq) order: every
-- typed column and the JSON payload of the events that keep one, from
-- which the API rebuilds each event as the SDK sent it
-- (schemas::event_columns::wire_event); one more than shown, to tell a cut
-- list. Parameters: test_id, candidate_id, limit.
SELECT
    toString(session_id) AS session_id,
    toString(event_id) AS event_id,
    seq,
    toUnixTimestamp64Milli(ts) AS ts,
    toUnixTimestamp64Milli(received_at) AS received_at,
    batch_seq,
    toString(type) AS type,
    toString(state) AS state,
    toString(device) AS device,
    toString(action) AS action,
    toString(reason) AS reason,
    chars,
    toString(paste_target) AS paste_target,
    keys,
    interval_ms,
    peak_keys,
    burst_s,
    toString(capture_kind) AS capture_kind,
    toString(capture_status) AS capture_status,
    capture_key,
    capture_bytes,
    capture_seq,
    attempts,
    duration_ms,
    faces,
    face_confidence,
    face_size,
    light,
    face_similarity,
    face_reference,
    name,
    payload
FROM proctor_events FINAL
WHERE test_id = {test_id:String} AND candidate_id = {candidate_id:String}
ORDER BY ts, seq
LIMIT {limit:UInt64}
SETTINGS output_format_json_quote_64bit_integers = 0
