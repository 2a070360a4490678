-- The latest version of each participant summary: the row with the highest version per participant_sid.
-- Every version of a summary lands in the same dt (the lake's contract), so the window is partitioned by dt too:
-- a query's filter on dt then applies below the window (partition pruning through the view).
SELECT *
FROM (
    SELECT
        s.*,
        row_number() OVER (PARTITION BY s.dt, s.participant_sid ORDER BY s.version DESC) AS version_rank
    FROM participant_summaries AS s
)
WHERE version_rank = 1
