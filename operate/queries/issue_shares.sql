-- The share of participants with each issue kind per day, week or month (:period) of a window: every kind the
-- quality rules or Twilio's tags gave (low_mos, high_jitter, start_failure, ...), one row per period and kind.
WITH periods AS (
    SELECT
        CASE :period
            WHEN 'day' THEN date_trunc('day', q.quality_time)
            WHEN 'month' THEN date_trunc('month', q.quality_time)
            ELSE date_trunc('week', q.quality_time)
        END AS period_start,
        q.kinds
    FROM participant_quality AS q
    WHERE q.dt >= :from AND q.dt < :to
        AND q.quality_time >= CAST(:from AS timestamp) AND q.quality_time < CAST(:to AS timestamp)
),
totals AS (
    SELECT period_start, count(*) AS participants FROM periods GROUP BY period_start
),
kinds AS (
    SELECT p.period_start, k.kind, count(*) AS participants_with_issue
    FROM periods AS p
    CROSS JOIN UNNEST(p.kinds) AS k (kind)
    GROUP BY p.period_start, k.kind
)
SELECT
    CAST(t.period_start AS date) AS period_start,
    k.kind,
    k.participants_with_issue,
    t.participants,
    CAST(k.participants_with_issue AS double) / t.participants AS share
FROM kinds AS k
JOIN totals AS t ON t.period_start = k.period_start
ORDER BY 1, 2
