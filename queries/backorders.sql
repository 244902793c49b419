-- title: Backorders
-- description: Order lines past their promise and still not shipped in full at the end
--   of the as-of date, by warehouse, channel and how late they are: a snapshot, not
--   limited to the window. A line counts when its latest version as of the as-of date
--   has demand > 0 (qty_ordered less customer cancellations, as in fill rate; a line
--   cancelled for a stockout keeps its demand), promised_ship_at up to the end of the
--   as-of date, and fewer units shipped by then than its demand. Days late run from
--   promised_ship_at to the end of the as-of date.
-- grain: warehouse_id × channel × days_late_bucket
-- columns:
--   as_of: the as-of date
--   warehouse_id: warehouse fulfilling the lines
--   channel: sales channel of the lines
--   days_late_bucket: 0-1d, 1-3d, 3-7d, 7-14d or 14d+ (lower bound inclusive)
--   lines: lines open past their promise
--   units_open: Σ (demand − units shipped) of those lines
--   oldest_days_late: days late of the line furthest past its promise
-- feeds: order_lines, shipments
-- The lines not shipped in full by end(D), with what had shipped by then
-- (open_order_lines: queries/views/open_order_lines.sql).
WITH open_lines AS (
    SELECT warehouse_id,
           channel,
           demand - units_shipped AS units_open,
           $window_end_us - CAST(promised_ship_at AS BIGINT) AS late_us
    FROM open_order_lines
    WHERE promised_ship_at <= $window_end
),
bucketed AS (
    SELECT warehouse_id,
           channel,
           units_open,
           late_us / 86400000000.0 AS days_late,
           CASE
               WHEN late_us < 86400000000 THEN 1
               WHEN late_us < 3 * 86400000000 THEN 2
               WHEN late_us < 7 * 86400000000 THEN 3
               WHEN late_us < 14 * 86400000000 THEN 4
               ELSE 5
           END AS bucket_order
    FROM open_lines
)
SELECT CAST($as_of AS DATE) AS as_of,
       warehouse_id,
       channel,
       CASE bucket_order
           WHEN 1 THEN '0-1d'
           WHEN 2 THEN '1-3d'
           WHEN 3 THEN '3-7d'
           WHEN 4 THEN '7-14d'
           ELSE '14d+'
       END AS days_late_bucket,
       count(*) AS lines,
       sum(units_open) AS units_open,
       max(days_late) AS oldest_days_late
FROM bucketed
GROUP BY warehouse_id, channel, bucket_order
ORDER BY warehouse_id, channel, bucket_order
