-- Conferences of a window that never completed: the latest summary's status is not "completed" (in_progress,
-- not_started, summary_timeout, or none), oldest first, with what Twilio said of them.
SELECT
    c.conference_sid,
    coalesce(c.start_time, c.create_time, c.event_time, c.received_at) AS start_time,
    c.status,
    c.processing_state,
    c.end_reason,
    c.mixer_region,
    c.unique_participants,
    array_join(coalesce(c.tags, CAST(ARRAY[] AS array(varchar))), ',') AS tags,
    c.version
FROM latest_conference_summaries AS c
WHERE c.dt >= :from AND c.dt < :to
    AND coalesce(c.start_time, c.create_time, c.event_time, c.received_at) >= CAST(:from AS timestamp)
    AND coalesce(c.start_time, c.create_time, c.event_time, c.received_at) < CAST(:to AS timestamp)
    AND coalesce(c.status, '') <> 'completed'
ORDER BY 2, 1
