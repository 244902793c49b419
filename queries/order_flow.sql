-- title: Order flow
-- description: Orders placed in the window and how they went out: how many shipped
--   complete, how many of those left in more than one shipment, how long they took from
--   order to last shipment, and how many lines were cancelled for a stockout. Order
--   lines are taken as of the as-of date (their latest version), those ordered in the
--   window with demand > 0 (qty_ordered less customer cancellations, as in fill rate). A
--   line's shipments are those of its (order_id, line_id) up to the end of the as-of
--   date. An order is an order_id within one channel × warehouse_id, made of those lines
--   and counted on the date of its earliest one; it is complete when every one of its
--   lines has shipped its demand. Median: the middle value, or the mean of the two
--   middle values for an even count. p90: nearest-rank, the smallest value with at least
--   90% of the values ≤ it.
-- grain: order_date × channel × warehouse_id
-- columns:
--   order_date: date of the order's earliest ordered_at (reporting time zone)
--   channel: sales channel of the order
--   warehouse_id: warehouse fulfilling the order
--   orders: orders (order_id within channel × warehouse_id) with lines ordered in the window
--   lines: their lines ordered in the window with demand > 0
--   complete_orders: orders whose every line had shipped ≥ demand by the end of the as-of date
--   split_shipment_rate: share of complete orders whose lines went out under more than one shipment_id (0–1; empty when no order is complete)
--   order_to_ship_hours_median: median hours from a complete order's earliest ordered_at to its latest shipment (empty when no order is complete)
--   order_to_ship_hours_p90: 90th percentile (nearest-rank) of the same hours
--   stockout_cancel_rate: share of lines with cancel_reason stockout and cancelled_qty > 0 (0–1)
-- feeds: order_lines, shipments
-- The window's orders, one row each, from the shared view `order_totals` (its lines
-- ordered in the window with demand > 0 from the per-line view: completeness, split,
-- hours; see that view).
WITH judged AS (
    SELECT order_date, channel, warehouse_id, lines, stockout_lines, complete, split, hours
    FROM order_totals
),
-- The complete orders' hours, sorted, per group: the median and the nearest-rank p90 are
-- read from it by position (one accumulator for both).
-- (Collected unordered and sorted once per group: faster than array_agg(… ORDER BY …).)
per_group AS (
    SELECT order_date,
           channel,
           warehouse_id,
           count(*) AS orders,
           sum(lines) AS lines,
           sum(complete) AS complete_orders,
           sum(split) AS split_orders,
           sum(stockout_lines) AS stockout_lines,
           array_sort(array_agg(hours) FILTER (WHERE hours IS NOT NULL), 'ASC', 'NULLS LAST') AS sorted_hours
    FROM judged
    GROUP BY order_date, channel, warehouse_id
)
-- With n complete orders (1-based positions, integer division): median = mean of the
-- values at (n + 1) / 2 and (n + 2) / 2 (the same position when n is odd); p90 = the
-- value at ⌈0.9 n⌉ = (9 n + 9) / 10, the smallest with at least 90% of the values ≤ it.
SELECT order_date,
       channel,
       warehouse_id,
       orders,
       lines,
       complete_orders,
       CASE WHEN complete_orders = 0 THEN NULL
            ELSE CAST(split_orders AS DOUBLE) / complete_orders
       END AS split_shipment_rate,
       (sorted_hours[(complete_orders + 1) / 2] + sorted_hours[(complete_orders + 2) / 2]) / 2.0 AS order_to_ship_hours_median,
       sorted_hours[(9 * complete_orders + 9) / 10] AS order_to_ship_hours_p90,
       CAST(stockout_lines AS DOUBLE) / lines AS stockout_cancel_rate
FROM per_group
ORDER BY order_date, channel, warehouse_id
