-- title: Order-line fulfilment (view)
-- description: Every order line (its latest version as of the as-of date) with what had
--   shipped against it by the end of the as-of date, and by its promise; and every
--   (order_id, line_id) shipped by then that has no order line (known_line false, the
--   line's columns empty). Demand is qty_ordered less customer cancellations. The
--   fill-rate and timeliness KPIs and the over-shipment and unknown-line checks read
--   this view; when several queries of a run read it, opintel computes it once and
--   keeps it in memory (within the memory limit), where a plain view would be
--   recomputed by each of them.
-- grain: order line (order_id × line_id)
-- columns:
--   order_id: order
--   line_id: line within the order
--   known_line: false when shipments name this line but no version of it is known
--   channel: sales channel
--   warehouse_id: warehouse fulfilling the line
--   promised_ship_at: promised ship time
--   qty_ordered: units ordered
--   demand: qty_ordered − customer-cancelled qty
--   units_shipped: units shipped up to the end of the as-of date (0 when none)
--   units_shipped_by_promise: of which shipped by promised_ship_at
--   last_shipped_at: the line's last shipment up to the end of the as-of date (empty when none)
--   sku: item ordered
--   ordered_at: when the order was placed
--   first_shipment_id: the smallest shipment_id shipped against the line by then (empty when none)
--   last_shipment_id: the largest shipment_id shipped against the line by then (empty when none)
--   cancelled_qty: units cancelled
--   cancel_reason: why units were cancelled
-- The line's own columns are the same on all its shipment rows: grouping by them
-- carries them through (measured faster here than max() over them).
SELECT coalesce(l.order_id, s.order_id) AS order_id,
       coalesce(l.line_id, s.line_id) AS line_id,
       bool_or(l.order_id IS NOT NULL) AS known_line,
       l.channel,
       l.warehouse_id,
       l.promised_ship_at,
       l.qty_ordered,
       l.demand,
       coalesce(sum(s.qty_shipped), 0) AS units_shipped,
       coalesce(sum(CASE WHEN s.shipped_at <= l.promised_ship_at THEN s.qty_shipped ELSE 0 END), 0) AS units_shipped_by_promise,
       max(s.shipped_at) AS last_shipped_at,
       l.sku,
       l.ordered_at,
       min(s.shipment_id) AS first_shipment_id,
       max(s.shipment_id) AS last_shipment_id,
       l.cancelled_qty,
       l.cancel_reason
FROM (
    SELECT order_id, line_id, sku, ordered_at, cancelled_qty, cancel_reason, channel, warehouse_id, promised_ship_at, qty_ordered,
           qty_ordered - CASE WHEN cancel_reason = 'customer' THEN coalesce(cancelled_qty, 0) ELSE 0 END AS demand
    FROM order_lines_current
) l
-- known_line is an aggregate, not a group key: a key is either a known line or an
-- unknown pair, never both, and when a query keeps only known lines the optimizer
-- turns the full join into a left join, where `l.order_id IS NOT NULL` is the
-- constant true. A constant group key makes DataFusion aggregate in "partially
-- sorted" mode, which emits its groups in pieces at a cost that grows with the square
-- of the groups: fill_rate's window took 6 s at 8.6 M rows and 135 s at 35 M.
-- A full join: the shipments are filtered before it, not in its ON clause (there,
-- a shipment after end(D) would still come out unmatched).
FULL JOIN (
    SELECT order_id, line_id, shipment_id, qty_shipped, shipped_at
    FROM shipments
    WHERE shipped_at <= $window_end
      AND event_date <= $partition_max
) s
  ON s.order_id = l.order_id
 AND s.line_id = l.line_id
GROUP BY coalesce(l.order_id, s.order_id), coalesce(l.line_id, s.line_id),
         l.channel, l.warehouse_id, l.promised_ship_at, l.qty_ordered, l.demand,
         l.sku, l.ordered_at, l.cancelled_qty, l.cancel_reason
