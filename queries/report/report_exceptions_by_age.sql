-- title: Open exceptions by age and type
-- description: The report's exception chart: exceptions open at the end of the as-of
--   date per age bucket and type (over every severity), from this run's
--   exception_aging table. The six types with the most open exceptions keep their
--   name; the rest are one "other (N types)" stack.
-- grain: exception_type (six types and "other") × age_bucket
-- columns:
--   exception_type: the type, or "other (N types)"
--   age_bucket: 0-1d, 1-3d, 3-7d, 7-14d, 14-30d or 30d+
--   open_count: open exceptions
--   breached_count: of those, past their SLA
--   bucket_breached: past their SLA in the bucket, over every type
WITH by_type AS (
    SELECT exception_type, age_bucket,
           sum(open_count) AS open_count, sum(breached_count) AS breached_count
    FROM kpi.exception_aging
    GROUP BY exception_type, age_bucket
),
ranked AS (
    SELECT exception_type,
           row_number() OVER (ORDER BY sum(open_count) DESC, exception_type) AS type_rank,
           count(*) OVER () AS types
    FROM by_type
    GROUP BY exception_type
),
named AS (
    SELECT CASE WHEN r.type_rank <= 6 THEN b.exception_type
                ELSE concat('other (', CAST(r.types - 6 AS VARCHAR), ' types)') END AS exception_type,
           min(r.type_rank) AS type_rank,
           b.age_bucket,
           sum(b.open_count) AS open_count,
           sum(b.breached_count) AS breached_count
    FROM by_type b JOIN ranked r ON r.exception_type = b.exception_type
    GROUP BY 1, 3
)
SELECT exception_type, age_bucket, open_count, breached_count,
       sum(breached_count) OVER (PARTITION BY age_bucket) AS bucket_breached
FROM named
ORDER BY type_rank,
         CASE age_bucket WHEN '0-1d' THEN 1 WHEN '1-3d' THEN 2 WHEN '3-7d' THEN 3
                         WHEN '7-14d' THEN 4 WHEN '14-30d' THEN 5 ELSE 6 END
