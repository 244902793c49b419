-- title: Supplier receipt accuracy
-- description: How accurately and punctually each supplier delivered the purchase-order
--   lines received in the window. A line is accurate when the quantity received equals
--   the quantity expected and nothing arrived damaged; short and over compare received
--   with expected. A line is on time when it was received on or before the date it was
--   expected (lines without an expected date are left out of the on-time rate).
-- grain: supplier_id
-- columns:
--   supplier_id: supplier of the receipts
--   supplier_name: the supplier's name as of the as-of date (empty when unknown)
--   receipt_lines: receipt events in the window
--   units_expected: Σ qty_expected
--   units_received: Σ qty_received
--   short_lines: lines with qty_received < qty_expected
--   over_lines: lines with qty_received > qty_expected
--   damaged_lines: lines with qty_damaged > 0
--   short_units: Σ (qty_expected − qty_received) over short lines
--   over_units: Σ (qty_received − qty_expected) over over lines
--   damaged_units: Σ qty_damaged
--   accuracy_rate: share of lines neither short, over nor damaged (0–1)
--   on_time_rate: share of lines with an expected date received by that date (0–1; empty when none)
-- chart: stacked_bar x=supplier_id y=short_lines,over_lines,damaged_lines
-- feeds: receipts
-- tile: receipt_accuracy
--   position: 90
--   title: Supplier receipt accuracy
--   help: receipt lines exact and undamaged
--   unit: rate
--   better: higher
--   numerator: sum(accuracy_rate * receipt_lines)
--   denominator: sum(receipt_lines)
--   target: 0.95
--   warn: 0.88
--   feed: receipts
WITH lines AS (
    SELECT supplier_id,
           qty_expected,
           qty_received,
           coalesce(qty_damaged, 0) AS qty_damaged,
           expected_at,
           received_at
    FROM receipts
    WHERE received_at >= $window_start
      AND received_at <= $window_end
      AND event_date >= $partition_min
      AND event_date <= $partition_max
)
SELECT l.supplier_id,
       max(s.name) AS supplier_name,
       count(*) AS receipt_lines,
       sum(l.qty_expected) AS units_expected,
       sum(l.qty_received) AS units_received,
       sum(CASE WHEN l.qty_received < l.qty_expected THEN 1 ELSE 0 END) AS short_lines,
       sum(CASE WHEN l.qty_received > l.qty_expected THEN 1 ELSE 0 END) AS over_lines,
       sum(CASE WHEN l.qty_damaged > 0 THEN 1 ELSE 0 END) AS damaged_lines,
       sum(CASE WHEN l.qty_received < l.qty_expected THEN l.qty_expected - l.qty_received ELSE 0 END) AS short_units,
       sum(CASE WHEN l.qty_received > l.qty_expected THEN l.qty_received - l.qty_expected ELSE 0 END) AS over_units,
       sum(l.qty_damaged) AS damaged_units,
       avg(CASE WHEN l.qty_received = l.qty_expected AND l.qty_damaged = 0 THEN 1.0 ELSE 0.0 END) AS accuracy_rate,
       avg(CASE
               WHEN l.expected_at IS NULL THEN NULL
               WHEN local_date(l.received_at) <= local_date(l.expected_at) THEN 1.0
               ELSE 0.0
           END) AS on_time_rate
FROM lines l
LEFT JOIN suppliers_current s ON s.supplier_id = l.supplier_id
GROUP BY l.supplier_id
ORDER BY l.supplier_id
