-- title: Fill rate by channel
-- description: The report's fill-rate table: each channel over the whole window and
--   every warehouse, from this run's fill_rate table. Line and OTIF rates are weighted
--   by lines, the order fill rate by orders. Biggest channels (units due) first.
-- grain: channel
-- columns:
--   channel: sales channel
--   lines: order lines due in the window
--   orders: Σ orders of fill_rate (an order due on two dates counts twice)
--   units_demanded: units due
--   unit_fill_rate: Σ units_filled / Σ units_demanded (0–1)
--   line_fill_rate: Σ line_fill_rate × lines / Σ lines (0–1)
--   order_fill_rate: Σ order_fill_rate × orders / Σ orders (0–1)
--   otif_rate: Σ otif_rate × lines / Σ lines (0–1)
SELECT channel,
       sum(lines) AS lines,
       sum(orders) AS orders,
       sum(units_demanded) AS units_demanded,
       CAST(sum(units_filled) AS DOUBLE) / NULLIF(CAST(sum(units_demanded) AS DOUBLE), 0) AS unit_fill_rate,
       sum(line_fill_rate * lines) / NULLIF(CAST(sum(lines) AS DOUBLE), 0) AS line_fill_rate,
       sum(order_fill_rate * orders) / NULLIF(CAST(sum(orders) AS DOUBLE), 0) AS order_fill_rate,
       sum(otif_rate * lines) / NULLIF(CAST(sum(lines) AS DOUBLE), 0) AS otif_rate
FROM kpi.fill_rate
GROUP BY channel
ORDER BY units_demanded DESC, channel
