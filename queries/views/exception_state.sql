-- title: Exception state (view)
-- description: Every exception with an event up to the end of the as-of date, one row
--   each: when it opened (its first event) and its latest event's status and
--   attributes (the exception's state; events ordered by event_at, ties to the later
--   ingested row). The exception KPIs read this view; opintel serves it from the
--   exception state every ingest keeps (the rows valid at the end of the as-of date),
--   or, on a lake without it, from the events; when several queries of a run read
--   it, opintel computes it once and keeps it in memory (within the memory limit).
-- grain: exception (exception_id)
-- columns:
--   exception_id: exception
--   opened_at: time of its first event
--   latest_at: time of its latest event (for a resolved exception: when it was resolved)
--   status: status after its latest event
--   exception_type: kind, as of its latest event
--   severity: severity, as of its latest event
--   owner: owner, as of its latest event
--   warehouse_id: warehouse, as of its latest event
--   location_id: bin, as of its latest event
--   sku: item, as of its latest event
--   supplier_id: supplier, as of its latest event
WITH events AS (
    SELECT exception_id, event_at, _ingest_seq, status, exception_type, severity, owner,
           warehouse_id, location_id, sku, supplier_id
    FROM exception_events
    WHERE event_at <= $window_end
      AND event_date <= $partition_max
),
-- The latest event by (event_at, _ingest_seq), as one number: event_at in µs × 2⁶³ +
-- _ingest_seq (as in the <table>_current views).
ends AS (
    SELECT exception_id,
           min(event_at) AS opened_at,
           CAST(max(CAST(CAST(event_at AS BIGINT) AS DECIMAL(38, 0)) * CAST(9223372036854775808 AS DECIMAL(38, 0))
                    + CAST(_ingest_seq AS DECIMAL(38, 0))) % CAST(9223372036854775808 AS DECIMAL(38, 0)) AS BIGINT) AS latest_seq
    FROM events
    GROUP BY exception_id
)
SELECT n.exception_id,
       n.opened_at,
       l.event_at AS latest_at,
       l.status,
       l.exception_type,
       l.severity,
       l.owner,
       l.warehouse_id,
       l.location_id,
       l.sku,
       l.supplier_id
FROM ends n
JOIN events l ON l._ingest_seq = n.latest_seq
