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
state AS (
    SELECT exception_id,
           min(event_at) AS opened_at,
           last_value(status ORDER BY event_at, _ingest_seq) AS status,
           last_value(exception_type ORDER BY event_at, _ingest_seq) AS exception_type,
           last_value(severity ORDER BY event_at, _ingest_seq) AS severity,
           last_value(owner ORDER BY event_at, _ingest_seq) AS owner,
           last_value(warehouse_id ORDER BY event_at, _ingest_seq) AS warehouse_id,
           last_value(location_id ORDER BY event_at, _ingest_seq) AS location_id,
           last_value(sku ORDER BY event_at, _ingest_seq) AS sku,
           last_value(supplier_id ORDER BY event_at, _ingest_seq) AS supplier_id
    FROM events
    GROUP BY exception_id
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
