-- The latest participant summaries with their worst direction's figures (the lower MOS, the higher jitter, packet
-- loss and latency of inbound and outbound), their time (join, else event, else received: the dt rule) and tags.
-- least/greatest are wrapped in coalesce: Trino answers NULL when one argument is NULL, so one direction missing
-- would hide the other.
SELECT
    q.*,
    coalesce(q.join_time, q.event_time, q.received_at) AS quality_time,
    coalesce(least(q.inbound_mos, q.outbound_mos), q.inbound_mos, q.outbound_mos) AS mos,
    coalesce(
        greatest(q.inbound_jitter_avg, q.outbound_jitter_avg), q.inbound_jitter_avg, q.outbound_jitter_avg
    ) AS jitter_avg,
    coalesce(
        greatest(q.inbound_packet_loss_percentage, q.outbound_packet_loss_percentage),
        q.inbound_packet_loss_percentage,
        q.outbound_packet_loss_percentage
    ) AS packet_loss_percentage,
    coalesce(
        greatest(q.inbound_latency_avg, q.outbound_latency_avg), q.inbound_latency_avg, q.outbound_latency_avg
    ) AS latency_avg,
    array_distinct(
        concat(
            coalesce(q.inbound_tags, CAST(ARRAY[] AS array(varchar))),
            coalesce(q.outbound_tags, CAST(ARRAY[] AS array(varchar)))
        )
    ) AS audio_tags,
    array_distinct(coalesce(q.issue_kinds, CAST(ARRAY[] AS array(varchar)))) AS kinds
FROM latest_participant_summaries AS q
