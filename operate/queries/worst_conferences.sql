-- The :top worst conferences of a window: the most participants with issues first, then the lowest MOS of any
-- participant; conferences with an issue of their own (e.g. start_failure) or a participant with one.
WITH participants AS (
    SELECT
        q.conference_sid,
        count(*) AS participants,
        count_if(cardinality(q.kinds) > 0) AS participants_with_issues,
        min(q.mos) AS worst_mos,
        max(q.packet_loss_percentage) AS worst_packet_loss
    FROM participant_quality AS q
    WHERE q.dt >= :from AND q.dt < :to
        AND q.quality_time >= CAST(:from AS timestamp) AND q.quality_time < CAST(:to AS timestamp)
    GROUP BY q.conference_sid
),
conferences AS (
    SELECT c.*, coalesce(c.start_time, c.create_time, c.event_time, c.received_at) AS conference_time
    FROM latest_conference_summaries AS c
    WHERE c.dt >= :from AND c.dt < :to
),
ranked AS (
    SELECT
        c.conference_sid,
        c.conference_time,
        c.mixer_region,
        c.status,
        c.issue_kinds,
        c.tags,
        coalesce(p.participants, 0) AS participants,
        coalesce(p.participants_with_issues, 0) AS participants_with_issues,
        p.worst_mos,
        p.worst_packet_loss,
        row_number() OVER (
            ORDER BY coalesce(p.participants_with_issues, 0) DESC, p.worst_mos ASC NULLS LAST, c.conference_sid
        ) AS worst_rank
    FROM conferences AS c
    LEFT JOIN participants AS p ON p.conference_sid = c.conference_sid
    WHERE c.conference_time >= CAST(:from AS timestamp) AND c.conference_time < CAST(:to AS timestamp)
        AND (coalesce(p.participants_with_issues, 0) > 0 OR cardinality(c.issue_kinds) > 0)
)
SELECT
    worst_rank,
    conference_sid,
    conference_time AS start_time,
    mixer_region,
    status,
    participants,
    participants_with_issues,
    worst_mos,
    worst_packet_loss,
    array_join(array_sort(coalesce(issue_kinds, CAST(ARRAY[] AS array(varchar)))), ',') AS issue_kinds,
    array_join(coalesce(tags, CAST(ARRAY[] AS array(varchar))), ',') AS tags
FROM ranked
WHERE worst_rank <= :top
ORDER BY worst_rank
