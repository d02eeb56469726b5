-- Environment signals per candidate of a test: characters pasted into the
-- page's fields (and of them into answers the host marked), seconds of
-- typing far above the candidate's own rate, screens plugged in during the
-- exam, seconds with several screens, with a second tab of the test open
-- (as the SDK saw it) and with another session of the candidate running at
-- the same time (as the pipeline found it: another tab, browser or
-- device), and the environment hints seen, by name, beside the graphics
-- renderer the browser named. A hint is evidence, never a verdict: the
-- README's "How a score is made" says who else each one fits. The names
-- are the bits of the `hints` column in schemas::environment::Hint's order.
-- Parameters: test_id.
SELECT
    w.candidate_id AS candidate_id,
    w.pasted AS pasted,
    w.pasted_into_answers AS pasted_into_answers,
    w.burst_s AS burst_s,
    w.screens_added AS screens_added,
    round(w.extra_screen_ms / 1000, 1) AS several_screens_s,
    round(w.other_tab_ms / 1000, 1) AS other_tab_s,
    round(w.concurrent_ms / 1000, 1) AS concurrent_s,
    arrayFilter(
        (name, bit) -> bitTest(w.hints, bit),
        ['virtual_gpu', 'software_renderer', 'vm_screen_size', 'small_machine', 'share_other_screen', 'no_hover'],
        [0, 1, 2, 3, 4, 5]
    ) AS hints,
    e.renderer AS renderer
FROM
(
    SELECT
        candidate_id,
        sum(paste_chars) AS pasted,
        sum(answer_paste_chars) AS pasted_into_answers,
        sum(burst_s) AS burst_s,
        sum(screens_added) AS screens_added,
        sum(extra_screen_ms) AS extra_screen_ms,
        sum(other_tab_ms) AS other_tab_ms,
        sum(concurrent_ms) AS concurrent_ms,
        groupBitOr(hints) AS hints
    FROM candidate_windows FINAL
    WHERE test_id = {test_id:String} AND window_kind = 'minute'
    GROUP BY candidate_id
) AS w
LEFT JOIN
(
    SELECT candidate_id, argMax(JSONExtractString(payload, 'renderer'), ts) AS renderer
    FROM proctor_events FINAL
    WHERE test_id = {test_id:String} AND type = 'environment'
    GROUP BY candidate_id
) AS e ON e.candidate_id = w.candidate_id
WHERE w.pasted + w.burst_s + w.screens_added + w.extra_screen_ms + w.other_tab_ms + w.concurrent_ms + w.hints > 0
ORDER BY w.concurrent_ms DESC, w.screens_added + w.burst_s DESC, w.pasted_into_answers DESC, w.candidate_id
