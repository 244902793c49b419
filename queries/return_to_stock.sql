-- title: Return-to-stock cycle time
-- description: How long returned units take to get back on the shelf: hours from a
--   return's first "received" event to its latest "dispositioned" event (of two at
--   one instant, the later ingested), when that event's disposition is restock, for
--   returns restocked in the window. Also the share of returns
--   dispositioned in the window that went back to stock. The row with warehouse_id ALL
--   covers the whole network.
-- grain: warehouse_id (plus ALL)
-- columns:
--   warehouse_id: warehouse handling the returns, or ALL
--   returns_dispositioned: returns dispositioned in the window
--   returns_restocked: of those, returns restocked
--   restock_share: returns_restocked / returns_dispositioned (0–1)
--   median_hours: median hours from received to restock (the mean of the two middle values for an even count)
--   p90_hours: 90th percentile of hours from received to restock, interpolated linearly between the two closest ranks
-- feeds: return_events
-- tile: return_to_stock_hours
--   position: 100
--   title: Return to stock
--   help: median, received → restocked
--   unit: hours
--   better: lower
--   value: max(CASE WHEN warehouse_id = 'ALL' THEN median_hours END)
--   volume: max(CASE WHEN warehouse_id = 'ALL' THEN returns_restocked END)
--   target: 48
--   warn: 96
--   feed: return_events
WITH returns AS (
    SELECT warehouse_id,
           disposition,
           CASE
               WHEN disposition = 'restock' AND received_at IS NOT NULL
               THEN (CAST(dispositioned_at AS BIGINT) - CAST(received_at AS BIGINT)) / 3600000000.0
           END AS hours
    FROM return_state
    WHERE dispositioned_at >= $window_start
),
together AS (
    SELECT CASE WHEN grouping(warehouse_id) = 1 THEN 'ALL' ELSE warehouse_id END AS warehouse_id,
           count(*) AS returns_dispositioned,
           sum(CASE WHEN disposition = 'restock' THEN 1 ELSE 0 END) AS returns_restocked,
           array_sort(array_agg(hours) FILTER (WHERE hours IS NOT NULL), 'ASC', 'NULLS LAST') AS sorted_hours
    FROM returns
    GROUP BY GROUPING SETS ((warehouse_id), ())
    HAVING count(*) > 0
),
-- The q-th percentile of n sorted values interpolates linearly between the values at
-- 1-based positions 1 + ⌊q(n − 1)⌋ and the next, by the fraction of q(n − 1), computed
-- in whole numbers (q = 1/2, 9/10). DataFusion 55's percentile_cont truncates that
-- fraction to six decimals (p90 off by up to 1e-6 of the gap; DataFusion issue 25266).
counted AS (
    SELECT *, CAST(coalesce(cardinality(sorted_hours), 0) AS BIGINT) AS n
    FROM together
)
SELECT warehouse_id,
       returns_dispositioned,
       returns_restocked,
       CAST(returns_restocked AS DOUBLE) / returns_dispositioned AS restock_share,
       CASE WHEN n > 0 THEN
           sorted_hours[1 + (n - 1) / 2]
             + (sorted_hours[least(n, 2 + (n - 1) / 2)] - sorted_hours[1 + (n - 1) / 2]) * (((n - 1) % 2) / 2.0)
       END AS median_hours,
       CASE WHEN n > 0 THEN
           sorted_hours[1 + 9 * (n - 1) / 10]
             + (sorted_hours[least(n, 2 + 9 * (n - 1) / 10)] - sorted_hours[1 + 9 * (n - 1) / 10]) * (((9 * (n - 1)) % 10) / 10.0)
       END AS p90_hours
FROM counted
ORDER BY CASE WHEN warehouse_id = 'ALL' THEN 1 ELSE 0 END, warehouse_id
