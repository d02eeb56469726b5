-- Concurrent sessions: the milliseconds another session of the same
-- candidate in the same test ran at the same time (another tab, browser or
-- device; a reload's handover is not one), and the most such sessions at
-- once, per window and session. Old rows read 0.
ALTER TABLE candidate_windows ADD COLUMN IF NOT EXISTS concurrent_ms UInt64 AFTER hints;
ALTER TABLE candidate_windows ADD COLUMN IF NOT EXISTS concurrent_sessions UInt32 AFTER concurrent_ms;
ALTER TABLE sessions ADD COLUMN IF NOT EXISTS concurrent_ms UInt64 AFTER hints;
ALTER TABLE sessions ADD COLUMN IF NOT EXISTS concurrent_sessions UInt32 AFTER concurrent_ms
