-- title: Orders by day and channel
-- description: The points of the report's order-flow chart: orders placed each day per
--   channel over every warehouse, how many shipped complete and the share of those that
--   went out in more than one shipment, from this run's order_flow table.
-- grain: order_date × channel
-- columns:
--   order_date: date of the orders (reporting time zone)
--   channel: sales channel
--   orders: Σ orders of order_flow
--   complete_orders: Σ complete_orders
--   split_shipment_rate: Σ (split_shipment_rate × complete_orders) / Σ complete_orders (0–1; empty when none is complete)
-- feeds: order_lines, shipments
SELECT order_date,
       channel,
       sum(orders) AS orders,
       sum(complete_orders) AS complete_orders,
       sum(split_shipment_rate * complete_orders) / NULLIF(CAST(sum(complete_orders) AS DOUBLE), 0) AS split_shipment_rate
FROM kpi.order_flow
GROUP BY order_date, channel
ORDER BY order_date, channel
