-- title: Exception recurrence
-- description: Where exceptions keep coming back. Exceptions opened in the window
--   (first event in the window), counted by supplier, zone, SKU family and channel and
--   by type. The repeat share is the part of a key's exceptions that struck a
--   location × SKU the same type had already struck in the window: the same spot
--   coming back, not just volume. Zone comes from the exception's location (zones
--   are per warehouse: the key is "warehouse · zone"), family from its SKU, supplier
--   from the exception or else the SKU's supplier (master data as of the as-of date);
--   missing keys are left out.
-- grain: dimension × key × exception_type
-- columns:
--   dimension: supplier, zone, sku_family or channel
--   key: the supplier id, warehouse · zone, family or channel
--   exception_type: kind of exception
--   exceptions: exceptions opened in the window
--   locations: distinct locations among them
--   skus: distinct SKUs among them
--   first_opened: when the first of them opened
--   last_opened: when the last of them opened
--   repeat_share: (exceptions − distinct location × SKU pairs) / exceptions (0–1); an exception with neither location nor SKU counts as one pair per key
-- Each exception's first event (by event_at, then _ingest_seq), found as the min() of
-- one DECIMAL that orders like that pair and joined back: much cheaper than a
-- first_value(… ORDER BY …) per column.
WITH opened_in_window AS (
    SELECT exception_id, opened_at
    FROM exception_state
    WHERE opened_at >= $window_start
),
-- Every event of an exception opened in the window is in the window: its first event
-- is found among the window's partitions alone.
events AS (
    SELECT e.exception_id, e.event_at, e._ingest_seq, e.exception_type, e.location_id, e.sku, e.supplier_id, e.channel
    FROM exception_events e
    JOIN opened_in_window w ON w.exception_id = e.exception_id
    WHERE e.event_at <= $window_end
      AND e.event_date >= $partition_min
      AND e.event_date <= $partition_max
),
firsts AS (
    SELECT e.exception_id, f.opened_at, e.exception_type, e.location_id, e.sku, e.supplier_id, e.channel
    FROM (
        SELECT exception_id,
               min(event_at) AS opened_at,
               CAST(min(CAST(CAST(event_at AS BIGINT) AS DECIMAL(38, 0)) * CAST(9223372036854775808 AS DECIMAL(38, 0))
                        + CAST(_ingest_seq AS DECIMAL(38, 0))) % CAST(9223372036854775808 AS DECIMAL(38, 0)) AS BIGINT) AS first_seq
        FROM events
        GROUP BY exception_id
    ) f
    JOIN events e ON e._ingest_seq = f.first_seq
),
opened AS (
    SELECT f.*,
           CASE WHEN l.zone IS NOT NULL THEN concat(l.warehouse_id, ' · ', l.zone) END AS zone,
           i.family,
           coalesce(f.supplier_id, i.supplier_id) AS supplier
    FROM firsts f
    LEFT JOIN locations_current l ON l.location_id = f.location_id
    LEFT JOIN items_current i ON i.sku = f.sku
),
-- One row per exception and dimension. (`opened` is referenced once: DataFusion
-- inlines CTEs, so a UNION of four references would compute it four times.)
keyed AS (
    SELECT d.dimension,
           CASE d.dimension
               WHEN 'supplier' THEN o.supplier
               WHEN 'zone' THEN o.zone
               WHEN 'sku_family' THEN o.family
               ELSE o.channel
           END AS key,
           o.*
    FROM opened o
    CROSS JOIN (VALUES ('supplier'), ('zone'), ('sku_family'), ('channel')) AS d (dimension)
)
SELECT dimension,
       key,
       exception_type,
       count(*) AS exceptions,
       count(DISTINCT location_id) AS locations,
       count(DISTINCT sku) AS skus,
       min(opened_at) AS first_opened,
       max(opened_at) AS last_opened,
       (count(*) - count(DISTINCT concat(coalesce(location_id, ''), '|', coalesce(sku, ''))))
         / CAST(count(*) AS DOUBLE) AS repeat_share
FROM keyed
WHERE key IS NOT NULL
GROUP BY dimension, key, exception_type
ORDER BY dimension, key, exception_type
