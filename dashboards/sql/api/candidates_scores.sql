-- The review list, part 2: each candidate's score (the sum of their
-- sessions' scores). Parameters: test_id.
SELECT candidate_id, sum(score) AS score
FROM candidate_windows FINAL
WHERE test_id = {test_id:String} AND window_kind = 'session'
GROUP BY candidate_id
SETTINGS output_format_json_quote_64bit_integers = 0
