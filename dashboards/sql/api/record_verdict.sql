-- A reviewer's verdict; the newest per (candidate, reviewer) counts
-- (`reviews` replaces on `version`, the time in ms). Parameters: test_id,
-- candidate_id, reviewer, verdict, comment, now_ms.
INSERT INTO reviews (test_id, candidate_id, reviewer, verdict, comment, reviewed_at, version)
VALUES (
    {test_id:String},
    {candidate_id:String},
    {reviewer:String},
    {verdict:String},
    {comment:String},
    fromUnixTimestamp64Milli(toInt64({now_ms:Int64})),
    {now_ms:Int64}
)
