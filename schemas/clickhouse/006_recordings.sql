-- Continuous recordings (config `recording.mode = video`): the `recording`
-- event kind, the time each segment covers, and recorded against expected
-- milliseconds per window and per session. Appending an enum value and
-- adding columns are metadata-only changes; old rows read the new columns
-- as 0.
ALTER TABLE proctor_events MODIFY COLUMN type Enum8('session_started' = 0, 'session_ended' = 1, 'permission' = 2,
                          'visibility' = 3, 'focus' = 4, 'fullscreen' = 5,
                          'screen_share_ended' = 6, 'clipboard' = 7, 'context_menu' = 8,
                          'key_activity' = 9, 'capture' = 10, 'network' = 11,
                          'blocked' = 12, 'unblocked' = 13, 'sdk_error' = 14, 'custom' = 15,
                          'recording' = 16);
-- recording: the segment's length from `ts` (capture_kind holds its track,
-- camera/screen, and capture_seq its segment_seq)
ALTER TABLE proctor_events ADD COLUMN IF NOT EXISTS duration_ms UInt32 AFTER attempts;
-- Per track, the milliseconds of the window covered by delivered segments,
-- and the milliseconds a recording was expected (the session open and not
-- blocked, in video mode).
ALTER TABLE candidate_windows ADD COLUMN IF NOT EXISTS recording_expected_ms UInt64 AFTER uploaded_audio;
ALTER TABLE candidate_windows ADD COLUMN IF NOT EXISTS camera_recorded_ms UInt64 AFTER recording_expected_ms;
ALTER TABLE candidate_windows ADD COLUMN IF NOT EXISTS screen_recorded_ms UInt64 AFTER camera_recorded_ms;
-- recorded_ms: camera and screen together, against twice the expected time;
-- recording_pct 0..100 (100 when nothing was expected)
ALTER TABLE sessions ADD COLUMN IF NOT EXISTS recording_expected_ms UInt64 AFTER completeness_pct;
ALTER TABLE sessions ADD COLUMN IF NOT EXISTS recorded_ms UInt64 AFTER recording_expected_ms;
ALTER TABLE sessions ADD COLUMN IF NOT EXISTS recording_pct Float32 AFTER recorded_ms
