-- title: Fill rate
-- description: How much of the demand due in the window was shipped: units, lines,
--   whole orders, and lines shipped in full by their promise (OTIF). A line is due on
--   the date of its promised_ship_at; demand is qty_ordered less customer
--   cancellations (lines with no demand left are left out); only shipments up to the
--   end of the as-of date count, so a re-run for an old date gives the same answer.
-- grain: due_date × channel × warehouse_id
-- columns:
--   due_date: date the lines were due to ship (reporting time zone)
--   channel: sales channel of the lines
--   warehouse_id: warehouse fulfilling the lines
--   lines: order lines due, with demand > 0
--   orders: distinct orders among those lines
--   units_demanded: Σ demand = qty_ordered − customer-cancelled qty
--   units_filled: Σ min(units shipped, demand)
--   unit_fill_rate: units_filled / units_demanded (0–1)
--   line_fill_rate: share of lines shipped in full (0–1)
--   order_fill_rate: share of orders whose every line here shipped in full (0–1)
--   otif_rate: share of lines shipped in full by their promised_ship_at (0–1)
-- chart: line x=due_date y=unit_fill_rate series=channel
-- feeds: order_lines, shipments
-- trend: due_date
-- tile: unit_fill_rate
--   position: 10
--   title: Unit fill rate
--   help: units shipped of units due
--   unit: rate
--   better: higher
--   numerator: sum(units_filled)
--   denominator: sum(units_demanded)
--   target: 0.98
--   warn: 0.94
--   feed: order_lines
-- tile: line_fill_rate
--   position: 20
--   title: Line fill rate
--   help: lines shipped in full
--   unit: rate
--   better: higher
--   numerator: sum(line_fill_rate * lines)
--   denominator: sum(lines)
--   target: 0.97
--   warn: 0.92
--   feed: order_lines
-- tile: order_fill_rate
--   position: 30
--   title: Order fill rate
--   help: orders shipped complete
--   unit: rate
--   better: higher
--   numerator: sum(order_fill_rate * orders)
--   denominator: sum(orders)
--   target: 0.95
--   warn: 0.9
--   feed: order_lines
-- tile: otif_rate
--   position: 40
--   title: OTIF
--   help: lines in full by their promise
--   unit: rate
--   better: higher
--   numerator: sum(otif_rate * lines)
--   denominator: sum(lines)
--   target: 0.95
--   warn: 0.88
--   feed: order_lines
-- One row per due line with what had shipped by end(D), and by its promise
-- (order_line_fulfilment: queries/views/order_line_fulfilment.sql).
WITH per_line AS (
    SELECT local_date(promised_ship_at) AS due_date,
           channel,
           warehouse_id,
           order_id,
           line_id,
           demand,
           units_shipped AS shipped,
           units_shipped_by_promise AS shipped_on_time
    FROM order_line_fulfilment
    WHERE promised_ship_at >= $window_start
      AND promised_ship_at <= $window_end
      AND demand > 0
),
-- Each order's lines within a due_date × channel × warehouse_id group.
per_order AS (
    SELECT due_date,
           channel,
           warehouse_id,
           order_id,
           count(*) AS lines,
           sum(CASE WHEN shipped >= demand THEN 1 ELSE 0 END) AS full_lines,
           sum(CASE WHEN shipped_on_time >= demand THEN 1 ELSE 0 END) AS otif_lines,
           sum(demand) AS demand,
           sum(CASE WHEN shipped < demand THEN shipped ELSE demand END) AS filled
    FROM per_line
    GROUP BY due_date, channel, warehouse_id, order_id
)
SELECT due_date,
       channel,
       warehouse_id,
       sum(lines) AS lines,
       count(*) AS orders,
       sum(demand) AS units_demanded,
       sum(filled) AS units_filled,
       sum(filled) / sum(demand) AS unit_fill_rate,
       CAST(sum(full_lines) AS DOUBLE) / sum(lines) AS line_fill_rate,
       avg(CASE WHEN full_lines = lines THEN 1.0 ELSE 0.0 END) AS order_fill_rate,
       CAST(sum(otif_lines) AS DOUBLE) / sum(lines) AS otif_rate
FROM per_order
GROUP BY due_date, channel, warehouse_id
ORDER BY due_date, channel, warehouse_id
