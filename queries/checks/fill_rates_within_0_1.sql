-- title: Fill rates lie between 0 and 1
-- description: Every rate in the fill_rate KPI table is a share, so it must be within
--   0–1, and units filled can never exceed units demanded. A row here is a bug in a
--   query, not in the data.
-- grain: fill_rate row
-- columns: due_date, channel, warehouse_id, unit_fill_rate, line_fill_rate, order_fill_rate, otif_rate
SELECT due_date, channel, warehouse_id, unit_fill_rate, line_fill_rate, order_fill_rate, otif_rate
FROM kpi.fill_rate
WHERE unit_fill_rate NOT BETWEEN 0 AND 1
   OR line_fill_rate NOT BETWEEN 0 AND 1
   OR order_fill_rate NOT BETWEEN 0 AND 1
   OR otif_rate NOT BETWEEN 0 AND 1
   OR units_filled > units_demanded
ORDER BY due_date, channel, warehouse_id
