-- The latest version of each conference summary: the row with the highest version per conference_sid (partitioned
-- by dt too, as latest_participant_summaries, so that a filter on dt prunes partitions through the view).
SELECT *
FROM (
    SELECT
        s.*,
        row_number() OVER (PARTITION BY s.dt, s.conference_sid ORDER BY s.version DESC) AS version_rank
    FROM conference_summaries AS s
)
WHERE version_rank = 1
