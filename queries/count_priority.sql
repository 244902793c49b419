-- title: Cycle-count priority
-- description: The SKU-locations most likely to have a wrong stock record, ranked so the
--   team counts those first. Every SKU-location seen in counts, adjustments or picks over
--   the history (history_days, default 365, up to the end of the as-of date) collects
--   evidence points; the score is their sum. Stock-record errors are systematic (they
--   recur after a correction), so each kind of evidence counts, recent evidence more
--   (weight halves every half_life_days), and repeated evidence with diminishing
--   returns (ln(1 + x)). Evidence that picking produces anyway is weighed against the
--   bin's picks (empirical Bayes): each warehouse's own rate per pick of pick
--   shortages, bin mismatches, unexplained adjustments and phantom shortages is the
--   prior, and a SKU-location earns only the log-likelihood ratio of "its rate is
--   eb_lift times its site's" over "it is its site's", k × ln(eb_lift) − picks × site
--   rate × (eb_lift − 1), when positive: a busy bin whose shortages are what its picks
--   explain earns nothing, a bin with 40 shortages in 400 picks outranks one with 1 in
--   1. Components: pick shortages, bin mismatches (and unscannable / lot mismatch),
--   phantom stock (short picks while the status snapshot showed units available),
--   count variances (ln(1 + |variance|) per count, plus a bonus when two or more counts
--   were off), unexplained adjustments (shrink, found, other: booked damage or expiry
--   explains itself), drift since the last count (those signs again after the record
--   was corrected, against the picks since), a negative stock record at the last count,
--   overdue-ness against the ABC cycle (A 90, B 180, C 365 days; never counted = a full
--   history), pick velocity in the window (weight 0 by default: busy bins make innocent
--   noise), the supplier's receipt discrepancy rate and the value at risk. Weights are
--   `-- param:` lines below, overridden by `[params]` in opintel.toml; the nightly run
--   fits them to the site's own history (a time split, kept only when it beats these
--   on the most recent split; `priority_fit = false` turns it off) and the manifest
--   records the weights used.
-- grain: warehouse_id × location_id × sku (top top_n, default 200)
-- columns:
--   rank: 1 = count first
--   warehouse_id: warehouse of the bin
--   location_id: bin
--   sku: item
--   score: sum of the *_points columns (higher = count sooner)
--   last_counted_at: last cycle count of this SKU-location up to the as-of date (empty: never counted in the history)
--   reasons: the signals behind the score, in words
--   shortage_points: w_shortage × ln(1 + excess pick shortages): decayed shortages × ln(eb_lift) − decayed picks × the warehouse's shortage rate × (eb_lift − 1), at least 0
--   mismatch_points: w_mismatch × ln(1 + excess bin-mismatch, unscannable and lot-mismatch exceptions), weighed against picks like shortages; an exception without a SKU counts for its whole bin, one without a bin for the SKU's bins in its warehouse
--   variance_points: w_variance × ln(1 + Σ decayed ln(1 + |variance|)) over counts off by more than count_tolerance, + w_recurrence when ≥ 2 counts were off
--   adjustment_points: w_adjustment × ln(1 + excess shrink / found / other adjustments), weighed against picks like shortages
--   phantom_points: w_phantom × ln(1 + excess short picks while the status snapshot of that day or the day before showed units available), weighed against picks like shortages (0 without inventory_snapshots)
--   drift_points: w_since × ln(1 + excess shortage, mismatch and shrink / found / other events since the last count, against the picks since and the warehouse's events per pick): the record has drifted again since it was last corrected
--   negative_stock_points: w_negative when the record was below zero at the last count
--   overdue_points: w_overdue × min(2, days since counted ÷ ABC cycle days)
--   velocity_points: w_velocity × log10(1 + units picked from the bin in the window) (w_velocity 0 by default)
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
--   picks: shipments from this bin in the history (the exposure; a pick shortage is a pick too)
--   phantom_shortages: pick shortages in the history while the status snapshot showed units available
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
-- param: w_velocity = 0
-- param: w_supplier = 1
-- param: w_value = 0.2
-- param: w_since = 2
-- param: w_phantom = 2
-- param: eb_lift = 4
-- materialize: exceptions, unexplained, count_evidence, exception_evidence
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
-- Adjustments that nothing booked explains (shrink, found, other).
unexplained AS (
    SELECT warehouse_id, location_id, sku, adjusted_at
    FROM adjustments
    WHERE adjusted_at >= $history_start
      AND adjusted_at <= $window_end
      AND event_date >= $history_partition_min
      AND event_date <= $partition_max
      AND reason_code IN ('shrink', 'found', 'other')
),
adjustment_evidence AS (
    SELECT warehouse_id, location_id, sku,
           sum(exp(-((CAST($window_end_us AS DOUBLE) - CAST(CAST(adjusted_at AS BIGINT) AS DOUBLE)) / 86400e6) * ln(2.0) / $half_life_days)) AS adjustment_evidence,
           count(*) AS unexplained_adjustments
    FROM unexplained
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
    SELECT location_id, sku, adjusted_at AS at FROM unexplained
),
-- Picks from each bin over the history: the exposure that pick shortages, mismatches
-- and adjustments are weighed against (decayed like the evidence), and the picks since
-- the last count (the exposure of the drift signs). The whole UTC months from
-- $pick_months_from to $pick_months_to (inside the history, before the window, and
-- summarised by the ingest: opintel sets them, an empty range when it has none) come
-- from `pick_months`; every other shipment from the shipments. A month before the
-- window that holds the last count holds that month's last count, so the picks after
-- it are the month's picks_after_last_count.
picks AS (
    SELECT warehouse_id, location_id, sku,
           sum(units_picked) AS units_picked,
           sum(picks) AS picks,
           sum(pick_exposure) AS pick_exposure,
           sum(picks_since_count) AS picks_since_count
    FROM (
        SELECT sh.warehouse_id, sh.location_id, sh.sku,
               CASE WHEN sh.shipped_at >= $window_start THEN sh.qty_shipped ELSE 0 END AS units_picked,
               1 AS picks,
               exp(-((CAST($window_end_us AS DOUBLE) - CAST(CAST(sh.shipped_at AS BIGINT) AS DOUBLE)) / 86400e6) * ln(2.0) / $half_life_days) AS pick_exposure,
               CASE WHEN c.last_counted_at IS NULL OR sh.shipped_at > c.last_counted_at THEN 1 ELSE 0 END AS picks_since_count
        FROM shipments sh
        LEFT JOIN count_evidence c
          ON c.warehouse_id = sh.warehouse_id AND c.location_id = sh.location_id AND c.sku = sh.sku
        WHERE sh.location_id IS NOT NULL
          AND sh.shipped_at >= $history_start
          AND sh.shipped_at <= $window_end
          AND sh.event_date >= $history_partition_min
          AND sh.event_date <= $partition_max
          AND (sh.shipped_at < $pick_months_from OR sh.shipped_at >= $pick_months_to)
          AND (sh.event_date < CAST($pick_months_from AS DATE) OR sh.event_date >= CAST($pick_months_to AS DATE))
        UNION ALL
        SELECT m.warehouse_id, m.location_id, m.sku,
               0 AS units_picked,
               m.picks,
               exp(-((CAST($window_end_us AS DOUBLE) - CAST(CAST(m.month_end AS BIGINT) AS DOUBLE)) / 86400e6) * ln(2.0) / $half_life_days) * m.exposure_at_month_end AS pick_exposure,
               CASE WHEN c.last_counted_at IS NULL OR c.last_counted_at < m.month_start THEN m.picks
                    WHEN c.last_counted_at >= m.month_end THEN 0
                    ELSE m.picks_after_last_count
               END AS picks_since_count
        FROM pick_months m
        LEFT JOIN count_evidence c
          ON c.warehouse_id = m.warehouse_id AND c.location_id = m.location_id AND c.sku = m.sku
        WHERE $pick_months_from < $pick_months_to
          AND m.month_start >= $pick_months_from
          AND m.month_start < $pick_months_to
    ) all_picks
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
           p.units_picked, p.picks, p.pick_exposure, p.picks_since_count
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
-- Phantom stock: pick shortages at a SKU-location while the status snapshot of that day
-- or the day before showed units available there (the record holds what the shelf does
-- not). Without an inventory_snapshots feed there is none. The snapshots are joined to
-- the short picks before they are summed by day: only the days of the short picks'
-- SKU-locations are summed, not every SKU-location's every day.
available AS (
    SELECT x.exception_id, x.warehouse_id, x.location_id, x.sku, x.opened_at,
           CAST(s.snapshot_at AS DATE) AS snapshot_date,
           sum(s.qty) AS available_qty
    FROM exceptions x
    JOIN inventory_snapshots s
      ON s.warehouse_id = x.warehouse_id AND s.location_id = x.location_id AND s.sku = x.sku
     AND CAST(s.snapshot_at AS DATE) >= CAST(x.opened_at AS DATE) - INTERVAL '1' DAY
     AND CAST(s.snapshot_at AS DATE) <= CAST(x.opened_at AS DATE)
    WHERE x.exception_type = 'pick_shortage'
      AND s.status = 'available'
      AND s.snapshot_at >= $history_start
      AND s.snapshot_at <= $window_end
      AND s.event_date >= $history_partition_min
      AND s.event_date <= $partition_max
    GROUP BY 1, 2, 3, 4, 5, 6
),
phantom AS (
    SELECT x.warehouse_id, x.location_id, x.sku,
           sum(exp(-((CAST($window_end_us AS DOUBLE) - CAST(CAST(x.opened_at AS BIGINT) AS DOUBLE)) / 86400e6) * ln(2.0) / $half_life_days)) AS phantom_evidence,
           count(*) AS phantom_shortages
    FROM (
        SELECT exception_id, warehouse_id, location_id, sku, opened_at,
               min(available_qty) AS least_available
        FROM available
        GROUP BY 1, 2, 3, 4, 5
    ) x
    WHERE x.least_available > 0
    GROUP BY 1, 2, 3
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
           coalesce(s.picks, 0) AS picks,
           coalesce(s.picks_since_count, 0) AS picks_since_count,
           coalesce(ph.phantom_evidence, 0) AS phantom_evidence,
           coalesce(ph.phantom_shortages, 0) AS phantom_shortages,
           CASE WHEN s.last_counted_at IS NULL THEN coalesce(sa.events, 0)
                ELSE coalesce(sl.events, 0) END AS events_since_count,
           coalesce(i.unit_cost, 0) AS unit_cost,
           coalesce(i.abc_class, '') AS abc_class,
           coalesce(l.zone, 'UNKNOWN') AS zone,
           coalesce(i.supplier_id, 'UNKNOWN') AS supplier_id,
           coalesce(q.discrepancy_rate, 0) AS supplier_discrepancy_rate,
           CASE i.abc_class WHEN 'A' THEN 90.0 WHEN 'B' THEN 180.0 ELSE 365.0 END AS cycle_days,
           coalesce(s.pick_exposure, 0) AS pick_exposure
    FROM slots s
    LEFT JOIN phantom ph
      ON ph.warehouse_id = s.warehouse_id AND ph.location_id = s.location_id AND ph.sku = s.sku
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
-- Empirical Bayes: each warehouse's own rate of shortages, mismatches, unexplained
-- adjustments and phantom shortages per visit (a pick, or a short pick), over the
-- SKU-locations picked in the history, is the prior. A SKU-location's evidence is the log-likelihood
-- ratio of "its rate is eb_lift times the site's" against "it is the site's":
-- k × ln(eb_lift) − visits × rate × (eb_lift − 1), and only its positive part counts.
-- A bin picked 400 times with 40 shortages outranks one picked once and short once;
-- a busy bin whose shortages are what its picks explain earns nothing.
visits AS (
    SELECT *,
           pick_exposure + shortage_evidence AS exposure
    FROM features
),
rates AS (
    SELECT *,
           coalesce(sum(CASE WHEN picks > 0 THEN shortage_evidence END) OVER w
                    / nullif(sum(CASE WHEN picks > 0 THEN exposure END) OVER w, 0), 0) AS shortage_rate,
           coalesce(sum(CASE WHEN picks > 0 THEN mismatch_evidence END) OVER w
                    / nullif(sum(CASE WHEN picks > 0 THEN exposure END) OVER w, 0), 0) AS mismatch_rate,
           coalesce(sum(CASE WHEN picks > 0 THEN adjustment_evidence END) OVER w
                    / nullif(sum(CASE WHEN picks > 0 THEN exposure END) OVER w, 0), 0) AS adjustment_rate,
           coalesce(sum(CASE WHEN picks > 0 THEN phantom_evidence END) OVER w
                    / nullif(sum(CASE WHEN picks > 0 THEN exposure END) OVER w, 0), 0) AS phantom_rate,
           coalesce(sum(CASE WHEN picks > 0 THEN CAST(pick_shortages + bin_mismatches + unexplained_adjustments AS DOUBLE) END) OVER w
                    / nullif(sum(CASE WHEN picks > 0 THEN CAST(picks AS DOUBLE) END) OVER w, 0), 0) AS event_rate
    FROM visits
    WINDOW w AS (PARTITION BY warehouse_id)
),
excess AS (
    SELECT *,
           greatest(0.0, shortage_evidence * ln($eb_lift) - exposure * shortage_rate * ($eb_lift - 1)) AS shortage_excess,
           greatest(0.0, mismatch_evidence * ln($eb_lift) - exposure * mismatch_rate * ($eb_lift - 1)) AS mismatch_excess,
           greatest(0.0, adjustment_evidence * ln($eb_lift) - exposure * adjustment_rate * ($eb_lift - 1)) AS adjustment_excess,
           greatest(0.0, phantom_evidence * ln($eb_lift) - exposure * phantom_rate * ($eb_lift - 1)) AS phantom_excess,
           greatest(0.0, events_since_count * ln($eb_lift) - picks_since_count * event_rate * ($eb_lift - 1)) AS drift_excess
    FROM rates
),
points AS (
    SELECT *,
           $w_shortage * ln(1 + shortage_excess) AS shortage_points,
           $w_mismatch * ln(1 + mismatch_excess) AS mismatch_points,
           $w_variance * ln(1 + variance_evidence)
             + CASE WHEN counts_with_variance >= 2 THEN $w_recurrence ELSE 0 END AS variance_points,
           $w_adjustment * ln(1 + adjustment_excess) AS adjustment_points,
           $w_phantom * ln(1 + phantom_excess) AS phantom_points,
           $w_since * ln(1 + drift_excess) AS drift_points,
           CASE WHEN last_system_qty < 0 THEN $w_negative ELSE 0 END AS negative_stock_points,
           $w_overdue * least(2.0, coalesce(days_since_count, CAST($history_days AS DOUBLE)) / cycle_days) AS overdue_points,
           $w_velocity * log10(1 + units_picked) AS velocity_points,
           $w_supplier * supplier_discrepancy_rate AS supplier_points,
           unit_cost * greatest(coalesce(last_system_qty, 0), 0) AS value_at_risk
    FROM excess
),
scored AS (
    SELECT *,
           $w_value * log10(1 + value_at_risk) AS value_points
    FROM points
),
ranked AS (
    SELECT *,
           shortage_points + mismatch_points + variance_points + adjustment_points + phantom_points + drift_points
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
                      CASE WHEN picks > 0 THEN concat(' in ', CAST(picks + pick_shortages AS VARCHAR), ' picks') END,
                      CASE WHEN pick_shortages_7d > 0 THEN concat(' (', CAST(pick_shortages_7d AS VARCHAR), ' in the last 7 days)') END,
                      CASE WHEN shortage_excess = 0 THEN ', no more than its picks explain' END)
           END,
           CASE WHEN phantom_shortages > 0 THEN
               concat(CAST(phantom_shortages AS VARCHAR), CASE WHEN phantom_shortages = 1 THEN ' short pick' ELSE ' short picks' END,
                      ' while the status snapshot showed stock available')
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
       phantom_points,
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
       picks,
       phantom_shortages,
       abc_class,
       zone,
       supplier_id,
       value_at_risk
FROM numbered
WHERE rank <= $top_n
ORDER BY rank
