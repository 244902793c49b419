-- title: Fill rate by day and channel
-- description: The points of the report's fill-rate chart: the unit fill rate of each
--   due date and channel over every warehouse, from this run's fill_rate table.
-- grain: due_date × channel
-- columns:
--   due_date: date the lines were due to ship
--   channel: sales channel
--   units_demanded: Σ units_demanded of fill_rate
--   units_filled: Σ units_filled of fill_rate
--   unit_fill_rate: units_filled / units_demanded (0–1; empty when nothing was due)
-- feeds: order_lines, shipments
SELECT due_date,
       channel,
       sum(units_demanded) AS units_demanded,
       sum(units_filled) AS units_filled,
       CAST(sum(units_filled) AS DOUBLE) / NULLIF(CAST(sum(units_demanded) AS DOUBLE), 0) AS unit_fill_rate
FROM kpi.fill_rate
GROUP BY due_date, channel
ORDER BY due_date, channel
