-- title: No line ships more than was ordered
-- description: Order lines whose shipments up to the as-of date exceed qty_ordered:
--   over-shipment, or a shipment booked against the wrong line.
-- grain: order line
-- columns: order_id, line_id, qty_ordered, qty_shipped
SELECT o.order_id, o.line_id, o.qty_ordered, sum(s.qty_shipped) AS qty_shipped
FROM order_lines_current o
JOIN shipments s ON s.order_id = o.order_id AND s.line_id = o.line_id
WHERE s.shipped_at <= $window_end
  AND s.event_date <= $partition_max
GROUP BY o.order_id, o.line_id, o.qty_ordered
HAVING sum(s.qty_shipped) > o.qty_ordered
ORDER BY o.order_id, o.line_id
