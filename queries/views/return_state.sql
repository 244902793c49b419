-- title: Return state (view)
-- description: Every return with an event up to the end of the as-of date, one row
--   each: when it was first received, and its latest "dispositioned" event (events
--   ordered by event_at, ties to the later ingested row): when, where and what was
--   decided (empty while it has none). return_to_stock reads this view; opintel
--   serves it from the return state every ingest keeps (the rows valid at the end of
--   the as-of date), or, on a lake without it, from the events.
-- grain: return (return_id)
-- columns:
--   return_id: return
--   received_at: time of its first "received" event (empty when none yet)
--   dispositioned_at: time of its latest "dispositioned" event (empty when none yet)
--   warehouse_id: warehouse of that dispositioned event
--   disposition: what that event decided (restock, refurbish, …)
WITH events AS (
    SELECT return_id, event_at, _ingest_seq, stage, warehouse_id, disposition
    FROM return_events
    WHERE event_at <= $window_end
      AND event_date <= $partition_max
),
-- The latest dispositioned event by (event_at, _ingest_seq), as one number: event_at
-- in µs × 2⁶³ + _ingest_seq (as in the <table>_current views).
ends AS (
    SELECT return_id,
           min(event_at) FILTER (WHERE stage = 'received') AS received_at,
           CAST(max(CASE WHEN stage = 'dispositioned'
                         THEN CAST(CAST(event_at AS BIGINT) AS DECIMAL(38, 0)) * CAST(9223372036854775808 AS DECIMAL(38, 0))
                              + CAST(_ingest_seq AS DECIMAL(38, 0))
                    END) % CAST(9223372036854775808 AS DECIMAL(38, 0)) AS BIGINT) AS disposition_seq
    FROM events
    GROUP BY return_id
)
SELECT n.return_id,
       n.received_at,
       d.event_at AS dispositioned_at,
       d.warehouse_id,
       d.disposition
FROM ends n
LEFT JOIN events d ON d._ingest_seq = n.disposition_seq
