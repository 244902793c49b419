-- title: Order cycle time
-- description: How long orders placed in the window took to go out, per warehouse and
--   for the whole network (warehouse_id ALL): the orders of order_flow (an order_id
--   within one channel × warehouse_id; its lines ordered in the window with demand > 0,
--   as of the as-of date) that shipped complete by the end of the as-of date, the hours
--   from each one's earliest ordered_at to its latest shipment, and the share that went
--   out in more than one shipment. Median: the middle value, or the mean of the two
--   middle values for an even count; p90: nearest-rank, the smallest value with at least
--   90% of the values ≤ it. order_flow has the same per day and channel; percentiles do
--   not add up across its rows, so the network's are computed here.
-- grain: warehouse_id (plus ALL)
-- columns:
--   warehouse_id: warehouse fulfilling the orders, or ALL
--   orders: orders with lines ordered in the window
--   complete_orders: of those, shipped complete by the end of the as-of date
--   split_orders: complete orders whose lines went out under more than one shipment_id
--   split_shipment_rate: split_orders / complete_orders (0–1; empty when none is complete)
--   order_to_ship_hours_median: median hours from order to last shipment of the complete orders
--   order_to_ship_hours_p90: their 90th percentile (nearest-rank)
-- feeds: order_lines, shipments
-- tile: split_shipment_rate
--   position: 45
--   title: Split shipments
--   help: complete orders sent in 2+ parcels
--   unit: rate
--   better: lower
--   numerator: sum(CASE WHEN warehouse_id = 'ALL' THEN split_orders END)
--   denominator: sum(CASE WHEN warehouse_id = 'ALL' THEN complete_orders END)
--   target: 0.10
--   warn: 0.15
--   feed: shipments
-- tile: order_to_ship_p90_hours
--   position: 46
--   title: Order to ship, p90
--   help: hours from order to last parcel
--   unit: hours
--   better: lower
--   value: max(CASE WHEN warehouse_id = 'ALL' THEN order_to_ship_hours_p90 END)
--   volume: max(CASE WHEN warehouse_id = 'ALL' THEN complete_orders END)
--   target: 48
--   warn: 72
--   feed: shipments
-- The window's orders, one row each, from the shared view `order_totals` (see it).
WITH judged AS (
    SELECT warehouse_id, complete, split, hours
    FROM order_totals
),
per_group AS (
    SELECT coalesce(warehouse_id, 'ALL') AS warehouse_id,
           count(*) AS orders,
           sum(complete) AS complete_orders,
           sum(split) AS split_orders,
           array_sort(array_agg(hours) FILTER (WHERE hours IS NOT NULL), 'ASC', 'NULLS LAST') AS sorted_hours
    FROM judged
    GROUP BY GROUPING SETS ((warehouse_id), ())
)
-- With n complete orders (1-based positions, integer division): median = mean of the
-- values at (n + 1) / 2 and (n + 2) / 2; p90 = the value at ⌈0.9 n⌉ = (9 n + 9) / 10.
SELECT warehouse_id,
       orders,
       complete_orders,
       split_orders,
       CASE WHEN complete_orders = 0 THEN NULL
            ELSE CAST(split_orders AS DOUBLE) / complete_orders
       END AS split_shipment_rate,
       (sorted_hours[(complete_orders + 1) / 2] + sorted_hours[(complete_orders + 2) / 2]) / 2.0 AS order_to_ship_hours_median,
       sorted_hours[(9 * complete_orders + 9) / 10] AS order_to_ship_hours_p90
FROM per_group
ORDER BY warehouse_id = 'ALL', warehouse_id
