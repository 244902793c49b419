-- title: Promises come after orders
-- description: Order lines (latest version as of the as-of date) promised to ship
--   before they were ordered: such lines are due before they exist and distort fill
--   rate and OTIF.
-- grain: order line
-- columns: order_id, line_id, ordered_at, promised_ship_at
-- filter_pushdown: on
SELECT order_id, line_id, ordered_at, promised_ship_at
FROM order_lines_current
WHERE promised_ship_at < ordered_at
ORDER BY order_id, line_id
