-- title: No line ships more than was ordered
-- description: Order lines whose shipments up to the as-of date exceed qty_ordered:
--   over-shipment, or a shipment booked against the wrong line.
-- grain: order line
-- columns: order_id, line_id, qty_ordered, qty_shipped
-- filter_pushdown: on
SELECT order_id, line_id, qty_ordered, units_shipped AS qty_shipped
FROM order_line_fulfilment
WHERE units_shipped > qty_ordered
ORDER BY order_id, line_id
