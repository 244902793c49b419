-- title: Order totals (view)
-- description: One row per order placed in the window: an order is an order_id within
--   one channel × warehouse_id, made of its lines (as of the as-of date) ordered in the
--   window with demand > 0, and dated by its earliest one. Whether it shipped complete
--   by the end of the as-of date (every line shipped ≥ its demand), whether it went out
--   in more than one shipment, and the hours from its earliest ordered_at to its latest
--   shipment. order_flow and order_cycle_time read this view; when both run, opintel
--   computes it once and keeps it in memory (within the memory limit), where each would
--   aggregate the window's lines by order again.
-- grain: order (order_id × channel × warehouse_id) ordered in the window
-- columns:
--   order_id: order
--   channel: sales channel of the order
--   warehouse_id: warehouse fulfilling the order
--   order_date: date of the order's earliest ordered_at (reporting time zone)
--   lines: its lines ordered in the window with demand > 0
--   stockout_lines: of those, lines with cancel_reason stockout and cancelled_qty > 0
--   complete: 1 when every one of its lines had shipped ≥ demand by the end of the as-of date, else 0
--   split: 1 when it is complete and its lines went out under more than one shipment_id, else 0
--   hours: for a complete order, hours from its earliest ordered_at to its latest shipment (empty otherwise)
-- Lines ordered in the window: ordered_at from the start of the window's first day to
-- end(D), both in the reporting time zone (the same as local_date(ordered_at) in the
-- window). An order went out in more than one shipment exactly when the smallest and
-- largest shipment_id over its lines differ: cheaper than count(DISTINCT). A complete
-- order has shipped every line (demand > 0), so it has a last shipment.
WITH per_order AS (
    SELECT order_id,
           channel,
           warehouse_id,
           min(ordered_at) AS first_ordered_at,
           count(*) AS lines,
           sum(CASE WHEN cancel_reason = 'stockout' AND cancelled_qty > 0 THEN 1 ELSE 0 END) AS stockout_lines,
           sum(CASE WHEN units_shipped >= demand THEN 0 ELSE 1 END) AS short_lines,
           max(last_shipped_at) AS last_shipped_at,
           min(first_shipment_id) AS first_shipment_id,
           max(last_shipment_id) AS last_shipment_id
    FROM order_line_fulfilment
    WHERE known_line
      AND ordered_at >= $window_start
      AND ordered_at <= $window_end
      AND demand > 0
    GROUP BY order_id, channel, warehouse_id
)
SELECT order_id,
       channel,
       warehouse_id,
       local_date(first_ordered_at) AS order_date,
       lines,
       stockout_lines,
       CASE WHEN short_lines = 0 THEN 1 ELSE 0 END AS complete,
       CASE WHEN short_lines = 0 AND first_shipment_id <> last_shipment_id THEN 1 ELSE 0 END AS split,
       CASE
           WHEN short_lines = 0
           THEN (CAST(last_shipped_at AS BIGINT) - CAST(first_ordered_at AS BIGINT)) / 3600000000.0
       END AS hours
FROM per_order
