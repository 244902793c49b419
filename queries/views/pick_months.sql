-- title: Picks per SKU-location and month (view)
-- description: Every bin's picks (shipments with a location) in each old UTC calendar
--   month, per SKU-location, as every ingest keeps them (`_state/pick_months`; a month
--   is summarised once the shipments hold data 31 days past its end). The count
--   priority reads a year of picks three times a night (the list and the two time
--   splits its weights are fitted on): it takes the whole months of its history that
--   end before its window from here, and only the rest from the shipments. Nothing
--   here depends on the as-of date: a month's picks, its last count and the picks after
--   that count are the same for any date after the month. The exposure is summed at the
--   month's end with the half-life in `half_life_days` of `_state/pick_months` (the
--   configured `[params] half_life_days`, else 60); a reader moves it to its own instant
--   t by multiplying with exp(−(t − month_end) in days × ln 2 / half-life). Empty on a
--   lake without the state.
-- grain: warehouse_id × location_id × sku × month
-- columns:
--   warehouse_id: warehouse of the bin
--   location_id: bin
--   sku: item
--   month_start: first instant of the UTC month
--   month_end: first instant of the next UTC month
--   picks: shipments from the bin in the month
--   exposure_at_month_end: Σ exp(−(month_end − shipped_at) in days × ln 2 / half-life) over those picks
--   last_counted_at: the SKU-location's last cycle count in the month (empty when none)
--   picks_after_last_count: picks after that count (all of them when the month has none)
SELECT warehouse_id, location_id, sku, month_start, month_end, picks,
       exposure_at_month_end, last_counted_at, picks_after_last_count
FROM pick_months_kept
