-- title: Return-to-stock cycle time
-- description: How long returned units take to get back on the shelf: hours from a
--   return's first "received" event to its "dispositioned" event with disposition
--   restock, for returns restocked in the window. Also the share of returns
--   dispositioned in the window that went back to stock. The row with warehouse_id ALL
--   covers the whole network.
-- grain: warehouse_id (plus ALL)
-- columns:
--   warehouse_id: warehouse handling the returns, or ALL
--   returns_dispositioned: returns dispositioned in the window
--   returns_restocked: of those, returns restocked
--   restock_share: returns_restocked / returns_dispositioned (0–1)
--   median_hours: median hours from received to restock
--   p90_hours: 90th percentile of hours from received to restock
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
WITH events AS (
    SELECT return_id, warehouse_id, stage, disposition, event_at
    FROM return_events
    WHERE event_at <= $window_end
      AND event_date <= $partition_max
),
received AS (
    SELECT return_id, min(event_at) AS received_at
    FROM events
    WHERE stage = 'received'
    GROUP BY return_id
),
dispositioned AS (
    SELECT return_id,
           last_value(warehouse_id ORDER BY event_at) AS warehouse_id,
           last_value(disposition ORDER BY event_at) AS disposition,
           max(event_at) AS dispositioned_at
    FROM events
    WHERE stage = 'dispositioned'
    GROUP BY return_id
),
returns AS (
    SELECT d.warehouse_id,
           d.disposition,
           CASE
               WHEN d.disposition = 'restock' AND r.received_at IS NOT NULL
               THEN (CAST(d.dispositioned_at AS BIGINT) - CAST(r.received_at AS BIGINT)) / 3600000000.0
           END AS hours
    FROM dispositioned d
    LEFT JOIN received r ON r.return_id = d.return_id
    WHERE d.dispositioned_at >= $window_start
),
-- Per warehouse and for the network ('ALL') in one pass: grouping sets, where a UNION
-- of two aggregates would read `returns` (inlined by DataFusion) twice.
together AS (
    SELECT CASE WHEN grouping(warehouse_id) = 1 THEN 'ALL' ELSE warehouse_id END AS warehouse_id,
           count(*) AS returns_dispositioned,
           sum(CASE WHEN disposition = 'restock' THEN 1 ELSE 0 END) AS returns_restocked,
           median(hours) AS median_hours,
           percentile_cont(0.9) WITHIN GROUP (ORDER BY hours) AS p90_hours
    FROM returns
    GROUP BY GROUPING SETS ((warehouse_id), ())
    HAVING count(*) > 0
)
SELECT warehouse_id,
       returns_dispositioned,
       returns_restocked,
       CAST(returns_restocked AS DOUBLE) / returns_dispositioned AS restock_share,
       median_hours,
       p90_hours
FROM together
ORDER BY CASE WHEN warehouse_id = 'ALL' THEN 1 ELSE 0 END, warehouse_id
