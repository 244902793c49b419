-- title: Shipments match an order line
-- description: Shipments up to the as-of date whose (order_id, line_id) has no order
--   line at all: their units count in no fill rate. Usually an order-line export that
--   did not arrive, or ids written differently by two systems.
-- grain: shipment event
-- columns: event_id, order_id, line_id, sku, warehouse_id, shipped_at, _source_file
SELECT s.event_id, s.order_id, s.line_id, s.sku, s.warehouse_id, s.shipped_at, s._source_file
FROM shipments s
-- A line is known as of D when any version of it is; order_line_fulfilment (kept in
-- memory by the run for the KPIs) already has the shipped pairs that are not.
JOIN (SELECT order_id, line_id FROM order_line_fulfilment WHERE NOT known_line) u
  ON u.order_id = s.order_id AND u.line_id = s.line_id
WHERE s.shipped_at <= $window_end
  AND s.event_date <= $partition_max
ORDER BY s.shipped_at, s.event_id
