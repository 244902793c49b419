-- title: Adjustment rate
-- description: Inventory adjustments booked in the window by warehouse and reason, in
--   units and value (unit_cost as of the as-of date, 0 when unknown), set against the
--   units the warehouse shipped in the window: adjusted units per 1,000 shipped is how
--   often the stock record had to be corrected.
-- grain: warehouse_id × reason_code
-- columns:
--   warehouse_id: warehouse of the adjustments
--   reason_code: why the stock was adjusted
--   adjustments: adjustment events in the window
--   units_added: Σ positive qty_delta
--   units_removed: Σ |negative qty_delta|
--   net_units: Σ qty_delta
--   abs_value: Σ |qty_delta × unit_cost|
--   units_shipped: units the warehouse shipped in the window (all reasons)
--   adjusted_per_1000_shipped: (units_added + units_removed) per 1,000 units shipped (empty when nothing shipped)
WITH adj AS (
    SELECT a.warehouse_id, a.reason_code, a.qty_delta, a.qty_delta * coalesce(i.unit_cost, 0) AS value
    FROM adjustments a
    LEFT JOIN items_current i ON i.sku = a.sku
    WHERE a.adjusted_at >= $window_start
      AND a.adjusted_at <= $window_end
      AND a.event_date >= $partition_min
      AND a.event_date <= $partition_max
),
shipped AS (
    SELECT warehouse_id, sum(qty_shipped) AS units_shipped
    FROM shipments
    WHERE shipped_at >= $window_start
      AND shipped_at <= $window_end
      AND event_date >= $partition_min
      AND event_date <= $partition_max
    GROUP BY warehouse_id
),
by_reason AS (
    SELECT warehouse_id,
           reason_code,
           count(*) AS adjustments,
           sum(CASE WHEN qty_delta > 0 THEN qty_delta ELSE 0 END) AS units_added,
           sum(CASE WHEN qty_delta < 0 THEN -qty_delta ELSE 0 END) AS units_removed,
           sum(qty_delta) AS net_units,
           sum(abs(value)) AS abs_value
    FROM adj
    GROUP BY warehouse_id, reason_code
)
SELECT r.warehouse_id,
       r.reason_code,
       r.adjustments,
       r.units_added,
       r.units_removed,
       r.net_units,
       r.abs_value,
       coalesce(s.units_shipped, 0) AS units_shipped,
       CASE WHEN coalesce(s.units_shipped, 0) = 0 THEN NULL
            ELSE (r.units_added + r.units_removed) * 1000.0 / s.units_shipped
       END AS adjusted_per_1000_shipped
FROM by_reason r
LEFT JOIN shipped s ON s.warehouse_id = r.warehouse_id
ORDER BY r.warehouse_id, r.reason_code
