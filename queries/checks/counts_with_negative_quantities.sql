-- title: Cycle counts have no negative quantity
-- description: Counts where the units found are negative (impossible) or where the
--   system believed the bin held a negative quantity (negative stock: the record was
--   already wrong before anyone counted).
-- grain: cycle count
-- columns: event_id, warehouse_id, location_id, sku, system_qty, counted_qty, counted_at
SELECT event_id, warehouse_id, location_id, sku, system_qty, counted_qty, counted_at
FROM cycle_counts
WHERE (counted_qty < 0 OR system_qty < 0)
  AND counted_at <= $window_end
  AND event_date <= $partition_max
ORDER BY counted_at, event_id
