-- title: Count variance by ABC class
-- description: Cycle counts in the window and how far the stock record was off, by the
--   counted SKU's ABC class: variance = counted_qty − system_qty, valued at the SKU's
--   unit_cost (0 when unknown). A count is accurate when |variance| ≤ count_tolerance
--   (default 0). Master data is taken as of the as-of date.
-- grain: warehouse_id × abc_class
-- columns:
--   warehouse_id: warehouse of the count
--   abc_class: ABC class of the counted SKU as of the as-of date (from items, by sku); UNKNOWN when the SKU is unknown or has no class
--   counts: cycle counts
--   accurate_counts: counts within tolerance
--   accuracy_rate: accurate_counts / counts (0–1)
--   net_variance_units: Σ variance (negative: stock missing)
--   abs_variance_units: Σ |variance|
--   net_variance_value: Σ variance × unit_cost
--   abs_variance_value: Σ |variance × unit_cost|
-- feeds: cycle_counts, items
WITH counts AS (
    SELECT warehouse_id, sku, counted_qty - system_qty AS variance
    FROM cycle_counts
    WHERE counted_at >= $window_start
      AND counted_at <= $window_end
      AND event_date >= $partition_min
      AND event_date <= $partition_max
),
valued AS (
    SELECT c.warehouse_id,
           coalesce(nullif(i.abc_class, ''), 'UNKNOWN') AS abc_class,
           c.variance,
           c.variance * coalesce(i.unit_cost, 0) AS value
    FROM counts c
    LEFT JOIN items_current i ON i.sku = c.sku
)
SELECT warehouse_id,
       abc_class,
       count(*) AS counts,
       sum(CASE WHEN abs(variance) <= $count_tolerance THEN 1 ELSE 0 END) AS accurate_counts,
       avg(CASE WHEN abs(variance) <= $count_tolerance THEN 1.0 ELSE 0.0 END) AS accuracy_rate,
       sum(variance) AS net_variance_units,
       sum(abs(variance)) AS abs_variance_units,
       sum(value) AS net_variance_value,
       sum(abs(value)) AS abs_variance_value
FROM valued
GROUP BY warehouse_id, abc_class
ORDER BY warehouse_id, abc_class
