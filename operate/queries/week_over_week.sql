-- Week over week, broken down by :by (as kpis): each week's participants, share with issues, MOS p50 and p95,
-- packet loss p95, and their change from the week before (empty when that week has no participants in the window:
-- start the window a week earlier to compare its first week). Weeks start on Monday (UTC).
WITH weekly AS (
    SELECT
        date_trunc('week', q.quality_time) AS week_start,
        b.breakdown,
        count(*) AS participants,
        CAST(count_if(cardinality(q.kinds) > 0) AS double) / count(*) AS share_any_issue,
        approx_percentile(q.mos, 0.5) AS mos_p50,
        approx_percentile(q.mos, 0.95) AS mos_p95,
        approx_percentile(q.packet_loss_percentage, 0.95) AS packet_loss_p95
    FROM participant_quality AS q
    CROSS JOIN UNNEST(
        CASE :by
            WHEN 'tag' THEN (CASE WHEN cardinality(q.audio_tags) > 0 THEN q.audio_tags ELSE ARRAY['(none)'] END)
            WHEN 'region' THEN ARRAY[coalesce(q.participant_region, '(none)')]
            WHEN 'country' THEN ARRAY[coalesce(q.country_code, '(none)')]
            WHEN 'call_type' THEN ARRAY[coalesce(q.call_type, '(none)')]
            WHEN 'direction' THEN ARRAY[coalesce(q.call_direction, '(none)')]
            ELSE ARRAY['all']
        END
    ) AS b (breakdown)
    WHERE q.dt >= :from AND q.dt < :to
        AND q.quality_time >= CAST(:from AS timestamp) AND q.quality_time < CAST(:to AS timestamp)
    GROUP BY 1, 2
)
SELECT
    CAST(w.week_start AS date) AS week_start,
    w.breakdown,
    w.participants,
    w.participants - p.participants AS participants_change,
    w.share_any_issue,
    w.share_any_issue - p.share_any_issue AS share_any_issue_change,
    w.mos_p50,
    w.mos_p50 - p.mos_p50 AS mos_p50_change,
    w.mos_p95,
    w.mos_p95 - p.mos_p95 AS mos_p95_change,
    w.packet_loss_p95,
    w.packet_loss_p95 - p.packet_loss_p95 AS packet_loss_p95_change
FROM weekly AS w
LEFT JOIN weekly AS p ON p.breakdown = w.breakdown AND p.week_start = w.week_start - INTERVAL '7' DAY
ORDER BY 1, 2
