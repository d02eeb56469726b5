-- Face checks per candidate of a test (face_check.mode = presence or
-- identity): the checks made and what they found, and the flagged runs with
-- their seconds, most flagged first. A flag is a run of consecutive checks
-- with no face, or with several, or (identity) of comparisons under
-- min_similarity, that persisted (face_check.flag_after_checks or
-- flag_after_ms), never one frame; dark frames ("too dark to tell") and
-- checks while the candidate was blocked are counted apart and never flag.
-- references > 1: the reference face was taken again (a reload).
-- Parameters: test_id.
SELECT
    candidate_id,
    sum(face_checks) AS checks,
    sum(no_face_checks) AS no_face,
    sum(several_faces_checks) AS several_faces,
    sum(dark_checks) AS too_dark,
    sum(unscored_face_checks) AS while_blocked,
    sum(face_flags) AS flags,
    round(sum(no_face_ms) / 1000, 1) AS no_face_s,
    round(sum(several_faces_ms) / 1000, 1) AS several_faces_s,
    sum(identity_checks) AS compared,
    sum(different_person_checks) AS different,
    round(sum(different_person_ms) / 1000, 1) AS different_person_s,
    sum(face_references) AS references
FROM candidate_windows FINAL
WHERE test_id = {test_id:String} AND window_kind = 'minute'
GROUP BY candidate_id
HAVING checks > 0
ORDER BY flags DESC, no_face_s + several_faces_s + different_person_s DESC, candidate_id
