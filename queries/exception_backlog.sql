-- title: Exception backlog
-- description: Every exception open at the end of the as-of date, oldest first, with
--   its state from its latest event up to then and whether it breached the SLA of its
--   severity. The detail behind exception_aging.
-- grain: exception_id (open exceptions only)
-- columns:
--   exception_id: the exception
--   exception_type: kind of exception
--   severity: severity at the latest event
--   status: latest status (open, acknowledged or in_progress)
--   opened_at: its first event
--   age_hours: hours from opened_at to the end of the as-of date
--   sla_hours: the SLA of its severity
--   breached: age_hours > sla_hours
--   owner: owner at the latest event
--   warehouse_id: warehouse at the latest event
--   location_id: location at the latest event
--   sku: SKU at the latest event
--   supplier_id: supplier at the latest event
WITH events AS (
    SELECT *
    FROM exception_events
    WHERE event_at <= $window_end
      AND event_date <= $partition_max
),
-- Each exception's latest event (by event_at, then _ingest_seq), found as the max() of
-- one DECIMAL that orders like that pair and joined back: much cheaper than a
-- last_value(… ORDER BY …) per column.
state AS (
    SELECT f.exception_id, f.opened_at, e.status, e.exception_type, e.severity, e.owner,
           e.warehouse_id, e.location_id, e.sku, e.supplier_id
    FROM (
        SELECT exception_id,
               min(event_at) AS opened_at,
               CAST(max(CAST(CAST(event_at AS BIGINT) AS DECIMAL(38, 0)) * CAST(9223372036854775808 AS DECIMAL(38, 0))
                        + CAST(_ingest_seq AS DECIMAL(38, 0))) % CAST(9223372036854775808 AS DECIMAL(38, 0)) AS BIGINT) AS latest_seq
        FROM events
        GROUP BY exception_id
    ) f
    JOIN events e ON e._ingest_seq = f.latest_seq
),
open AS (
    SELECT *,
           ($window_end_us - CAST(opened_at AS BIGINT)) / 3600000000.0 AS age_hours,
           CASE severity
               WHEN 'critical' THEN $sla_critical_hours
               WHEN 'high' THEN $sla_high_hours
               WHEN 'medium' THEN $sla_medium_hours
               ELSE $sla_low_hours
           END AS sla_hours
    FROM state
    WHERE status NOT IN ('resolved', 'cancelled')
)
SELECT exception_id,
       exception_type,
       severity,
       status,
       opened_at,
       age_hours,
       sla_hours,
       age_hours > sla_hours AS breached,
       owner,
       warehouse_id,
       location_id,
       sku,
       supplier_id
FROM open
ORDER BY opened_at, exception_id
