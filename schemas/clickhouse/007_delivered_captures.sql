-- Two facts about a session's captures, each under its own name:
-- `uploaded_captures` counts capture *slots* filled (of `expected_captures`,
-- so completeness is a ratio of slots), `delivered_captures` counts capture
-- *objects* delivered to the media store. They differ when a slot gets two
-- captures (the partial audio chunk a stop uploads lands in a slot the
-- previous chunk already filled): stored and on the timeline, but no
-- second slot. Old rows read 0.
ALTER TABLE sessions ADD COLUMN IF NOT EXISTS delivered_captures UInt32 AFTER completeness_pct
