-- Identity continuity (config `face_check.mode = identity`): a face check may
-- compare its single face with the page's reference face, or take the
-- reference. The event keeps the cosine similarity (0..1; -1 when nothing
-- was compared, which old rows read too) and whether the check took the
-- reference. No embedding is stored anywhere: it never leaves the browser.
ALTER TABLE proctor_events ADD COLUMN IF NOT EXISTS face_similarity Float32 DEFAULT -1 AFTER light;
ALTER TABLE proctor_events ADD COLUMN IF NOT EXISTS face_reference UInt8 AFTER face_similarity;
-- Per window: comparisons made, those under the test's `min_similarity`,
-- the milliseconds of flagged runs of them, and the reference faces taken
-- (more than one in a session means the page was reloaded or the Worker
-- restarted; the review page says so).
ALTER TABLE candidate_windows ADD COLUMN IF NOT EXISTS identity_checks UInt32 AFTER face_flags;
ALTER TABLE candidate_windows ADD COLUMN IF NOT EXISTS different_person_checks UInt32 AFTER identity_checks;
ALTER TABLE candidate_windows ADD COLUMN IF NOT EXISTS different_person_ms UInt64 AFTER different_person_checks;
ALTER TABLE candidate_windows ADD COLUMN IF NOT EXISTS face_references UInt32 AFTER different_person_ms;
ALTER TABLE sessions ADD COLUMN IF NOT EXISTS different_person_ms UInt64 AFTER several_faces_ms;
ALTER TABLE sessions ADD COLUMN IF NOT EXISTS face_references UInt32 AFTER different_person_ms
