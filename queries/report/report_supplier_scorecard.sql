-- title: Supplier receipt scorecard
-- description: The report's supplier chart and table: each supplier's receipt lines in
--   the window that were short, over or damaged, as shares of its lines, from this
--   run's supplier_receipt_accuracy table. Most discrepant lines first.
-- grain: supplier_id
-- columns:
--   supplier_id: supplier
--   supplier_name: its name (empty when unknown)
--   receipt_lines: receipt lines in the window
--   short_lines: lines received short
--   over_lines: lines received over
--   damaged_lines: lines with damaged units
--   discrepant_lines: short_lines + over_lines + damaged_lines (a line can count twice)
--   short_share: short_lines / receipt_lines
--   over_share: over_lines / receipt_lines
--   damaged_share: damaged_lines / receipt_lines
--   accuracy_rate: share of lines neither short, over nor damaged
--   on_time_rate: share of lines with an expected date received by then
SELECT supplier_id,
       supplier_name,
       receipt_lines,
       short_lines,
       over_lines,
       damaged_lines,
       short_lines + over_lines + damaged_lines AS discrepant_lines,
       CAST(short_lines AS DOUBLE) / NULLIF(CAST(receipt_lines AS DOUBLE), 0) AS short_share,
       CAST(over_lines AS DOUBLE) / NULLIF(CAST(receipt_lines AS DOUBLE), 0) AS over_share,
       CAST(damaged_lines AS DOUBLE) / NULLIF(CAST(receipt_lines AS DOUBLE), 0) AS damaged_share,
       accuracy_rate,
       on_time_rate
FROM kpi.supplier_receipt_accuracy
ORDER BY discrepant_lines DESC, supplier_id
