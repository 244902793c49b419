-- title: Exception resolution
-- description: Exceptions resolved in the window and how long they took, by type and
--   severity. An exception's state is its latest event up to the end of the as-of date
--   (ties to the later ingested event), as in exception aging; it counts here when that
--   latest status is resolved and that event falls in the window (resolved_at), with the
--   type and severity of that event. It opened at its earliest event. Hours run from
--   opened_at to resolved_at; within SLA means hours ≤ the SLA of its severity (config
--   sla_hours: critical 4, high 24, medium 72, low 168 by default). Median: the middle
--   value, or the mean of the two middle values for an even count. p90: nearest-rank,
--   the smallest value with at least 90% of the values ≤ it.
-- grain: exception_type × severity (resolved exceptions only)
-- columns:
--   exception_type: kind of exception (at its resolution)
--   severity: severity at its resolution
--   resolved: exceptions resolved in the window and still resolved at the end of the as-of date
--   resolution_hours_median: median hours from opened_at to resolved_at
--   resolution_hours_p90: 90th percentile (nearest-rank) of the same hours
--   resolved_within_sla_rate: share resolved within the SLA of their severity (0–1)
-- feeds: exception_events
WITH state AS (
    SELECT exception_id, opened_at, latest_at AS resolved_at, status, exception_type, severity
    FROM exception_state
),
resolved AS (
    SELECT exception_type,
           severity,
           (CAST(resolved_at AS BIGINT) - CAST(opened_at AS BIGINT)) / 3600000000.0 AS hours
    FROM state
    WHERE status = 'resolved'
      AND resolved_at >= $window_start
),
judged AS (
    SELECT exception_type,
           severity,
           hours,
           CASE
               WHEN hours <= CASE severity
                   WHEN 'critical' THEN $sla_critical_hours
                   WHEN 'high' THEN $sla_high_hours
                   WHEN 'medium' THEN $sla_medium_hours
                   ELSE $sla_low_hours
               END
               THEN 1 ELSE 0
           END AS within_sla
    FROM resolved
),
-- The hours, sorted, per group: the median and the nearest-rank p90 are read from it by
-- position (one accumulator for both).
-- (Collected unordered and sorted once per group: faster than array_agg(… ORDER BY …).)
per_group AS (
    SELECT exception_type,
           severity,
           count(*) AS resolved,
           sum(within_sla) AS within_sla,
           array_sort(array_agg(hours), 'ASC', 'NULLS LAST') AS sorted_hours
    FROM judged
    GROUP BY exception_type, severity
)
-- With n resolved (1-based positions, integer division): median = mean of the values at
-- (n + 1) / 2 and (n + 2) / 2 (the same position when n is odd); p90 = the value at
-- ⌈0.9 n⌉ = (9 n + 9) / 10, the smallest with at least 90% of the values ≤ it.
SELECT exception_type,
       severity,
       resolved,
       (sorted_hours[(resolved + 1) / 2] + sorted_hours[(resolved + 2) / 2]) / 2.0 AS resolution_hours_median,
       sorted_hours[(9 * resolved + 9) / 10] AS resolution_hours_p90,
       CAST(within_sla AS DOUBLE) / resolved AS resolved_within_sla_rate
FROM per_group
ORDER BY exception_type, severity
