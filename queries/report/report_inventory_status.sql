-- title: Inventory status by warehouse
-- description: The report's inventory-position summary: per warehouse, the stock of its
--   latest snapshot by status, and the SKUs whose available-to-promise is below zero
--   (open orders that stock on hand cannot fill), from this run's inventory_position
--   table.
-- grain: warehouse_id
-- columns:
--   warehouse_id: warehouse
--   snapshot_at: its latest snapshot up to the end of the as-of date
--   skus: SKUs in that snapshot
--   skus_atp_negative: SKUs with available_to_promise < 0
--   units_short: Σ −available_to_promise over those SKUs
--   available: Σ available
--   reserved: Σ reserved
--   quarantined: Σ quarantined
--   damaged: Σ damaged
--   in_transit: Σ in_transit
--   on_hold: Σ on_hold
--   on_hand: Σ on_hand
SELECT warehouse_id,
       max(snapshot_at) AS snapshot_at,
       count(*) AS skus,
       sum(CASE WHEN available_to_promise < 0 THEN 1 ELSE 0 END) AS skus_atp_negative,
       sum(CASE WHEN available_to_promise < 0 THEN -available_to_promise ELSE 0 END) AS units_short,
       sum(available) AS available,
       sum(reserved) AS reserved,
       sum(quarantined) AS quarantined,
       sum(damaged) AS damaged,
       sum(in_transit) AS in_transit,
       sum(on_hold) AS on_hold,
       sum(on_hand) AS on_hand
FROM kpi.inventory_position
GROUP BY warehouse_id
ORDER BY warehouse_id
