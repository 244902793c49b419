-- title: Open order lines (view)
-- description: The order lines not shipped in full by the end of the as-of date: the
--   rows of order_line_fulfilment with known_line, demand > 0 and units shipped below
--   demand, whatever their age. backorders and inventory_position read this view. When
--   the lake keeps the order-line state, the lines open in their final state sit in
--   partitions of their own there, so this view reads those (a few percent of the
--   lines a year of history holds) and the lines changed after the as-of date, not
--   every line the lake has seen.
-- grain: order line (order_id × line_id)
-- columns:
--   order_id: order
--   line_id: line within the order
--   known_line: always true here
--   channel: sales channel
--   warehouse_id: warehouse fulfilling the line
--   promised_ship_at: promised ship time
--   qty_ordered: units ordered
--   demand: qty_ordered − customer-cancelled qty
--   units_shipped: units shipped up to the end of the as-of date (below demand)
--   units_shipped_by_promise: of which shipped by promised_ship_at
--   last_shipped_at: the line's last shipment up to the end of the as-of date (empty when none)
--   sku: item ordered
--   ordered_at: when the order was placed
--   first_shipment_id: the smallest shipment_id shipped against the line by then (empty when none)
--   last_shipment_id: the largest shipment_id shipped against the line by then (empty when none)
--   cancelled_qty: units cancelled
--   cancel_reason: why units were cancelled
SELECT *
FROM order_line_fulfilment
WHERE known_line
  AND demand > 0
  AND units_shipped < demand
