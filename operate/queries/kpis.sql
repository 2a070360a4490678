-- Quality KPIs per day, week or month (:period) for a window, broken down by :by (all, region, country, call_type,
-- direction or tag): participants and conferences, the share of participants with each issue, p50/p95/p99 of MOS,
-- jitter, packet loss and latency (the worst direction; p05 of MOS too: for MOS the low tail is the bad one).
-- By tag, a participant counts once under each of its audio tags ("(none)" without tags).
WITH periods AS (
    SELECT
        CASE :period
            WHEN 'day' THEN date_trunc('day', q.quality_time)
            WHEN 'month' THEN date_trunc('month', q.quality_time)
            ELSE date_trunc('week', q.quality_time)
        END AS period_start,
        b.breakdown,
        q.conference_sid,
        q.kinds,
        q.mos,
        q.jitter_avg,
        q.packet_loss_percentage,
        q.latency_avg
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
)
SELECT
    CAST(period_start AS date) AS period_start,
    breakdown,
    count(*) AS participants,
    count(DISTINCT conference_sid) AS conferences,
    count_if(cardinality(kinds) > 0) AS participants_with_issues,
    CAST(count_if(cardinality(kinds) > 0) AS double) / count(*) AS share_any_issue,
    CAST(count_if(contains(kinds, 'low_mos')) AS double) / count(*) AS share_low_mos,
    CAST(count_if(contains(kinds, 'high_jitter')) AS double) / count(*) AS share_high_jitter,
    CAST(count_if(contains(kinds, 'high_packet_loss')) AS double) / count(*) AS share_high_packet_loss,
    CAST(count_if(contains(kinds, 'high_latency')) AS double) / count(*) AS share_high_latency,
    approx_percentile(mos, 0.05) AS mos_p05,
    approx_percentile(mos, 0.5) AS mos_p50,
    approx_percentile(mos, 0.95) AS mos_p95,
    approx_percentile(mos, 0.99) AS mos_p99,
    approx_percentile(jitter_avg, 0.5) AS jitter_avg_p50,
    approx_percentile(jitter_avg, 0.95) AS jitter_avg_p95,
    approx_percentile(jitter_avg, 0.99) AS jitter_avg_p99,
    approx_percentile(packet_loss_percentage, 0.5) AS packet_loss_p50,
    approx_percentile(packet_loss_percentage, 0.95) AS packet_loss_p95,
    approx_percentile(packet_loss_percentage, 0.99) AS packet_loss_p99,
    approx_percentile(latency_avg, 0.5) AS latency_avg_p50,
    approx_percentile(latency_avg, 0.95) AS latency_avg_p95,
    approx_percentile(latency_avg, 0.99) AS latency_avg_p99
FROM periods
GROUP BY 1, 2
ORDER BY 1, 2
