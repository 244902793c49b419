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
WITH state AS (
    SELECT exception_id, opened_at, status, exception_type, severity, owner,
           warehouse_id, location_id, sku, supplier_id
    FROM exception_state
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
