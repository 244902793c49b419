-- title: Cycle-count priority
-- description: The SKU-locations most likely to have a wrong stock record, ranked so the
--   team counts those first. Every SKU-location seen in counts, adjustments or picks over
--   the history (history_days, default 365, up to the end of the as-of date) collects
--   evidence points; the score is their sum. Stock-record errors are systematic (they
--   recur after a correction), so each kind of evidence counts, recent evidence more
--   (weight halves every half_life_days), and repeated evidence with diminishing
--   returns (ln(1 + x)). Components: pick shortages, bin mismatches (and unscannable /
--   lot mismatch), count variances (ln(1 + |variance|) per count, plus a bonus when two
--   or more counts were off), unexplained adjustments (shrink, found, other: booked damage or expiry explains itself),
--   drift since the last count (those signs again after the record was corrected),
--   a negative stock record at the last count, overdue-ness against the ABC cycle
--   (A 90, B 180, C 365 days; never counted = a full history), pick velocity in the
--   window, the supplier's receipt discrepancy rate and the value at risk. Weights are
--   `-- param:` lines below, overridden by `[params]` in opintel.toml.
-- grain: warehouse_id × location_id × sku (top top_n, default 200)
-- columns:
--   rank: 1 = count first
--   warehouse_id: warehouse of the bin
--   location_id: bin
--   sku: item
--   score: sum of the *_points columns (higher = count sooner)
--   last_counted_at: last cycle count of this SKU-location up to the as-of date (empty: never counted in the history)
--   reasons: the signals behind the score, in words
--   shortage_points: w_shortage × ln(1 + decayed pick-shortage exceptions)
--   mismatch_points: w_mismatch × ln(1 + decayed bin-mismatch, unscannable and lot-mismatch exceptions); an exception without a SKU counts for its whole bin, one without a bin for the SKU's bins in its warehouse
--   variance_points: w_variance × ln(1 + Σ decayed ln(1 + |variance|)) over counts off by more than count_tolerance, + w_recurrence when ≥ 2 counts were off
--   adjustment_points: w_adjustment × ln(1 + decayed shrink / found / other adjustments)
--   drift_points: w_since × ln(1 + shortage, mismatch and shrink / found / other events since the last count): the record has drifted again since it was last corrected
--   negative_stock_points: w_negative when the record was below zero at the last count
--   overdue_points: w_overdue × min(2, days since counted ÷ ABC cycle days)
--   velocity_points: w_velocity × log10(1 + units picked from the bin in the window)
--   supplier_points: w_supplier × the SKU's supplier receipt discrepancy rate (0–1)
--   value_points: w_value × log10(1 + unit_cost × units on record)
--   counts: cycle counts in the history
--   counts_with_variance: counts off by more than count_tolerance
--   last_variance: counted − system at the last count (negative: stock missing)
--   last_system_qty: units on record at the last count
--   days_since_count: days from the last count to the end of the as-of date
--   pick_shortages: pick-shortage exceptions at this SKU-location in the history
--   pick_shortages_7d: of which opened in the last 7 days
--   bin_mismatches: bin-mismatch, unscannable and lot-mismatch exceptions in the history
--   unexplained_adjustments: shrink, found and other adjustments in the history
--   events_since_count: exceptions and unexplained adjustments after the last count (all of them when never counted)
--   units_picked: units shipped from this bin in the window
--   abc_class: the SKU's velocity class (A/B/C; empty when unknown)
--   zone: zone of the bin (UNKNOWN when the bin is not in locations)
--   supplier_id: the SKU's supplier (UNKNOWN when not known)
--   value_at_risk: unit_cost × units on record at the last count
-- param: top_n = 200
-- param: half_life_days = 60
-- param: w_shortage = 2.5
-- param: w_mismatch = 2.5
-- param: w_variance = 8
-- param: w_recurrence = 1.5
-- param: w_adjustment = 2
-- param: w_negative = 3
-- param: w_overdue = 0.6
-- param: w_velocity = 0.3
-- param: w_supplier = 1
-- param: w_value = 0.2
-- param: w_since = 2
WITH counts AS (
    SELECT warehouse_id, location_id, sku, counted_at, system_qty,
           counted_qty - system_qty AS variance,
           (CAST($window_end_us AS DOUBLE) - CAST(CAST(counted_at AS BIGINT) AS DOUBLE)) / 86400e6 AS age_days
    FROM cycle_counts
    WHERE counted_at >= $history_start
      AND counted_at <= $window_end
      AND event_date >= $history_partition_min
      AND event_date <= $partition_max
),
count_evidence AS (
    SELECT warehouse_id, location_id, sku,
           count(*) AS counts,
           sum(CASE WHEN abs(variance) > $count_tolerance THEN 1 ELSE 0 END) AS counts_with_variance,
           sum(CASE WHEN abs(variance) > $count_tolerance
                    THEN exp(-age_days * ln(2.0) / $half_life_days) * ln(1 + abs(variance))
                    ELSE 0 END) AS variance_evidence,
           max(counted_at) AS last_counted_at,
           last_value(variance ORDER BY counted_at) AS last_variance,
           last_value(system_qty ORDER BY counted_at) AS last_system_qty,
           min(age_days) AS days_since_count
    FROM counts
    GROUP BY warehouse_id, location_id, sku
),
adjustment_evidence AS (
    SELECT warehouse_id, location_id, sku,
           sum(exp(-((CAST($window_end_us AS DOUBLE) - CAST(CAST(adjusted_at AS BIGINT) AS DOUBLE)) / 86400e6) * ln(2.0) / $half_life_days)) AS adjustment_evidence,
           count(*) AS unexplained_adjustments
    FROM adjustments
    WHERE adjusted_at >= $history_start
      AND adjusted_at <= $window_end
      AND event_date >= $history_partition_min
      AND event_date <= $partition_max
      AND reason_code IN ('shrink', 'found', 'other')
    GROUP BY warehouse_id, location_id, sku
),
-- One row per exception: where it happened and what kind it is (as of its latest event).
exceptions AS (
    SELECT exception_id,
           min(event_at) AS opened_at,
           last_value(exception_type ORDER BY event_at) AS exception_type,
           max(warehouse_id) AS warehouse_id,
           max(location_id) AS location_id,
           max(sku) AS sku
    FROM exception_events
    WHERE event_at >= $history_start
      AND event_at <= $window_end
      AND event_date >= $history_partition_min
      AND event_date <= $partition_max
      AND exception_type IN ('pick_shortage', 'bin_mismatch', 'unscannable', 'lot_mismatch')
      AND (location_id IS NOT NULL OR sku IS NOT NULL)
    GROUP BY exception_id
),
-- Exceptions without a SKU count for every SKU in their bin (sku '' below); those
-- without a bin count for the SKU's bins in their warehouse (location_id '' below).
exception_evidence AS (
    SELECT coalesce(location_id, '') AS location_id,
           CASE WHEN location_id IS NULL THEN coalesce(warehouse_id, '') ELSE '' END AS warehouse_id,
           coalesce(sku, '') AS sku,
           sum(CASE WHEN exception_type = 'pick_shortage' THEN decay ELSE 0 END) AS shortage_evidence,
           sum(CASE WHEN exception_type <> 'pick_shortage' THEN decay ELSE 0 END) AS mismatch_evidence,
           sum(CASE WHEN exception_type = 'pick_shortage' THEN 1 ELSE 0 END) AS pick_shortages,
           sum(CASE WHEN exception_type = 'pick_shortage' AND age_days <= 7 THEN 1 ELSE 0 END) AS pick_shortages_7d,
           sum(CASE WHEN exception_type <> 'pick_shortage' THEN 1 ELSE 0 END) AS bin_mismatches
    FROM (
        SELECT *, exp(-age_days * ln(2.0) / $half_life_days) AS decay
        FROM (
            SELECT *, (CAST($window_end_us AS DOUBLE) - CAST(CAST(opened_at AS BIGINT) AS DOUBLE)) / 86400e6 AS age_days
            FROM exceptions
        ) a
    ) e
    GROUP BY 1, 2, 3
),
since_events AS (
    SELECT x.location_id, x.sku, x.opened_at AS at FROM exceptions x WHERE x.sku IS NOT NULL
    UNION ALL
    SELECT location_id, sku, adjusted_at AS at FROM adjustments
    WHERE adjusted_at >= $history_start AND adjusted_at <= $window_end
      AND event_date >= $history_partition_min AND event_date <= $partition_max
      AND reason_code IN ('shrink', 'found', 'other')
),
picks AS (
    SELECT warehouse_id, location_id, sku, sum(qty_shipped) AS units_picked
    FROM shipments
    WHERE location_id IS NOT NULL
      AND shipped_at >= $window_start
      AND shipped_at <= $window_end
      AND event_date >= $partition_min
      AND event_date <= $partition_max
    GROUP BY warehouse_id, location_id, sku
),
-- Every SKU-location with counts, unexplained adjustments or picks, with that evidence.
-- A full join rather than a UNION plus joins back: DataFusion inlines CTEs, so each
-- further reference would scan the source again (picks read every shipment).
slots AS (
    SELECT coalesce(c.warehouse_id, a.warehouse_id, p.warehouse_id) AS warehouse_id,
           coalesce(c.location_id, a.location_id, p.location_id) AS location_id,
           coalesce(c.sku, a.sku, p.sku) AS sku,
           c.counts, c.counts_with_variance, c.variance_evidence, c.last_counted_at,
           c.last_variance, c.last_system_qty, c.days_since_count,
           a.adjustment_evidence, a.unexplained_adjustments,
           p.units_picked
    FROM count_evidence c
    FULL JOIN adjustment_evidence a
      ON a.warehouse_id = c.warehouse_id AND a.location_id = c.location_id AND a.sku = c.sku
    FULL JOIN picks p
      ON p.warehouse_id = coalesce(c.warehouse_id, a.warehouse_id)
     AND p.location_id = coalesce(c.location_id, a.location_id)
     AND p.sku = coalesce(c.sku, a.sku)
),
-- Signs of drift at a SKU-location: all of them when it was never counted
-- (since_all), else those after its last count (since_last).
since_all AS (
    SELECT location_id, sku, count(*) AS events
    FROM since_events
    GROUP BY location_id, sku
),
since_last AS (
    SELECT c.warehouse_id, c.location_id, c.sku, count(*) AS events
    FROM count_evidence c
    JOIN since_events e ON e.location_id = c.location_id AND e.sku = c.sku
    WHERE e.at > c.last_counted_at
    GROUP BY c.warehouse_id, c.location_id, c.sku
),
supplier_quality AS (
    SELECT supplier_id,
           avg(CASE WHEN qty_received <> qty_expected OR coalesce(qty_damaged, 0) > 0 THEN 1.0 ELSE 0.0 END) AS discrepancy_rate
    FROM receipts
    WHERE received_at >= $history_start
      AND received_at <= $window_end
      AND event_date >= $history_partition_min
      AND event_date <= $partition_max
    GROUP BY supplier_id
),
features AS (
    SELECT s.warehouse_id, s.location_id, s.sku,
           coalesce(s.counts, 0) AS counts,
           coalesce(s.counts_with_variance, 0) AS counts_with_variance,
           coalesce(s.variance_evidence, 0) AS variance_evidence,
           s.last_counted_at, s.last_variance, s.last_system_qty, s.days_since_count,
           coalesce(s.adjustment_evidence, 0) AS adjustment_evidence,
           coalesce(s.unexplained_adjustments, 0) AS unexplained_adjustments,
           coalesce(e.shortage_evidence, 0) + coalesce(b.shortage_evidence, 0) + coalesce(k.shortage_evidence, 0) AS shortage_evidence,
           coalesce(e.mismatch_evidence, 0) + coalesce(b.mismatch_evidence, 0) + coalesce(k.mismatch_evidence, 0) AS mismatch_evidence,
           coalesce(e.pick_shortages, 0) + coalesce(b.pick_shortages, 0) + coalesce(k.pick_shortages, 0) AS pick_shortages,
           coalesce(e.pick_shortages_7d, 0) + coalesce(b.pick_shortages_7d, 0) + coalesce(k.pick_shortages_7d, 0) AS pick_shortages_7d,
           coalesce(e.bin_mismatches, 0) + coalesce(b.bin_mismatches, 0) + coalesce(k.bin_mismatches, 0) AS bin_mismatches,
           coalesce(s.units_picked, 0) AS units_picked,
           CASE WHEN s.last_counted_at IS NULL THEN coalesce(sa.events, 0)
                ELSE coalesce(sl.events, 0) END AS events_since_count,
           coalesce(i.unit_cost, 0) AS unit_cost,
           coalesce(i.abc_class, '') AS abc_class,
           coalesce(l.zone, 'UNKNOWN') AS zone,
           coalesce(i.supplier_id, 'UNKNOWN') AS supplier_id,
           coalesce(q.discrepancy_rate, 0) AS supplier_discrepancy_rate,
           CASE i.abc_class WHEN 'A' THEN 90.0 WHEN 'B' THEN 180.0 ELSE 365.0 END AS cycle_days
    FROM slots s
    LEFT JOIN exception_evidence e
      ON e.location_id = s.location_id AND e.warehouse_id = '' AND e.sku = s.sku
    LEFT JOIN exception_evidence b
      ON b.location_id = s.location_id AND b.warehouse_id = '' AND b.sku = ''
    LEFT JOIN exception_evidence k
      ON k.location_id = '' AND k.warehouse_id = s.warehouse_id AND k.sku = s.sku
    LEFT JOIN items_current i ON i.sku = s.sku
    LEFT JOIN locations_current l ON l.location_id = s.location_id
    LEFT JOIN supplier_quality q ON q.supplier_id = i.supplier_id
    LEFT JOIN since_all sa ON sa.location_id = s.location_id AND sa.sku = s.sku
    LEFT JOIN since_last sl
      ON sl.warehouse_id = s.warehouse_id AND sl.location_id = s.location_id AND sl.sku = s.sku
),
points AS (
    SELECT *,
           $w_shortage * ln(1 + shortage_evidence) AS shortage_points,
           $w_mismatch * ln(1 + mismatch_evidence) AS mismatch_points,
           $w_variance * ln(1 + variance_evidence)
             + CASE WHEN counts_with_variance >= 2 THEN $w_recurrence ELSE 0 END AS variance_points,
           $w_adjustment * ln(1 + adjustment_evidence) AS adjustment_points,
           $w_since * ln(1 + events_since_count) AS drift_points,
           CASE WHEN last_system_qty < 0 THEN $w_negative ELSE 0 END AS negative_stock_points,
           $w_overdue * least(2.0, coalesce(days_since_count, CAST($history_days AS DOUBLE)) / cycle_days) AS overdue_points,
           $w_velocity * log10(1 + units_picked) AS velocity_points,
           $w_supplier * supplier_discrepancy_rate AS supplier_points,
           unit_cost * greatest(coalesce(last_system_qty, 0), 0) AS value_at_risk
    FROM features
),
scored AS (
    SELECT *,
           $w_value * log10(1 + value_at_risk) AS value_points
    FROM points
),
ranked AS (
    SELECT *,
           shortage_points + mismatch_points + variance_points + adjustment_points + drift_points
             + negative_stock_points + overdue_points + velocity_points + supplier_points
             + value_points AS score
    FROM scored
),
numbered AS (
    SELECT *, CAST(row_number() OVER (ORDER BY score DESC, warehouse_id, location_id, sku) AS BIGINT) AS rank
    FROM ranked
)
SELECT rank,
       warehouse_id,
       location_id,
       sku,
       score,
       last_counted_at,
       concat_ws('; ',
           CASE WHEN pick_shortages > 0 THEN
               concat(CAST(pick_shortages AS VARCHAR), CASE WHEN pick_shortages = 1 THEN ' pick shortage' ELSE ' pick shortages' END,
                      CASE WHEN pick_shortages_7d > 0 THEN concat(' (', CAST(pick_shortages_7d AS VARCHAR), ' in the last 7 days)') END)
           END,
           CASE WHEN bin_mismatches > 0 THEN
               concat(CAST(bin_mismatches AS VARCHAR), CASE WHEN bin_mismatches = 1 THEN ' bin mismatch' ELSE ' bin mismatches' END)
           END,
           CASE WHEN counts_with_variance > 0 THEN
               concat(CAST(counts_with_variance AS VARCHAR), ' of ', CAST(counts AS VARCHAR),
                      CASE WHEN counts = 1 THEN ' count' ELSE ' counts' END, ' off',
                      CASE WHEN abs(last_variance) > $count_tolerance THEN
                          concat(', last ', CASE WHEN last_variance > 0 THEN '+' ELSE '−' END,
                                 CASE WHEN abs(last_variance) = round(abs(last_variance))
                                      THEN CAST(CAST(abs(last_variance) AS BIGINT) AS VARCHAR)
                                      ELSE CAST(round(abs(last_variance) * 10) / 10 AS VARCHAR) END,
                                 CASE WHEN abs(last_variance) = 1 THEN ' unit' ELSE ' units' END)
                      END)
           END,
           CASE WHEN unexplained_adjustments > 0 THEN
               concat(CAST(unexplained_adjustments AS VARCHAR),
                      CASE WHEN unexplained_adjustments = 1 THEN ' unexplained adjustment' ELSE ' unexplained adjustments' END)
           END,
           CASE WHEN last_counted_at IS NOT NULL AND events_since_count > 0 THEN
               concat(CAST(events_since_count AS VARCHAR),
                      CASE WHEN events_since_count = 1 THEN ' sign' ELSE ' signs' END, ' of drift since the last count')
           END,
           CASE WHEN negative_stock_points > 0 THEN 'negative stock on record' END,
           CASE WHEN last_counted_at IS NULL THEN 'never counted'
                WHEN days_since_count >= cycle_days THEN
                    concat(CAST(CAST(floor(days_since_count) AS BIGINT) AS VARCHAR), ' days since counted (cycle ',
                           CAST(CAST(cycle_days AS BIGINT) AS VARCHAR), ')')
           END
       ) AS reasons,
       shortage_points,
       mismatch_points,
       variance_points,
       adjustment_points,
       drift_points,
       negative_stock_points,
       overdue_points,
       velocity_points,
       supplier_points,
       value_points,
       counts,
       counts_with_variance,
       last_variance,
       last_system_qty,
       days_since_count,
       pick_shortages,
       pick_shortages_7d,
       bin_mismatches,
       unexplained_adjustments,
       events_since_count,
       units_picked,
       abc_class,
       zone,
       supplier_id,
       value_at_risk
FROM numbered
WHERE rank <= $top_n
ORDER BY rank
