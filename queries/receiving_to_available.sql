-- title: Receiving to available
-- description: How long received units wait before they can be sold: hours from a
--   receipt line's received_at to its available_at (put away and released), per
--   warehouse, over the receipt lines that became available in the window. Lines
--   without available_at (a site that does not send it, or units still on the dock)
--   and lines whose available_at is before their received_at (a clock or data error)
--   are left out. Median: the middle value, or the mean of the two middle values for
--   an even count. p90: nearest-rank, the smallest value with at least 90% of the
--   values ≤ it.
-- grain: warehouse_id
-- columns:
--   warehouse_id: warehouse that received the units
--   receipt_lines: receipt lines whose available_at falls in the window
--   hours_median: median hours from received_at to available_at
--   hours_p90: 90th percentile (nearest-rank) of the same hours
-- feeds: receipts
-- A unit is received before it is available, so every line available by end(D) was
-- received by then: the partitions read stop at the window's last UTC date.
WITH timed AS (
    SELECT warehouse_id,
           (CAST(available_at AS BIGINT) - CAST(received_at AS BIGINT)) / 3600000000.0 AS hours
    FROM receipts
    WHERE available_at >= $window_start
      AND available_at <= $window_end
      AND available_at >= received_at
      AND event_date <= $partition_max
),
-- (Collected unordered and sorted once per group: faster than array_agg(… ORDER BY …).)
per_site AS (
    SELECT warehouse_id,
           count(*) AS n,
           array_sort(array_agg(hours), 'ASC', 'NULLS LAST') AS sorted_hours
    FROM timed
    GROUP BY warehouse_id
)
-- Positions are 1-based: median = mean of the values at (n + 1) / 2 and (n + 2) / 2
-- (integer division; the same position when n is odd); p90 = the value at
-- ⌈0.9 n⌉ = (9 n + 9) / 10.
SELECT warehouse_id,
       n AS receipt_lines,
       (sorted_hours[(n + 1) / 2] + sorted_hours[(n + 2) / 2]) / 2.0 AS hours_median,
       sorted_hours[(9 * n + 9) / 10] AS hours_p90
FROM per_site
ORDER BY warehouse_id
