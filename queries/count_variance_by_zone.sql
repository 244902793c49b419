-- title: Count variance by zone
-- description: Cycle counts in the window and how far the stock record was off:
--   variance = counted_qty − system_qty, valued at the SKU's unit_cost (0 when
--   unknown). A count is accurate when |variance| ≤ count_tolerance (default 0).
--   Master data is taken as of the as-of date.
-- grain: warehouse_id × zone
-- columns:
--   warehouse_id: warehouse of the count
--   zone: zone of the counted bin (from locations, by location_id); UNKNOWN when the bin is not in locations
--   counts: cycle counts
--   accurate_counts: counts within tolerance
--   accuracy_rate: accurate_counts / counts (0–1)
--   net_variance_units: Σ variance (negative: stock missing)
--   abs_variance_units: Σ |variance|
--   net_variance_value: Σ variance × unit_cost
--   abs_variance_value: Σ |variance × unit_cost|
-- chart: bar x=zone y=abs_variance_value
-- feeds: cycle_counts
-- tile: record_accuracy
--   position: 70
--   title: Inventory record accuracy
--   help: cycle counts matching the record
--   unit: rate
--   better: higher
--   numerator: sum(accurate_counts)
--   denominator: sum(counts)
--   target: 0.97
--   warn: 0.9
--   feed: cycle_counts
-- tile: abs_variance_value
--   position: 80
--   title: Count variance value
--   help: Σ |variance × unit cost| counted
--   unit: money
--   better: lower
--   value: sum(abs_variance_value)
--   volume: sum(counts)
--   feed: cycle_counts
WITH counts AS (
    SELECT warehouse_id, location_id, sku, counted_qty - system_qty AS variance
    FROM cycle_counts
    WHERE counted_at >= $window_start
      AND counted_at <= $window_end
      AND event_date >= $partition_min
      AND event_date <= $partition_max
),
valued AS (
    SELECT c.warehouse_id,
           coalesce(l.zone, 'UNKNOWN') AS zone,
           c.variance,
           c.variance * coalesce(i.unit_cost, 0) AS value
    FROM counts c
    LEFT JOIN items_current i ON i.sku = c.sku
    LEFT JOIN locations_current l ON l.location_id = c.location_id
)
SELECT warehouse_id,
       zone,
       count(*) AS counts,
       sum(CASE WHEN abs(variance) <= $count_tolerance THEN 1 ELSE 0 END) AS accurate_counts,
       avg(CASE WHEN abs(variance) <= $count_tolerance THEN 1.0 ELSE 0.0 END) AS accuracy_rate,
       sum(variance) AS net_variance_units,
       sum(abs(variance)) AS abs_variance_units,
       sum(value) AS net_variance_value,
       sum(abs(value)) AS abs_variance_value
FROM valued
GROUP BY warehouse_id, zone
ORDER BY warehouse_id, zone
