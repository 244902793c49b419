-- title: Exception aging
-- description: Exceptions still open at the end of the as-of date, by type, severity
--   and age. An exception's state is its latest event up to then (its type and
--   severity too); it opened at its earliest event. It is open unless that latest
--   status is resolved or cancelled, and breached when its age exceeds the SLA of its
--   severity (config sla_hours: critical 4, high 24, medium 72, low 168 by default).
-- grain: exception_type × severity × age_bucket (open exceptions only)
-- columns:
--   as_of: the as-of date
--   exception_type: kind of exception
--   severity: severity at the latest event
--   age_bucket: 0-1d, 1-3d, 3-7d, 7-14d, 14-30d or 30d+ (lower bound inclusive)
--   open_count: exceptions open
--   breached_count: open exceptions older than their SLA
--   oldest_age_hours: age of the oldest one, in hours
-- chart: stacked_bar x=age_bucket y=open_count series=exception_type
-- feeds: exception_events
-- tile: open_exceptions
--   position: 50
--   title: Open exceptions
--   help: open at the end of the day
--   unit: count
--   better: lower
--   value: sum(open_count)
--   feed: exception_events
-- tile: sla_breaches
--   position: 60
--   title: SLA breaches
--   help: open and older than their SLA
--   unit: count
--   better: lower
--   value: sum(breached_count)
--   volume: sum(open_count)
--   target: 0
--   feed: exception_events
WITH state AS (
    SELECT exception_id, opened_at, status, exception_type, severity
    FROM exception_state
),
open AS (
    SELECT exception_type,
           severity,
           $window_end_us - CAST(opened_at AS BIGINT) AS age_us
    FROM state
    WHERE status NOT IN ('resolved', 'cancelled')
),
bucketed AS (
    SELECT exception_type,
           severity,
           age_us / 3600000000.0 AS age_hours,
           CASE
               WHEN age_us < 24 * 3600000000 THEN 1
               WHEN age_us < 72 * 3600000000 THEN 2
               WHEN age_us < 168 * 3600000000 THEN 3
               WHEN age_us < 336 * 3600000000 THEN 4
               WHEN age_us < 720 * 3600000000 THEN 5
               ELSE 6
           END AS bucket_order,
           age_us / 3600000000.0 > CASE severity
               WHEN 'critical' THEN $sla_critical_hours
               WHEN 'high' THEN $sla_high_hours
               WHEN 'medium' THEN $sla_medium_hours
               ELSE $sla_low_hours
           END AS breached
    FROM open
)
SELECT CAST($as_of AS DATE) AS as_of,
       exception_type,
       severity,
       CASE bucket_order
           WHEN 1 THEN '0-1d'
           WHEN 2 THEN '1-3d'
           WHEN 3 THEN '3-7d'
           WHEN 4 THEN '7-14d'
           WHEN 5 THEN '14-30d'
           ELSE '30d+'
       END AS age_bucket,
       count(*) AS open_count,
       sum(CASE WHEN breached THEN 1 ELSE 0 END) AS breached_count,
       max(age_hours) AS oldest_age_hours
FROM bucketed
GROUP BY exception_type, severity, bucket_order
ORDER BY exception_type, severity, bucket_order
