-- The :top worst participants of a window with issues: lowest MOS first (the worst direction), then the highest
-- packet loss; with their conference, call, region, country, call type, figures and issue kinds.
WITH ranked AS (
    SELECT
        q.*,
        row_number() OVER (
            ORDER BY q.mos ASC NULLS LAST, q.packet_loss_percentage DESC NULLS LAST, q.participant_sid
        ) AS worst_rank
    FROM participant_quality AS q
    WHERE q.dt >= :from AND q.dt < :to
        AND q.quality_time >= CAST(:from AS timestamp) AND q.quality_time < CAST(:to AS timestamp)
        AND cardinality(q.kinds) > 0
)
SELECT
    worst_rank,
    participant_sid,
    conference_sid,
    call_sid,
    quality_time AS join_time,
    participant_region AS region,
    country_code,
    call_type,
    call_direction,
    mos,
    packet_loss_percentage,
    jitter_avg,
    latency_avg,
    issue_severity,
    array_join(array_sort(kinds), ',') AS issue_kinds
FROM ranked
WHERE worst_rank <= :top
ORDER BY worst_rank
