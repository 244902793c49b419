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
WITH due AS (
    SELECT order_id,
           line_id,
           channel,
           warehouse_id,
           promised_ship_at,
           local_date(promised_ship_at) AS due_date,
           qty_ordered - CASE WHEN cancel_reason = 'customer' THEN coalesce(cancelled_qty, 0) ELSE 0 END AS demand
    FROM order_lines_current
    WHERE promised_ship_at >= $window_start
      AND promised_ship_at <= $window_end
),
lines AS (
    SELECT * FROM due WHERE demand > 0
),
shipped AS (
    SELECT s.order_id,
           s.line_id,
           sum(s.qty_shipped) AS shipped,
           sum(CASE WHEN s.shipped_at <= l.promised_ship_at THEN s.qty_shipped ELSE 0 END) AS shipped_on_time
    FROM shipments s
    JOIN lines l ON s.order_id = l.order_id AND s.line_id = l.line_id
    WHERE s.shipped_at <= $window_end
      AND s.event_date <= $partition_max
    GROUP BY s.order_id, s.line_id
),
per_line AS (
    SELECT l.due_date,
           l.channel,
           l.warehouse_id,
           l.order_id,
           l.demand,
           coalesce(sh.shipped, 0) AS shipped,
           coalesce(sh.shipped_on_time, 0) AS shipped_on_time
    FROM lines l
    LEFT JOIN shipped sh ON sh.order_id = l.order_id AND sh.line_id = l.line_id
),
by_line AS (
    SELECT due_date,
           channel,
           warehouse_id,
           count(*) AS lines,
           sum(demand) AS units_demanded,
           sum(CASE WHEN shipped < demand THEN shipped ELSE demand END) AS units_filled,
           avg(CASE WHEN shipped >= demand THEN 1.0 ELSE 0.0 END) AS line_fill_rate,
           avg(CASE WHEN shipped_on_time >= demand THEN 1.0 ELSE 0.0 END) AS otif_rate
    FROM per_line
    GROUP BY due_date, channel, warehouse_id
),
per_order AS (
    SELECT due_date, channel, warehouse_id, order_id, bool_and(shipped >= demand) AS complete
    FROM per_line
    GROUP BY due_date, channel, warehouse_id, order_id
),
by_order AS (
    SELECT due_date,
           channel,
           warehouse_id,
           count(*) AS orders,
           avg(CASE WHEN complete THEN 1.0 ELSE 0.0 END) AS order_fill_rate
    FROM per_order
    GROUP BY due_date, channel, warehouse_id
)
SELECT l.due_date,
       l.channel,
       l.warehouse_id,
       l.lines,
       o.orders,
       l.units_demanded,
       l.units_filled,
       l.units_filled / l.units_demanded AS unit_fill_rate,
       l.line_fill_rate,
       o.order_fill_rate,
       l.otif_rate
FROM by_line l
JOIN by_order o
  ON o.due_date = l.due_date AND o.channel = l.channel AND o.warehouse_id = l.warehouse_id
ORDER BY l.due_date, l.channel, l.warehouse_id
