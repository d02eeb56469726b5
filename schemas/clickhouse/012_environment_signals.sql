-- Environment signals: the `display`, `environment` and `other_tabs` event
-- kinds (kept whole in `payload`: their evidence is shown verbatim), where
-- a paste landed, and how fast the candidate typed. Appending enum values
-- and adding columns are metadata-only; old rows read '' and 0.
ALTER TABLE proctor_events MODIFY COLUMN type Enum8('session_started' = 0, 'session_ended' = 1, 'permission' = 2,
                          'visibility' = 3, 'focus' = 4, 'fullscreen' = 5,
                          'screen_share_ended' = 6, 'clipboard' = 7, 'context_menu' = 8,
                          'key_activity' = 9, 'capture' = 10, 'network' = 11,
                          'blocked' = 12, 'unblocked' = 13, 'sdk_error' = 14, 'custom' = 15,
                          'recording' = 16, 'face' = 17, 'display' = 18, 'environment' = 19,
                          'other_tabs' = 20);
-- clipboard: answer | text | editor | other for a paste ('' otherwise)
ALTER TABLE proctor_events ADD COLUMN IF NOT EXISTS paste_target LowCardinality(String) AFTER chars;
-- key_activity: the busiest second's keys, and the seconds far above the
-- candidate's own rate
ALTER TABLE proctor_events ADD COLUMN IF NOT EXISTS peak_keys UInt16 AFTER interval_ms;
ALTER TABLE proctor_events ADD COLUMN IF NOT EXISTS burst_s UInt16 AFTER peak_keys
