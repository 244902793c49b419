-- title: Cancellations do not exceed the order
-- description: Order lines whose cancelled_qty is larger than qty_ordered.
-- grain: order line
-- columns: order_id, line_id, qty_ordered, cancelled_qty, cancel_reason
-- filter_pushdown: on
SELECT order_id, line_id, qty_ordered, cancelled_qty, cancel_reason
FROM order_lines_current
WHERE cancelled_qty > qty_ordered
ORDER BY order_id, line_id
