-- title: Shipment timeliness
-- description: Whether order lines due in the window left on time. A line is shipped
--   when its shipments up to the end of the as-of date cover its demand (qty_ordered
--   less customer cancellations); it shipped on time when the units shipped by
--   promised_ship_at cover the demand. Lines still short at the end of the as-of date
--   are open; hours late run from the promise to the line's last shipment.
-- grain: warehouse_id × channel
-- columns:
--   warehouse_id: warehouse fulfilling the lines
--   channel: sales channel
--   lines_due: lines due in the window with demand > 0
--   lines_shipped: lines shipped in full by the end of the as-of date
--   on_time_lines: lines shipped in full by their promise
--   late_lines: lines shipped in full after their promise
--   open_lines: lines not yet shipped in full
--   on_time_rate: on_time_lines / lines_shipped (0–1; empty when nothing shipped)
--   avg_hours_late: mean hours late of the late lines
--   p90_hours_late: 90th percentile of hours late of the late lines, interpolated linearly between the two closest ranks
-- One row per due line (order_line_fulfilment: queries/views/order_line_fulfilment.sql).
WITH per_line AS (
    SELECT warehouse_id,
           channel,
           promised_ship_at,
           demand,
           units_shipped AS shipped,
           units_shipped_by_promise AS shipped_on_time,
           last_shipped_at
    FROM order_line_fulfilment
    WHERE promised_ship_at >= $window_start
      AND promised_ship_at <= $window_end
      AND demand > 0
),
judged AS (
    SELECT warehouse_id,
           channel,
           shipped >= demand AS full,
           shipped_on_time >= demand AS on_time,
           CASE
               WHEN shipped >= demand AND shipped_on_time < demand
               THEN (CAST(last_shipped_at AS BIGINT) - CAST(promised_ship_at AS BIGINT)) / 3600000000.0
           END AS hours_late
    FROM per_line
),
grouped AS (
    SELECT warehouse_id,
           channel,
           count(*) AS lines_due,
           sum(CASE WHEN full THEN 1 ELSE 0 END) AS lines_shipped,
           sum(CASE WHEN on_time THEN 1 ELSE 0 END) AS on_time_lines,
           sum(CASE WHEN full AND NOT on_time THEN 1 ELSE 0 END) AS late_lines,
           sum(CASE WHEN full THEN 0 ELSE 1 END) AS open_lines,
           avg(hours_late) AS avg_hours_late,
           count(hours_late) AS n,
           array_sort(array_agg(hours_late) FILTER (WHERE hours_late IS NOT NULL), 'ASC', 'NULLS LAST') AS sorted_hours
    FROM judged
    GROUP BY warehouse_id, channel
)
SELECT warehouse_id,
       channel,
       lines_due,
       lines_shipped,
       on_time_lines,
       late_lines,
       open_lines,
       CASE WHEN lines_shipped = 0 THEN NULL
            ELSE CAST(on_time_lines AS DOUBLE) / lines_shipped
       END AS on_time_rate,
       avg_hours_late,
       -- Linear interpolation between the 1-based positions 1 + ⌊0.9(n − 1)⌋ and the
       -- next of the n sorted hours, its fraction in whole numbers (DataFusion 55's
       -- percentile_cont truncates it to six decimals: DataFusion issue 25266).
       CASE WHEN n > 0 THEN
           sorted_hours[1 + 9 * (n - 1) / 10]
             + (sorted_hours[least(n, 2 + 9 * (n - 1) / 10)] - sorted_hours[1 + 9 * (n - 1) / 10])
               * (((9 * (n - 1)) % 10) / 10.0)
       END AS p90_hours_late
FROM grouped
ORDER BY warehouse_id, channel
