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
WITH firsts AS (
    SELECT exception_id,
           min(event_at) AS opened_at,
           first_value(exception_type ORDER BY event_at, _ingest_seq) AS exception_type,
           first_value(location_id ORDER BY event_at, _ingest_seq) AS location_id,
           first_value(sku ORDER BY event_at, _ingest_seq) AS sku,
           first_value(supplier_id ORDER BY event_at, _ingest_seq) AS supplier_id,
           first_value(channel ORDER BY event_at, _ingest_seq) AS channel
    FROM exception_events
    WHERE event_at <= $window_end
      AND event_date <= $partition_max
    GROUP BY exception_id
),
opened AS (
    SELECT f.*,
           CASE WHEN l.zone IS NOT NULL THEN concat(l.warehouse_id, ' · ', l.zone) END AS zone,
           i.family,
           coalesce(f.supplier_id, i.supplier_id) AS supplier
    FROM firsts f
    LEFT JOIN locations_current l ON l.location_id = f.location_id
    LEFT JOIN items_current i ON i.sku = f.sku
    WHERE f.opened_at >= $window_start
),
keyed AS (
    SELECT 'supplier' AS dimension, supplier AS key, * FROM opened WHERE supplier IS NOT NULL
    UNION ALL
    SELECT 'zone' AS dimension, zone AS key, * FROM opened WHERE zone IS NOT NULL
    UNION ALL
    SELECT 'sku_family' AS dimension, family AS key, * FROM opened WHERE family IS NOT NULL
    UNION ALL
    SELECT 'channel' AS dimension, channel AS key, * FROM opened WHERE channel IS NOT NULL
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
GROUP BY dimension, key, exception_type
ORDER BY dimension, key, exception_type
