-- Face checks (config `face_check.mode = presence`): the `face` event kind
-- with its typed columns, and per window and session the checks by what
-- they saw and the flagged runs. Appending an enum value and adding
-- columns are metadata-only changes; old rows read the new columns as 0.
ALTER TABLE proctor_events MODIFY COLUMN type Enum8('session_started' = 0, 'session_ended' = 1, 'permission' = 2,
                          'visibility' = 3, 'focus' = 4, 'fullscreen' = 5,
                          'screen_share_ended' = 6, 'clipboard' = 7, 'context_menu' = 8,
                          'key_activity' = 9, 'capture' = 10, 'network' = 11,
                          'blocked' = 12, 'unblocked' = 13, 'sdk_error' = 14, 'custom' = 15,
                          'recording' = 16, 'face' = 17);
-- face: faces found, the best score, the largest face's width over the
-- frame's, the frame's mean brightness (0..1); the check's time is in
-- duration_ms
ALTER TABLE proctor_events ADD COLUMN IF NOT EXISTS faces UInt8 AFTER duration_ms;
ALTER TABLE proctor_events ADD COLUMN IF NOT EXISTS face_confidence Float32 AFTER faces;
ALTER TABLE proctor_events ADD COLUMN IF NOT EXISTS face_size Float32 AFTER face_confidence;
ALTER TABLE proctor_events ADD COLUMN IF NOT EXISTS light Float32 AFTER face_size;
-- Per window: checks by what they saw (several = more than one face; dark =
-- no face in a frame too dark to tell; unscored = while blocked), and the
-- milliseconds of flagged runs (no face / several faces) in the window, and
-- the flags that began in it.
ALTER TABLE candidate_windows ADD COLUMN IF NOT EXISTS face_checks UInt32 AFTER screen_recorded_ms;
ALTER TABLE candidate_windows ADD COLUMN IF NOT EXISTS no_face_checks UInt32 AFTER face_checks;
ALTER TABLE candidate_windows ADD COLUMN IF NOT EXISTS several_faces_checks UInt32 AFTER no_face_checks;
ALTER TABLE candidate_windows ADD COLUMN IF NOT EXISTS dark_checks UInt32 AFTER several_faces_checks;
ALTER TABLE candidate_windows ADD COLUMN IF NOT EXISTS unscored_face_checks UInt32 AFTER dark_checks;
ALTER TABLE candidate_windows ADD COLUMN IF NOT EXISTS no_face_ms UInt64 AFTER unscored_face_checks;
ALTER TABLE candidate_windows ADD COLUMN IF NOT EXISTS several_faces_ms UInt64 AFTER no_face_ms;
ALTER TABLE candidate_windows ADD COLUMN IF NOT EXISTS face_flags UInt32 AFTER several_faces_ms;
ALTER TABLE sessions ADD COLUMN IF NOT EXISTS face_checks UInt32 AFTER recording_pct;
ALTER TABLE sessions ADD COLUMN IF NOT EXISTS face_flags UInt32 AFTER face_checks;
ALTER TABLE sessions ADD COLUMN IF NOT EXISTS no_face_ms UInt64 AFTER face_flags;
ALTER TABLE sessions ADD COLUMN IF NOT EXISTS several_faces_ms UInt64 AFTER no_face_ms
