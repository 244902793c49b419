-- title: Received SKUs are in the item master
-- description: SKUs received in the window that the item master (as of the as-of date)
--   does not know: their costs, families and suppliers are missing from every KPI.
-- grain: sku
-- columns: sku, receipt_lines, first_received_at
SELECT r.sku, count(*) AS receipt_lines, min(r.received_at) AS first_received_at
FROM receipts r
LEFT JOIN items_current i ON i.sku = r.sku
WHERE i.sku IS NULL
  AND r.received_at >= $window_start
  AND r.received_at <= $window_end
  AND r.event_date >= $partition_min
  AND r.event_date <= $partition_max
GROUP BY r.sku
ORDER BY r.sku
