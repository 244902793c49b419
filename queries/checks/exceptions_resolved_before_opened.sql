-- title: Exceptions are not closed before they open
-- description: Exceptions whose first resolved or cancelled event comes before their
--   first open event: clocks out of step between systems, or events booked against
--   the wrong exception.
-- grain: exception
-- columns: exception_id, first_open_at, first_closed_at
WITH e AS (
    SELECT exception_id,
           min(CASE WHEN status = 'open' THEN event_at END) AS first_open_at,
           min(CASE WHEN status IN ('resolved', 'cancelled') THEN event_at END) AS first_closed_at
    FROM exception_events
    WHERE event_at <= $window_end
      AND event_date <= $partition_max
    GROUP BY exception_id
)
SELECT exception_id, first_open_at, first_closed_at
FROM e
WHERE first_closed_at < first_open_at
ORDER BY exception_id
