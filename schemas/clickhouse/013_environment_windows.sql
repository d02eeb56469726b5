-- Environment signals per window and session: characters pasted into the
-- page's fields (and of them into marked answers), seconds of typing far
-- above the candidate's own rate, screens plugged in during the exam,
-- milliseconds with several screens and with another tab of the test, and
-- the environment hints (bits in schemas::environment::Hint's order: 1
-- virtual_gpu, 2 software_renderer, 4 vm_screen_size, 8 small_machine,
-- 16 share_other_screen, 32 no_hover) first seen in the window, or seen
-- in the session. Old rows read 0.
ALTER TABLE candidate_windows ADD COLUMN IF NOT EXISTS paste_chars UInt64 AFTER face_references;
ALTER TABLE candidate_windows ADD COLUMN IF NOT EXISTS answer_paste_chars UInt64 AFTER paste_chars;
ALTER TABLE candidate_windows ADD COLUMN IF NOT EXISTS burst_s UInt32 AFTER answer_paste_chars;
ALTER TABLE candidate_windows ADD COLUMN IF NOT EXISTS screens_added UInt32 AFTER burst_s;
ALTER TABLE candidate_windows ADD COLUMN IF NOT EXISTS extra_screen_ms UInt64 AFTER screens_added;
ALTER TABLE candidate_windows ADD COLUMN IF NOT EXISTS other_tab_ms UInt64 AFTER extra_screen_ms;
ALTER TABLE candidate_windows ADD COLUMN IF NOT EXISTS hints UInt8 AFTER other_tab_ms;
ALTER TABLE sessions ADD COLUMN IF NOT EXISTS paste_chars UInt64 AFTER face_references;
ALTER TABLE sessions ADD COLUMN IF NOT EXISTS answer_paste_chars UInt64 AFTER paste_chars;
ALTER TABLE sessions ADD COLUMN IF NOT EXISTS burst_s UInt32 AFTER answer_paste_chars;
ALTER TABLE sessions ADD COLUMN IF NOT EXISTS screens_added UInt32 AFTER burst_s;
ALTER TABLE sessions ADD COLUMN IF NOT EXISTS extra_screen_ms UInt64 AFTER screens_added;
ALTER TABLE sessions ADD COLUMN IF NOT EXISTS other_tab_ms UInt64 AFTER extra_screen_ms;
ALTER TABLE sessions ADD COLUMN IF NOT EXISTS hints UInt8 AFTER other_tab_ms
