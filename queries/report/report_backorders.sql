-- title: Backorders by warehouse and lateness
-- description: The report's backorder chart: lines past their promise and not shipped
--   in full at the end of the as-of date, per warehouse and days-late bucket over every
--   channel, from this run's backorders table.
-- grain: warehouse_id × days_late_bucket
-- columns:
--   warehouse_id: warehouse fulfilling the lines
--   days_late_bucket: 0-1d, 1-3d, 3-7d, 7-14d or 14d+
--   lines: Σ lines of backorders
--   units_open: Σ units_open
--   oldest_days_late: the largest oldest_days_late
SELECT warehouse_id,
       days_late_bucket,
       sum(lines) AS lines,
       sum(units_open) AS units_open,
       max(oldest_days_late) AS oldest_days_late
FROM kpi.backorders
GROUP BY warehouse_id, days_late_bucket
ORDER BY warehouse_id,
         CASE days_late_bucket WHEN '0-1d' THEN 1 WHEN '1-3d' THEN 2 WHEN '3-7d' THEN 3
                               WHEN '7-14d' THEN 4 ELSE 5 END
