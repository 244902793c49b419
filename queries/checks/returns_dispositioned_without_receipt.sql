-- title: Returns are received before they are dispositioned
-- description: Returns dispositioned up to the as-of date with no "received" event:
--   the return-to-stock clock cannot start for them.
-- grain: return
-- columns: return_id, warehouse_id, dispositioned_at
SELECT d.return_id, max(d.warehouse_id) AS warehouse_id, min(d.event_at) AS dispositioned_at
FROM return_events d
WHERE d.stage = 'dispositioned'
  AND d.event_at <= $window_end
  AND d.event_date <= $partition_max
  AND NOT EXISTS (
      SELECT 1 FROM return_events r
      WHERE r.return_id = d.return_id AND r.stage = 'received' AND r.event_at <= $window_end
  )
GROUP BY d.return_id
ORDER BY d.return_id
