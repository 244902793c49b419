#!/usr/bin/env python3
"""Independent reference for opintel's four core KPIs and nine later ones, in Python + DuckDB.

This is a second reading of the contract (docs/contract.md and docs/kpis.md), written
without looking at opintel's own SQL, so that the Rust tests can compare every row the
product computes against an engine that shares no code with it.

It reads the lake, a set of Delta Lake tables (`LAKE/<table>/_delta_log/` and Parquet files
in `LAKE/<table>/event_date=YYYY-MM-DD/`; LAKE may be a folder or an s3:// URL, with the
credentials and endpoint in the AWS_* environment variables), and writes

    OUT/fill_rate.parquet
    OUT/exception_aging.parquet
    OUT/count_variance_by_zone.parquet
    OUT/count_variance_by_supplier.parquet
    OUT/order_flow.parquet
    OUT/backorders.parquet
    OUT/exception_resolution.parquet
    OUT/count_variance_by_abc.parquet
    OUT/inventory_position.parquet
    OUT/receiving_to_available.parquet
    OUT/return_to_stock.parquet
    OUT/shipment_timeliness.parquet
    OUT/exception_backlog.parquet
    OUT/exception_recurrence.parquet

with the contract's column names and order. Types: dates DATE, counts BIGINT,
units/values/rates/hours DOUBLE, strings VARCHAR.

With --tiles it also writes OUT/tiles_current.parquet: the current-period value of the
eight tiles that derive from the four core KPIs (tile VARCHAR, value DOUBLE, one row per
tile, sorted by tile), computed from the KPI files it has just written.

Usage:
    python3 kpis_duckdb.py --lake LAKE --as-of YYYY-MM-DD --out DIR [--window-days 28]
        [--tolerance 0] [--sla critical=4,high=24,medium=72,low=168] [--tiles]
    python3 kpis_duckdb.py --selfcheck

A table's files are the ones its Delta log lists at the table's current version (a folder
may hold other files: an interrupted ingest's uploads, files `opintel lake optimize`
replaced and `vacuum` has not deleted yet). A table folder without `_delta_log` (a lake of
the older layout) is read as every Parquet file below it.

Every KPI is one SQL string below, a chain of named CTEs. Run parameters (as-of date,
window, tolerance, SLA hours) are never pasted into SQL: they live in two one-off tables,
`params` and `sla`, that the queries join.
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import glob
import math
import os
import sys
import tempfile

import duckdb

# ---------------------------------------------------------------------------------------
# The lake: canonical columns of docs/contract.md for the tables these KPIs read, plus the
# system columns of the lake. str → VARCHAR, dec → DOUBLE, ts → TIMESTAMPTZ (UTC, µs).
# `time` is the table's main timestamp (the one its event_date partition is made from).
# ---------------------------------------------------------------------------------------

S, D, T = "str", "dec", "ts"
SYSTEM_COLUMNS = [("_ingest_seq", "int"), ("_source_file", S)]

TABLES = {
    "items": {
        "time": "updated_at",
        "columns": [("sku", S), ("description", S), ("family", S), ("supplier_id", S),
                    ("unit_cost", D), ("abc_class", S), ("updated_at", T)],
    },
    "locations": {
        "time": "updated_at",
        "columns": [("location_id", S), ("warehouse_id", S), ("zone", S),
                    ("location_type", S), ("updated_at", T)],
    },
    "order_lines": {
        "time": "updated_at",
        "columns": [("order_id", S), ("line_id", S), ("sku", S), ("channel", S),
                    ("warehouse_id", S), ("ordered_at", T), ("promised_ship_at", T),
                    ("qty_ordered", D), ("cancelled_qty", D), ("cancel_reason", S),
                    ("updated_at", T)],
    },
    "shipments": {
        "time": "shipped_at",
        "columns": [("event_id", S), ("shipment_id", S), ("order_id", S), ("line_id", S),
                    ("sku", S), ("warehouse_id", S), ("location_id", S),
                    ("qty_shipped", D), ("shipped_at", T), ("carrier", S)],
    },
    "receipts": {
        "time": "received_at",
        "columns": [("event_id", S), ("po_id", S), ("po_line", S), ("supplier_id", S),
                    ("sku", S), ("warehouse_id", S), ("location_id", S),
                    ("qty_expected", D), ("qty_received", D), ("qty_damaged", D),
                    ("expected_at", T), ("received_at", T), ("available_at", T)],
    },
    # §1: optional; "a row is identified by (snapshot_at, warehouse_id, location_id, sku,
    # status); the same identity sent again is a duplicate".
    "inventory_snapshots": {
        "time": "snapshot_at",
        "columns": [("snapshot_at", T), ("warehouse_id", S), ("location_id", S), ("sku", S),
                    ("status", S), ("qty", D)],
    },
    "cycle_counts": {
        "time": "counted_at",
        "columns": [("event_id", S), ("count_id", S), ("warehouse_id", S),
                    ("location_id", S), ("sku", S), ("system_qty", D), ("counted_qty", D),
                    ("counted_at", T), ("counter_id", S)],
    },
    "return_events": {
        "time": "event_at",
        "columns": [("event_id", S), ("return_id", S), ("order_id", S), ("sku", S),
                    ("warehouse_id", S), ("qty", D), ("stage", S), ("disposition", S),
                    ("reason_code", S), ("event_at", T)],
    },
    "exception_events": {
        "time": "event_at",
        "columns": [("event_id", S), ("exception_id", S), ("event_at", T), ("status", S),
                    ("exception_type", S), ("severity", S), ("owner", S),
                    ("warehouse_id", S), ("location_id", S), ("sku", S),
                    ("supplier_id", S), ("channel", S), ("order_id", S),
                    ("root_cause", S), ("impact_value", D)],
    },
}

# Type as the lake stores it (what DuckDB reports) and as the reference works with it.
# Timestamps are turned into naive UTC TIMESTAMPs on load (the session time zone is UTC),
# so that CAST(ts AS DATE) is the UTC date and no later step depends on a time zone.
STORED_TYPE = {S: "VARCHAR", D: "DOUBLE", T: "TIMESTAMP WITH TIME ZONE", "int": "BIGINT"}
WORKING_TYPE = {S: "VARCHAR", D: "DOUBLE", T: "TIMESTAMP", "int": "BIGINT"}

DEFAULT_SLA_HOURS = {"critical": 4.0, "high": 24.0, "medium": 72.0, "low": 168.0}

# The outputs and the key (grain) they sort by. The first four are the core KPIs; the
# other four (order flow, backorders, exception resolution, count variance by ABC class)
# were added later, from the same contract section.
OUTPUTS = {
    "fill_rate": ["due_date", "channel", "warehouse_id"],
    "exception_aging": ["exception_type", "severity", "age_bucket"],
    "count_variance_by_zone": ["warehouse_id", "zone"],
    "count_variance_by_supplier": ["warehouse_id", "supplier_id"],
    "order_flow": ["order_date", "channel", "warehouse_id"],
    "backorders": ["warehouse_id", "channel", "days_late_bucket"],
    "exception_resolution": ["exception_type", "severity"],
    "count_variance_by_abc": ["warehouse_id", "abc_class"],
    "inventory_position": ["warehouse_id", "sku"],
    "receiving_to_available": ["warehouse_id"],
    "return_to_stock": ["warehouse_id"],
    "shipment_timeliness": ["warehouse_id", "channel"],
    "exception_backlog": ["exception_id"],
    "exception_recurrence": ["dimension", "key", "exception_type"],
}

# ---------------------------------------------------------------------------------------
# KPI SQL. Tables available: items, locations, order_lines, shipments, cycle_counts,
# exception_events (all lake rows, typed, timestamps as naive UTC), `params` (one row:
# as_of DATE, window_start DATE, start_ts TIMESTAMP, end_ts TIMESTAMP, tolerance DOUBLE)
# and `sla` (severity VARCHAR, sla_hours DOUBLE).
#
# Contract §4: "end(D) is D 23:59:59.999999 UTC. Only rows with their timestamp ≤ end(D)
# count, so a re-run for an old date gives the same answer after newer data has arrived."
# Window of W days ending on D: [D−W+1 00:00:00, end(D)].
# ---------------------------------------------------------------------------------------

FILL_RATE_SQL = """
WITH
-- §1 "Order lines: latest version per (order_id, line_id) wins, by updated_at";
-- as of D: versions updated after end(D) do not exist yet. Ties: the later ingested row.
line_versions AS (
    SELECT l.*
    FROM order_lines AS l, params AS p
    WHERE l.updated_at <= p.end_ts
    QUALIFY row_number() OVER (
        PARTITION BY l.order_id, l.line_id
        ORDER BY l.updated_at DESC, l._ingest_seq DESC) = 1
),
-- §4 "A line is due on the date of its promised_ship_at; lines due in the window count.
-- demand = qty_ordered − (cancelled_qty when cancel_reason = customer, else 0)".
-- cancelled_qty defaults to 0 (§1), so NULL counts as 0.
due_lines AS (
    SELECT
        CAST(l.promised_ship_at AS DATE) AS due_date,
        l.channel,
        l.warehouse_id,
        l.order_id,
        l.line_id,
        l.promised_ship_at,
        l.qty_ordered
            - CASE WHEN l.cancel_reason = 'customer' THEN coalesce(l.cancelled_qty, 0.0)
                   ELSE 0.0 END AS demand
    FROM line_versions AS l, params AS p
    WHERE CAST(l.promised_ship_at AS DATE) BETWEEN p.window_start AND p.as_of
),
-- "lines with demand ≤ 0 are left out."
demanded_lines AS (
    SELECT * FROM due_lines WHERE demand > 0
),
-- Shipment events: de-duplicated by event_id (first ingested wins), then only those
-- shipped by end(D).
shipment_events AS (
    SELECT s.order_id, s.line_id, s.qty_shipped, s.shipped_at
    FROM (
        SELECT * FROM shipments
        QUALIFY row_number() OVER (PARTITION BY event_id ORDER BY _ingest_seq) = 1
    ) AS s, params AS p
    WHERE s.shipped_at <= p.end_ts
),
-- "shipped = Σ qty_shipped of its shipments with shipped_at ≤ end(D)"; shipments match a
-- line on (order_id, line_id) only. For OTIF: "Σ qty_shipped where shipped_at ≤
-- promised_ship_at".
shipped_per_line AS (
    SELECT
        l.order_id,
        l.line_id,
        sum(s.qty_shipped) AS shipped,
        coalesce(sum(s.qty_shipped) FILTER (WHERE s.shipped_at <= l.promised_ship_at), 0.0)
            AS shipped_on_time
    FROM demanded_lines AS l
    JOIN shipment_events AS s ON s.order_id = l.order_id AND s.line_id = l.line_id
    GROUP BY l.order_id, l.line_id
),
-- "filled = min(shipped, demand)"; a line is full when shipped ≥ demand, on time and in
-- full when its on-time shipped ≥ demand.
line_results AS (
    SELECT
        l.*,
        coalesce(x.shipped, 0.0) AS shipped,
        least(coalesce(x.shipped, 0.0), l.demand) AS filled,
        coalesce(x.shipped, 0.0) >= l.demand AS line_full,
        coalesce(x.shipped_on_time, 0.0) >= l.demand AS line_otif
    FROM demanded_lines AS l
    LEFT JOIN shipped_per_line AS x ON x.order_id = l.order_id AND x.line_id = l.line_id
),
-- "order_fill_rate = share of orders (order_id within the same due_date, channel,
-- warehouse_id) whose every line there has shipped ≥ demand".
order_results AS (
    SELECT due_date, channel, warehouse_id, order_id, bool_and(line_full) AS order_full
    FROM line_results
    GROUP BY due_date, channel, warehouse_id, order_id
),
order_groups AS (
    SELECT
        due_date, channel, warehouse_id,
        CAST(count_if(order_full) AS DOUBLE) / count(*) AS order_fill_rate
    FROM order_results
    GROUP BY due_date, channel, warehouse_id
),
line_groups AS (
    SELECT
        due_date, channel, warehouse_id,
        CAST(count(*) AS BIGINT) AS lines,
        CAST(count(DISTINCT order_id) AS BIGINT) AS orders,
        CAST(sum(demand) AS DOUBLE) AS units_demanded,
        CAST(sum(filled) AS DOUBLE) AS units_filled,
        CAST(count_if(line_full) AS DOUBLE) / count(*) AS line_fill_rate,
        CAST(count_if(line_otif) AS DOUBLE) / count(*) AS otif_rate
    FROM line_results
    GROUP BY due_date, channel, warehouse_id
)
SELECT
    g.due_date,
    CAST(g.channel AS VARCHAR) AS channel,
    CAST(g.warehouse_id AS VARCHAR) AS warehouse_id,
    g.lines,
    g.orders,
    g.units_demanded,
    g.units_filled,
    g.units_filled / g.units_demanded AS unit_fill_rate,   -- Σfilled / Σdemand
    g.line_fill_rate,
    o.order_fill_rate,
    g.otif_rate
FROM line_groups AS g
JOIN order_groups AS o
  ON o.due_date = g.due_date
 AND o.channel IS NOT DISTINCT FROM g.channel
 AND o.warehouse_id IS NOT DISTINCT FROM g.warehouse_id
ORDER BY g.due_date, g.channel, g.warehouse_id
"""

EXCEPTION_AGING_SQL = """
WITH
-- Exception events, de-duplicated by event_id (first ingested wins), known by end(D).
events AS (
    SELECT e.*
    FROM (
        SELECT * FROM exception_events
        QUALIFY row_number() OVER (PARTITION BY event_id ORDER BY _ingest_seq) = 1
    ) AS e, params AS p
    WHERE e.event_at <= p.end_ts
),
-- §4 "The state of an exception at end(D) is its latest event with event_at ≤ end(D);
-- its attributes (type, severity, warehouse, …) are those of that latest event.
-- opened_at = its earliest event_at." Ties on event_at: the later ingested event.
exception_state AS (
    SELECT
        exception_id,
        status,
        exception_type,
        severity,
        min(event_at) OVER (PARTITION BY exception_id) AS opened_at
    FROM events
    QUALIFY row_number() OVER (
        PARTITION BY exception_id
        ORDER BY event_at DESC, _ingest_seq DESC) = 1
),
-- "Open = latest status not in (resolved, cancelled). age = end(D) − opened_at", in
-- hours, from the exact difference in microseconds.
open_exceptions AS (
    SELECT
        x.exception_type,
        x.severity,
        CAST(epoch_us(p.end_ts) - epoch_us(x.opened_at) AS DOUBLE)
            / CAST(3600000000 AS DOUBLE) AS age_hours
    FROM exception_state AS x, params AS p
    WHERE x.status NOT IN ('resolved', 'cancelled')
),
-- "Buckets: 0-1d, 1-3d, 3-7d, 7-14d, 14-30d, 30d+ (lower bound inclusive)";
-- "breached = age > SLA" with the SLA hours of the severity.
aged AS (
    SELECT
        o.exception_type,
        o.severity,
        o.age_hours,
        CASE
            WHEN o.age_hours < 24  THEN '0-1d'
            WHEN o.age_hours < 72  THEN '1-3d'
            WHEN o.age_hours < 168 THEN '3-7d'
            WHEN o.age_hours < 336 THEN '7-14d'
            WHEN o.age_hours < 720 THEN '14-30d'
            ELSE '30d+'
        END AS age_bucket,
        CASE
            WHEN o.age_hours < 24  THEN 1
            WHEN o.age_hours < 72  THEN 2
            WHEN o.age_hours < 168 THEN 3
            WHEN o.age_hours < 336 THEN 4
            WHEN o.age_hours < 720 THEN 5
            ELSE 6
        END AS bucket_order,
        coalesce(o.age_hours > s.sla_hours, false) AS breached
    FROM open_exceptions AS o
    LEFT JOIN sla AS s ON s.severity = o.severity
)
SELECT
    p.as_of,
    CAST(a.exception_type AS VARCHAR) AS exception_type,
    CAST(a.severity AS VARCHAR) AS severity,
    a.age_bucket,
    CAST(count(*) AS BIGINT) AS open_count,
    CAST(count_if(a.breached) AS BIGINT) AS breached_count,
    CAST(max(a.age_hours) AS DOUBLE) AS oldest_age_hours
FROM aged AS a, params AS p
GROUP BY p.as_of, a.exception_type, a.severity, a.age_bucket, a.bucket_order
ORDER BY a.exception_type, a.severity, a.bucket_order
"""

# One row per cycle count in the window with its zone, supplier, ABC class, variance and
# value; the three count-variance KPIs group it by zone, by supplier and by ABC class.
COUNT_VARIANCE_DETAIL_SQL = """
WITH
-- "cycle counts with counted_at in the window", de-duplicated by event_id.
counts AS (
    SELECT c.*
    FROM (
        SELECT * FROM cycle_counts
        QUALIFY row_number() OVER (PARTITION BY event_id ORDER BY _ingest_seq) = 1
    ) AS c, params AS p
    WHERE c.counted_at >= p.start_ts AND c.counted_at <= p.end_ts
),
-- §1 master data: "latest version per key wins, by updated_at (ties: the later ingested
-- row)", as of end(D).
items_as_of AS (
    SELECT i.*
    FROM items AS i, params AS p
    WHERE i.updated_at <= p.end_ts
    QUALIFY row_number() OVER (
        PARTITION BY i.sku ORDER BY i.updated_at DESC, i._ingest_seq DESC) = 1
),
locations_as_of AS (
    SELECT l.*
    FROM locations AS l, params AS p
    WHERE l.updated_at <= p.end_ts
    QUALIFY row_number() OVER (
        PARTITION BY l.location_id ORDER BY l.updated_at DESC, l._ingest_seq DESC) = 1
),
-- "variance = counted_qty − system_qty; value = variance × unit_cost of the sku (0 when
-- unknown); accurate = |variance| ≤ tolerance. Zone comes from locations by location_id,
-- supplier from items by sku; an unmatched key is grouped as UNKNOWN, never dropped."
-- Count variance by ABC class: "grouped by warehouse_id, abc_class (the SKU's class as of
-- end(D); empty or unknown → UNKNOWN)": a SKU not in items, or with a NULL or '' class.
-- The warehouse is the count's own warehouse_id.
detail AS (
    SELECT
        c.warehouse_id,
        coalesce(loc.zone, 'UNKNOWN') AS zone,
        coalesce(i.supplier_id, 'UNKNOWN') AS supplier_id,
        CASE WHEN i.abc_class IS NULL OR i.abc_class = '' THEN 'UNKNOWN'
             ELSE i.abc_class END AS abc_class,
        c.counted_qty - c.system_qty AS variance,
        CASE WHEN i.unit_cost IS NULL THEN 0.0
             ELSE (c.counted_qty - c.system_qty) * i.unit_cost END AS value,
        abs(c.counted_qty - c.system_qty) <= p.tolerance AS accurate
    FROM counts AS c
    CROSS JOIN params AS p
    LEFT JOIN locations_as_of AS loc ON loc.location_id = c.location_id
    LEFT JOIN items_as_of AS i ON i.sku = c.sku
)
SELECT * FROM detail
"""

def _count_variance_by(key: str) -> str:
    """Count variance grouped by warehouse_id and `key` (zone, supplier_id, abc_class):
    the same measures for every grouping, as the contract defines them once."""
    return f"""
SELECT
    CAST(warehouse_id AS VARCHAR) AS warehouse_id,
    CAST({key} AS VARCHAR) AS {key},
    CAST(count(*) AS BIGINT) AS counts,
    CAST(count_if(accurate) AS BIGINT) AS accurate_counts,
    CAST(count_if(accurate) AS DOUBLE) / count(*) AS accuracy_rate,
    CAST(sum(variance) AS DOUBLE) AS net_variance_units,
    CAST(sum(abs(variance)) AS DOUBLE) AS abs_variance_units,
    CAST(sum(value) AS DOUBLE) AS net_variance_value,
    CAST(sum(abs(value)) AS DOUBLE) AS abs_variance_value
FROM count_variance_detail
GROUP BY warehouse_id, {key}
ORDER BY warehouse_id, {key}
"""


COUNT_VARIANCE_BY_ZONE_SQL = _count_variance_by("zone")
COUNT_VARIANCE_BY_SUPPLIER_SQL = _count_variance_by("supplier_id")
COUNT_VARIANCE_BY_ABC_SQL = _count_variance_by("abc_class")

# Medians and p90s of the KPIs below. Median: DuckDB's median(), the middle value, or for
# an even count the mean of the two middle values (it interpolates halfway). p90:
# contract §4 "p90 is nearest-rank: the smallest value with at least 90% of the values
# ≤ it", taken literally: per value, `at_most` = how many values of its group are ≤ it
# (a RANGE frame counts the ties too) and `n` = how many the group has; the p90 is the
# smallest value with at_most ≥ 0.9 × n, compared in integers (10 × at_most ≥ 9 × n).

ORDER_FLOW_SQL = """
WITH
-- §1 "Order lines: latest version per (order_id, line_id) wins, by updated_at";
-- as of D: versions updated after end(D) do not exist yet. Ties: the later ingested row.
line_versions AS (
    SELECT l.*
    FROM order_lines AS l, params AS p
    WHERE l.updated_at <= p.end_ts
    QUALIFY row_number() OVER (
        PARTITION BY l.order_id, l.line_id
        ORDER BY l.updated_at DESC, l._ingest_seq DESC) = 1
),
-- §4 order flow: "The current order lines as of end(D) whose ordered_at date (reporting
-- time zone) falls in the window and whose demand (as in fill rate) is > 0."
-- Fill rate: "demand = qty_ordered − (cancelled_qty when cancel_reason = customer,
-- else 0)"; cancelled_qty defaults to 0 (§1).
window_lines AS (
    SELECT
        l.order_id,
        l.line_id,
        l.channel,
        l.warehouse_id,
        l.ordered_at,
        l.qty_ordered
            - CASE WHEN l.cancel_reason = 'customer' THEN coalesce(l.cancelled_qty, 0.0)
                   ELSE 0.0 END AS demand,
        -- "stockout_cancel_rate (share of lines with cancel_reason = stockout and
        -- cancelled_qty > 0)"
        coalesce(l.cancel_reason = 'stockout' AND l.cancelled_qty > 0, false)
            AS stockout_cancelled
    FROM line_versions AS l, params AS p
    WHERE CAST(l.ordered_at AS DATE) BETWEEN p.window_start AND p.as_of
),
flow_lines AS (
    SELECT * FROM window_lines WHERE demand > 0
),
-- Shipment events: de-duplicated by event_id (first ingested wins), then only those
-- shipped by end(D).
shipment_events AS (
    SELECT s.shipment_id, s.order_id, s.line_id, s.qty_shipped, s.shipped_at
    FROM (
        SELECT * FROM shipments
        QUALIFY row_number() OVER (PARTITION BY event_id ORDER BY _ingest_seq) = 1
    ) AS s, params AS p
    WHERE s.shipped_at <= p.end_ts
),
-- "A line's shipments are those matched on (order_id, line_id) with shipped_at ≤ end(D)."
line_shipments AS (
    SELECT l.order_id, l.line_id, l.channel, l.warehouse_id,
           s.shipment_id, s.qty_shipped, s.shipped_at
    FROM flow_lines AS l
    JOIN shipment_events AS s ON s.order_id = l.order_id AND s.line_id = l.line_id
),
shipped_per_line AS (
    SELECT order_id, line_id, sum(qty_shipped) AS shipped
    FROM line_shipments
    GROUP BY order_id, line_id
),
line_results AS (
    SELECT l.*, coalesce(x.shipped, 0.0) >= l.demand AS line_complete
    FROM flow_lines AS l
    LEFT JOIN shipped_per_line AS x ON x.order_id = l.order_id AND x.line_id = l.line_id
),
-- "An order is an order_id within one channel × warehouse_id." "An order is complete when
-- every one of its lines has shipped ≥ demand." Its lines are its lines in scope (above).
-- Reading: the order counts on the date of its earliest ordered_at, with all its lines.
orders AS (
    SELECT
        order_id,
        channel,
        warehouse_id,
        min(ordered_at) AS first_ordered_at,
        count(*) AS lines,
        count_if(stockout_cancelled) AS stockout_lines,
        bool_and(line_complete) AS complete
    FROM line_results
    GROUP BY order_id, channel, warehouse_id
),
-- "its lines' shipments carry more than one distinct shipment_id"; "its latest shipped_at".
order_shipments AS (
    SELECT
        order_id,
        channel,
        warehouse_id,
        count(DISTINCT shipment_id) AS shipment_ids,
        max(shipped_at) AS last_shipped_at
    FROM line_shipments
    GROUP BY order_id, channel, warehouse_id
),
-- "order_to_ship_hours … over complete orders: hours from the order's earliest ordered_at
-- to its latest shipped_at", from the exact difference in microseconds.
order_results AS (
    SELECT
        CAST(o.first_ordered_at AS DATE) AS order_date,
        o.channel,
        o.warehouse_id,
        o.lines,
        o.stockout_lines,
        o.complete,
        o.complete AND coalesce(s.shipment_ids, 0) > 1 AS split,
        CASE WHEN o.complete
             THEN CAST(epoch_us(s.last_shipped_at) - epoch_us(o.first_ordered_at) AS DOUBLE)
                  / CAST(3600000000 AS DOUBLE)
        END AS hours
    FROM orders AS o
    LEFT JOIN order_shipments AS s
      ON s.order_id = o.order_id
     AND s.channel IS NOT DISTINCT FROM o.channel
     AND s.warehouse_id IS NOT DISTINCT FROM o.warehouse_id
),
-- For the nearest-rank p90 (see above): over the complete orders of the group.
ranked AS (
    SELECT
        r.*,
        count(r.hours) OVER (
            PARTITION BY r.order_date, r.channel, r.warehouse_id
            ORDER BY r.hours
            RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS at_most,
        count(r.hours) OVER (PARTITION BY r.order_date, r.channel, r.warehouse_id) AS n
    FROM order_results AS r
)
SELECT
    order_date,
    CAST(channel AS VARCHAR) AS channel,
    CAST(warehouse_id AS VARCHAR) AS warehouse_id,
    CAST(count(*) AS BIGINT) AS orders,
    CAST(sum(lines) AS BIGINT) AS lines,
    CAST(count_if(complete) AS BIGINT) AS complete_orders,
    -- "share of complete orders whose lines' shipments carry more than one distinct
    -- shipment_id; NULL when no complete order"
    CAST(count_if(split) AS DOUBLE) / nullif(count_if(complete), 0) AS split_shipment_rate,
    CAST(median(hours) AS DOUBLE) AS order_to_ship_hours_median,
    CAST(min(hours) FILTER (WHERE hours IS NOT NULL AND 10 * at_most >= 9 * n) AS DOUBLE)
        AS order_to_ship_hours_p90,
    CAST(sum(stockout_lines) AS DOUBLE) / sum(lines) AS stockout_cancel_rate
FROM ranked
GROUP BY order_date, channel, warehouse_id
ORDER BY order_date, channel, warehouse_id
"""

BACKORDERS_SQL = """
WITH
-- §1 "Order lines: latest version per (order_id, line_id) wins, by updated_at"; as of D.
line_versions AS (
    SELECT l.*
    FROM order_lines AS l, params AS p
    WHERE l.updated_at <= p.end_ts
    QUALIFY row_number() OVER (
        PARTITION BY l.order_id, l.line_id
        ORDER BY l.updated_at DESC, l._ingest_seq DESC) = 1
),
-- §4 backorders, "a snapshot at end(D): current lines as of end(D) with demand > 0,
-- promised_ship_at ≤ end(D)" (no window). Demand as in fill rate.
due_lines AS (
    SELECT
        l.order_id,
        l.line_id,
        l.channel,
        l.warehouse_id,
        l.promised_ship_at,
        l.qty_ordered
            - CASE WHEN l.cancel_reason = 'customer' THEN coalesce(l.cancelled_qty, 0.0)
                   ELSE 0.0 END AS demand
    FROM line_versions AS l, params AS p
    WHERE l.promised_ship_at <= p.end_ts
),
demanded_lines AS (
    SELECT * FROM due_lines WHERE demand > 0
),
-- Shipment events: de-duplicated by event_id (first ingested wins), shipped by end(D).
shipment_events AS (
    SELECT s.order_id, s.line_id, s.qty_shipped
    FROM (
        SELECT * FROM shipments
        QUALIFY row_number() OVER (PARTITION BY event_id ORDER BY _ingest_seq) = 1
    ) AS s, params AS p
    WHERE s.shipped_at <= p.end_ts
),
shipped_per_line AS (
    SELECT l.order_id, l.line_id, sum(s.qty_shipped) AS shipped
    FROM demanded_lines AS l
    JOIN shipment_events AS s ON s.order_id = l.order_id AND s.line_id = l.line_id
    GROUP BY l.order_id, l.line_id
),
-- "and shipped (≤ end(D)) < demand".
open_lines AS (
    SELECT l.*, coalesce(x.shipped, 0.0) AS shipped
    FROM demanded_lines AS l
    LEFT JOIN shipped_per_line AS x ON x.order_id = l.order_id AND x.line_id = l.line_id
    WHERE coalesce(x.shipped, 0.0) < l.demand
),
-- "days_late = (end(D) − promised_ship_at) in days", from the exact difference in µs.
late_lines AS (
    SELECT
        o.*,
        CAST(epoch_us(p.end_ts) - epoch_us(o.promised_ship_at) AS DOUBLE)
            / CAST(86400000000 AS DOUBLE) AS days_late
    FROM open_lines AS o, params AS p
),
-- "buckets 0-1d, 1-3d, 3-7d, 7-14d, 14d+ (lower bound inclusive)".
bucketed AS (
    SELECT
        *,
        CASE
            WHEN days_late < 1  THEN '0-1d'
            WHEN days_late < 3  THEN '1-3d'
            WHEN days_late < 7  THEN '3-7d'
            WHEN days_late < 14 THEN '7-14d'
            ELSE '14d+'
        END AS days_late_bucket,
        CASE
            WHEN days_late < 1  THEN 1
            WHEN days_late < 3  THEN 2
            WHEN days_late < 7  THEN 3
            WHEN days_late < 14 THEN 4
            ELSE 5
        END AS bucket_order
    FROM late_lines
)
SELECT
    p.as_of,
    CAST(b.warehouse_id AS VARCHAR) AS warehouse_id,
    CAST(b.channel AS VARCHAR) AS channel,
    b.days_late_bucket,
    CAST(count(*) AS BIGINT) AS lines,
    -- "units_open (Σ demand − shipped)"
    CAST(sum(b.demand - b.shipped) AS DOUBLE) AS units_open,
    CAST(max(b.days_late) AS DOUBLE) AS oldest_days_late
FROM bucketed AS b, params AS p
GROUP BY p.as_of, b.warehouse_id, b.channel, b.days_late_bucket, b.bucket_order
ORDER BY b.warehouse_id, b.channel, b.bucket_order
"""

EXCEPTION_RESOLUTION_SQL = """
WITH
-- Exception events, de-duplicated by event_id (first ingested wins), known by end(D).
events AS (
    SELECT e.*
    FROM (
        SELECT * FROM exception_events
        QUALIFY row_number() OVER (PARTITION BY event_id ORDER BY _ingest_seq) = 1
    ) AS e, params AS p
    WHERE e.event_at <= p.end_ts
),
-- "state at end(D) (as in exception aging)": the latest event with event_at ≤ end(D)
-- (ties: the later ingested event); "opened_at = its earliest event_at".
exception_state AS (
    SELECT
        exception_id,
        status,
        exception_type,
        severity,
        event_at AS latest_event_at,
        min(event_at) OVER (PARTITION BY exception_id) AS opened_at
    FROM events
    QUALIFY row_number() OVER (
        PARTITION BY exception_id
        ORDER BY event_at DESC, _ingest_seq DESC) = 1
),
-- §4 exception resolution: "exceptions whose state at end(D) is resolved and whose
-- resolved_at — the event_at of that latest event — falls in the window; type and
-- severity from that latest event; hours = resolved_at − opened_at".
resolved AS (
    SELECT
        x.exception_type,
        x.severity,
        CAST(epoch_us(x.latest_event_at) - epoch_us(x.opened_at) AS DOUBLE)
            / CAST(3600000000 AS DOUBLE) AS hours
    FROM exception_state AS x, params AS p
    WHERE x.status = 'resolved'
      AND x.latest_event_at >= p.start_ts
      AND x.latest_event_at <= p.end_ts
),
-- "resolved_within_sla_rate (share with hours ≤ the severity's SLA)".
judged AS (
    SELECT r.*, coalesce(r.hours <= s.sla_hours, false) AS within_sla
    FROM resolved AS r
    LEFT JOIN sla AS s ON s.severity = r.severity
),
-- For the nearest-rank p90 (see above).
ranked AS (
    SELECT
        j.*,
        count(*) OVER (
            PARTITION BY j.exception_type, j.severity
            ORDER BY j.hours
            RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS at_most,
        count(*) OVER (PARTITION BY j.exception_type, j.severity) AS n
    FROM judged AS j
)
SELECT
    CAST(exception_type AS VARCHAR) AS exception_type,
    CAST(severity AS VARCHAR) AS severity,
    CAST(count(*) AS BIGINT) AS resolved,
    CAST(median(hours) AS DOUBLE) AS resolution_hours_median,
    CAST(min(hours) FILTER (WHERE 10 * at_most >= 9 * n) AS DOUBLE) AS resolution_hours_p90,
    CAST(count_if(within_sla) AS DOUBLE) / count(*) AS resolved_within_sla_rate
FROM ranked
GROUP BY exception_type, severity
ORDER BY exception_type, severity
"""

INVENTORY_POSITION_SQL = """
WITH
-- Snapshot rows, one per identity (the first ingested wins), taken by end(D).
snapshot_rows AS (
    SELECT s.*
    FROM (
        SELECT * FROM inventory_snapshots
        QUALIFY row_number() OVER (
            PARTITION BY snapshot_at, warehouse_id, location_id, sku, status
            ORDER BY _ingest_seq) = 1
    ) AS s, params AS p
    WHERE s.snapshot_at <= p.end_ts
),
-- §4: "per warehouse, its latest snapshot_at ≤ end(D); that snapshot's rows summed by
-- sku and status".
latest_rows AS (
    SELECT *
    FROM snapshot_rows
    QUALIFY snapshot_at = max(snapshot_at) OVER (PARTITION BY warehouse_id)
),
by_sku AS (
    SELECT
        snapshot_at,
        warehouse_id,
        sku,
        coalesce(sum(qty) FILTER (WHERE status = 'available'), 0.0) AS available,
        coalesce(sum(qty) FILTER (WHERE status = 'reserved'), 0.0) AS reserved,
        coalesce(sum(qty) FILTER (WHERE status = 'quarantined'), 0.0) AS quarantined,
        coalesce(sum(qty) FILTER (WHERE status = 'damaged'), 0.0) AS damaged,
        coalesce(sum(qty) FILTER (WHERE status = 'in_transit'), 0.0) AS in_transit,
        coalesce(sum(qty) FILTER (WHERE status = 'on_hold'), 0.0) AS on_hold
    FROM latest_rows
    GROUP BY snapshot_at, warehouse_id, sku
),
-- "open_demand = Σ (demand − shipped) over current lines of that warehouse and sku,
-- ordered ≤ end(D), demand > 0, shipped (≤ end(D)) < demand".
line_versions AS (
    SELECT l.*
    FROM order_lines AS l, params AS p
    WHERE l.updated_at <= p.end_ts
    QUALIFY row_number() OVER (
        PARTITION BY l.order_id, l.line_id
        ORDER BY l.updated_at DESC, l._ingest_seq DESC) = 1
),
demanded AS (
    SELECT
        l.order_id, l.line_id, l.warehouse_id, l.sku,
        l.qty_ordered
            - CASE WHEN l.cancel_reason = 'customer' THEN coalesce(l.cancelled_qty, 0.0)
                   ELSE 0.0 END AS demand
    FROM line_versions AS l, params AS p
    WHERE l.ordered_at <= p.end_ts
),
shipped AS (
    SELECT s.order_id, s.line_id, sum(s.qty_shipped) AS shipped
    FROM (
        SELECT * FROM shipments
        QUALIFY row_number() OVER (PARTITION BY event_id ORDER BY _ingest_seq) = 1
    ) AS s, params AS p
    WHERE s.shipped_at <= p.end_ts
    GROUP BY s.order_id, s.line_id
),
open_demand AS (
    SELECT d.warehouse_id, d.sku, sum(d.demand - coalesce(x.shipped, 0.0)) AS open_demand
    FROM demanded AS d
    LEFT JOIN shipped AS x ON x.order_id = d.order_id AND x.line_id = d.line_id
    WHERE d.demand > 0 AND coalesce(x.shipped, 0.0) < d.demand
    GROUP BY d.warehouse_id, d.sku
)
SELECT
    CAST(b.snapshot_at AS TIMESTAMPTZ) AS snapshot_at,
    CAST(b.warehouse_id AS VARCHAR) AS warehouse_id,
    CAST(b.sku AS VARCHAR) AS sku,
    b.available, b.reserved, b.quarantined, b.damaged, b.in_transit, b.on_hold,
    -- "on_hand (all statuses but in_transit)"
    b.available + b.reserved + b.quarantined + b.damaged + b.on_hold AS on_hand,
    coalesce(o.open_demand, 0.0) AS open_demand,
    -- "available_to_promise (available − max(0, open_demand − reserved))"
    b.available - greatest(0.0, coalesce(o.open_demand, 0.0) - b.reserved)
        AS available_to_promise
FROM by_sku AS b
LEFT JOIN open_demand AS o ON o.warehouse_id = b.warehouse_id AND o.sku = b.sku
ORDER BY b.warehouse_id, b.sku
"""

RECEIVING_TO_AVAILABLE_SQL = """
WITH
receipt_lines AS (
    SELECT r.*
    FROM (
        SELECT * FROM receipts
        QUALIFY row_number() OVER (PARTITION BY event_id ORDER BY _ingest_seq) = 1
    ) AS r
),
-- §4: "receipt lines with available_at in the window and available_at ≥ received_at".
timed AS (
    SELECT
        r.warehouse_id,
        CAST(epoch_us(r.available_at) - epoch_us(r.received_at) AS DOUBLE)
            / CAST(3600000000 AS DOUBLE) AS hours
    FROM receipt_lines AS r, params AS p
    WHERE r.available_at >= p.start_ts
      AND r.available_at <= p.end_ts
      AND r.available_at >= r.received_at
),
-- Nearest-rank p90: the smallest value with at least 90% of the values ≤ it.
ranked AS (
    SELECT
        t.*,
        count(*) OVER (
            PARTITION BY t.warehouse_id ORDER BY t.hours
            RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS at_most,
        count(*) OVER (PARTITION BY t.warehouse_id) AS n
    FROM timed AS t
)
SELECT
    CAST(warehouse_id AS VARCHAR) AS warehouse_id,
    CAST(count(*) AS BIGINT) AS receipt_lines,
    CAST(median(hours) AS DOUBLE) AS hours_median,
    CAST(min(hours) FILTER (WHERE 10 * at_most >= 9 * n) AS DOUBLE) AS hours_p90
FROM ranked
GROUP BY warehouse_id
ORDER BY warehouse_id
"""

# Return-to-stock (queries/return_to_stock.sql, its header): "hours from a return's first
# received event to its dispositioned event with disposition restock", over the returns
# dispositioned in the window; a return dispositioned twice counts by its last
# disposition (warehouse and disposition of that event). Median and p90 interpolate.
RETURN_TO_STOCK_SQL = """
WITH
events AS (
    SELECT e.*
    FROM (
        SELECT * FROM return_events
        QUALIFY row_number() OVER (PARTITION BY event_id ORDER BY _ingest_seq) = 1
    ) AS e, params AS p
    WHERE e.event_at <= p.end_ts
),
first_received AS (
    SELECT return_id, min(event_at) AS received_at
    FROM events
    WHERE stage = 'received'
    GROUP BY return_id
),
last_disposition AS (
    SELECT return_id, warehouse_id, disposition, event_at AS dispositioned_at
    FROM events
    WHERE stage = 'dispositioned'
    QUALIFY row_number() OVER (
        PARTITION BY return_id ORDER BY event_at DESC, _ingest_seq DESC) = 1
),
in_window AS (
    SELECT
        d.warehouse_id,
        d.disposition,
        CASE WHEN d.disposition = 'restock'
             THEN CAST(epoch_us(d.dispositioned_at) - epoch_us(r.received_at) AS DOUBLE)
                  / CAST(3600000000 AS DOUBLE)
        END AS hours
    FROM last_disposition AS d
    LEFT JOIN first_received AS r ON r.return_id = d.return_id, params AS p
    WHERE d.dispositioned_at >= p.start_ts
),
per_site AS (
    SELECT warehouse_id, 0 AS network, * EXCLUDE (warehouse_id) FROM in_window
    UNION ALL
    SELECT 'ALL', 1, * EXCLUDE (warehouse_id) FROM in_window
)
SELECT
    CAST(warehouse_id AS VARCHAR) AS warehouse_id,
    CAST(count(*) AS BIGINT) AS returns_dispositioned,
    CAST(count(*) FILTER (WHERE disposition = 'restock') AS BIGINT) AS returns_restocked,
    CAST(count(*) FILTER (WHERE disposition = 'restock') AS DOUBLE) / count(*) AS restock_share,
    CAST(quantile_cont(hours, 0.5) AS DOUBLE) AS median_hours,
    CAST(quantile_cont(hours, 0.9) AS DOUBLE) AS p90_hours
FROM per_site
GROUP BY warehouse_id, network
ORDER BY network, warehouse_id
"""

# Shipment timeliness (queries/shipment_timeliness.sql, its header): order lines due in the
# window (promised_ship_at's date) with demand > 0; "shipped" when the shipments up to
# end(D) cover the demand, "on time" when those by promised_ship_at do; hours late from
# the promise to the line's last shipment, for lines shipped in full but not on time.
SHIPMENT_TIMELINESS_SQL = """
WITH
line_versions AS (
    SELECT l.*
    FROM order_lines AS l, params AS p
    WHERE l.updated_at <= p.end_ts
    QUALIFY row_number() OVER (
        PARTITION BY l.order_id, l.line_id
        ORDER BY l.updated_at DESC, l._ingest_seq DESC) = 1
),
due AS (
    SELECT
        l.order_id, l.line_id, l.warehouse_id, l.channel, l.promised_ship_at,
        l.qty_ordered
            - CASE WHEN l.cancel_reason = 'customer' THEN coalesce(l.cancelled_qty, 0.0)
                   ELSE 0.0 END AS demand
    FROM line_versions AS l, params AS p
    WHERE CAST(l.promised_ship_at AS DATE) BETWEEN p.window_start AND p.as_of
),
shipped AS (
    SELECT s.order_id, s.line_id, s.qty_shipped, s.shipped_at
    FROM (
        SELECT * FROM shipments
        QUALIFY row_number() OVER (PARTITION BY event_id ORDER BY _ingest_seq) = 1
    ) AS s, params AS p
    WHERE s.shipped_at <= p.end_ts
),
lines AS (
    SELECT
        d.warehouse_id,
        d.channel,
        d.demand,
        d.promised_ship_at,
        coalesce(sum(s.qty_shipped), 0.0) AS units,
        coalesce(sum(s.qty_shipped) FILTER (WHERE s.shipped_at <= d.promised_ship_at), 0.0)
            AS units_by_promise,
        max(s.shipped_at) AS last_shipped_at
    FROM due AS d
    LEFT JOIN shipped AS s ON s.order_id = d.order_id AND s.line_id = d.line_id
    WHERE d.demand > 0
    GROUP BY d.order_id, d.line_id, d.warehouse_id, d.channel, d.demand, d.promised_ship_at
),
judged AS (
    SELECT
        warehouse_id,
        channel,
        units >= demand AS full_line,
        units_by_promise >= demand AS on_time,
        CASE WHEN units >= demand AND units_by_promise < demand
             THEN CAST(epoch_us(last_shipped_at) - epoch_us(promised_ship_at) AS DOUBLE)
                  / CAST(3600000000 AS DOUBLE)
        END AS hours_late
    FROM lines
)
SELECT
    CAST(warehouse_id AS VARCHAR) AS warehouse_id,
    CAST(channel AS VARCHAR) AS channel,
    CAST(count(*) AS BIGINT) AS lines_due,
    CAST(count_if(full_line) AS BIGINT) AS lines_shipped,
    CAST(count_if(on_time) AS BIGINT) AS on_time_lines,
    CAST(count_if(full_line AND NOT on_time) AS BIGINT) AS late_lines,
    CAST(count_if(NOT full_line) AS BIGINT) AS open_lines,
    CAST(count_if(on_time) AS DOUBLE) / nullif(count_if(full_line), 0) AS on_time_rate,
    CAST(avg(hours_late) AS DOUBLE) AS avg_hours_late,
    CAST(quantile_cont(hours_late, 0.9) AS DOUBLE) AS p90_hours_late
FROM judged
GROUP BY warehouse_id, channel
ORDER BY warehouse_id, channel
"""

# Exception backlog (queries/exception_backlog.sql, its header): every exception open at
# end(D), one row each, with the state of its latest event up to then (§4: latest by
# event_at, ties to the later ingested event; opened_at its earliest event), its age in
# hours, the SLA hours of its severity and whether the age exceeds them.
EXCEPTION_BACKLOG_SQL = """
WITH
events AS (
    SELECT e.*
    FROM (
        SELECT * FROM exception_events
        QUALIFY row_number() OVER (PARTITION BY event_id ORDER BY _ingest_seq) = 1
    ) AS e, params AS p
    WHERE e.event_at <= p.end_ts
),
latest AS (
    SELECT
        exception_id, status, exception_type, severity, owner, warehouse_id, location_id,
        sku, supplier_id,
        min(event_at) OVER (PARTITION BY exception_id) AS opened_at
    FROM events
    QUALIFY row_number() OVER (
        PARTITION BY exception_id
        ORDER BY event_at DESC, _ingest_seq DESC) = 1
),
open_now AS (
    SELECT
        x.*,
        CAST(epoch_us(p.end_ts) - epoch_us(x.opened_at) AS DOUBLE)
            / CAST(3600000000 AS DOUBLE) AS age_hours,
        s.sla_hours
    FROM latest AS x
    CROSS JOIN params AS p
    LEFT JOIN sla AS s ON s.severity = x.severity
    WHERE x.status NOT IN ('resolved', 'cancelled')
)
SELECT
    CAST(exception_id AS VARCHAR) AS exception_id,
    CAST(exception_type AS VARCHAR) AS exception_type,
    CAST(severity AS VARCHAR) AS severity,
    CAST(status AS VARCHAR) AS status,
    CAST(opened_at AS TIMESTAMPTZ) AS opened_at,
    age_hours,
    CAST(sla_hours AS DOUBLE) AS sla_hours,
    coalesce(age_hours > sla_hours, false) AS breached,
    CAST(owner AS VARCHAR) AS owner,
    CAST(warehouse_id AS VARCHAR) AS warehouse_id,
    CAST(location_id AS VARCHAR) AS location_id,
    CAST(sku AS VARCHAR) AS sku,
    CAST(supplier_id AS VARCHAR) AS supplier_id
FROM open_now
ORDER BY opened_at, exception_id
"""

# ---------------------------------------------------------------------------------------
# Exception recurrence (queries/exception_recurrence.sql, its header): exceptions whose
# first event (by event_at, then the later ingested row) is in the window, keyed by
# supplier (the exception's, else its SKU's), "warehouse · zone" of its location,
# its SKU's family and its channel, all from that first event and master data as of
# end(D); missing keys left out. repeat_share = (exceptions − distinct location × SKU
# pairs) / exceptions.
# ---------------------------------------------------------------------------------------

EXCEPTION_RECURRENCE_SQL = """
WITH
events AS (
    SELECT e.*
    FROM (
        SELECT * FROM exception_events
        QUALIFY row_number() OVER (PARTITION BY event_id ORDER BY _ingest_seq) = 1
    ) AS e, params AS p
    WHERE e.event_at <= p.end_ts
),
firsts AS (
    SELECT *
    FROM events
    QUALIFY row_number() OVER (
        PARTITION BY exception_id ORDER BY event_at, _ingest_seq) = 1
),
items_as_of AS (
    SELECT i.*
    FROM items AS i, params AS p
    WHERE i.updated_at <= p.end_ts
    QUALIFY row_number() OVER (
        PARTITION BY i.sku ORDER BY i.updated_at DESC, i._ingest_seq DESC) = 1
),
locations_as_of AS (
    SELECT l.*
    FROM locations AS l, params AS p
    WHERE l.updated_at <= p.end_ts
    QUALIFY row_number() OVER (
        PARTITION BY l.location_id ORDER BY l.updated_at DESC, l._ingest_seq DESC) = 1
),
opened AS (
    SELECT
        f.exception_id, f.event_at AS opened_at, f.exception_type, f.location_id, f.sku,
        coalesce(f.supplier_id, i.supplier_id) AS k_supplier,
        CASE WHEN l.zone IS NOT NULL THEN l.warehouse_id || ' · ' || l.zone END AS k_zone,
        i.family AS k_sku_family,
        f.channel AS k_channel
    FROM firsts AS f
    CROSS JOIN params AS p
    LEFT JOIN locations_as_of AS l ON l.location_id = f.location_id
    LEFT JOIN items_as_of AS i ON i.sku = f.sku
    WHERE f.event_at >= p.start_ts
),
keyed AS (
    SELECT 'supplier' AS dimension, k_supplier AS key, * FROM opened
    UNION ALL SELECT 'zone', k_zone, * FROM opened
    UNION ALL SELECT 'sku_family', k_sku_family, * FROM opened
    UNION ALL SELECT 'channel', k_channel, * FROM opened
)
SELECT
    CAST(dimension AS VARCHAR) AS dimension,
    CAST(key AS VARCHAR) AS key,
    CAST(exception_type AS VARCHAR) AS exception_type,
    count(*) AS exceptions,
    count(DISTINCT location_id) AS locations,
    count(DISTINCT sku) AS skus,
    CAST(min(opened_at) AS TIMESTAMPTZ) AS first_opened,
    CAST(max(opened_at) AS TIMESTAMPTZ) AS last_opened,
    CAST(count(*) - count(DISTINCT coalesce(location_id, '') || '|' || coalesce(sku, ''))
         AS DOUBLE) / count(*) AS repeat_share
FROM keyed
WHERE key IS NOT NULL
GROUP BY dimension, key, exception_type
ORDER BY dimension, key, exception_type
"""

KPI_SQL = {
    "fill_rate": FILL_RATE_SQL,
    "exception_aging": EXCEPTION_AGING_SQL,
    "count_variance_by_zone": COUNT_VARIANCE_BY_ZONE_SQL,
    "count_variance_by_supplier": COUNT_VARIANCE_BY_SUPPLIER_SQL,
    "order_flow": ORDER_FLOW_SQL,
    "backorders": BACKORDERS_SQL,
    "exception_resolution": EXCEPTION_RESOLUTION_SQL,
    "count_variance_by_abc": COUNT_VARIANCE_BY_ABC_SQL,
    "inventory_position": INVENTORY_POSITION_SQL,
    "receiving_to_available": RECEIVING_TO_AVAILABLE_SQL,
    "return_to_stock": RETURN_TO_STOCK_SQL,
    "shipment_timeliness": SHIPMENT_TIMELINESS_SQL,
    "exception_backlog": EXCEPTION_BACKLOG_SQL,
    "exception_recurrence": EXCEPTION_RECURRENCE_SQL,
}

# ---------------------------------------------------------------------------------------
# Tiles, current period (--tiles). Read from the reference's own KPI outputs: tables
# fill_rate, exception_aging and count_variance_by_zone are the Parquet files just written
# to OUT, loaded back as they are. The lake tables and `params` are only used for the
# 0-or-NULL rule of the count tiles. The window is the KPIs' window (W days ending on D).
# ---------------------------------------------------------------------------------------

TILES_CURRENT_SQL = """
WITH
-- "unit_fill_rate = Σ units_filled / Σ units_demanded (null when Σ units_demanded = 0);
-- line_fill_rate = Σ(line_fill_rate × lines) / Σ lines; order_fill_rate =
-- Σ(order_fill_rate × orders) / Σ orders; otif_rate = Σ(otif_rate × lines) / Σ lines"
-- over the fill_rate rows. No rows: every sum is NULL, so is every rate.
fill_totals AS (
    SELECT
        sum(f.units_filled) / nullif(sum(f.units_demanded), 0.0) AS unit_fill_rate,
        sum(f.line_fill_rate * f.lines) / nullif(CAST(sum(f.lines) AS DOUBLE), 0.0)
            AS line_fill_rate,
        sum(f.order_fill_rate * f.orders) / nullif(CAST(sum(f.orders) AS DOUBLE), 0.0)
            AS order_fill_rate,
        sum(f.otif_rate * f.lines) / nullif(CAST(sum(f.lines) AS DOUBLE), 0.0) AS otif_rate
    FROM fill_rate AS f
),
-- "open_exceptions = Σ open_count; sla_breaches = Σ breached_count" over exception_aging.
exception_totals AS (
    SELECT
        CAST(sum(x.open_count) AS DOUBLE) AS open_count,
        CAST(sum(x.breached_count) AS DOUBLE) AS breached_count
    FROM exception_aging AS x
),
-- "record_accuracy = Σ accurate_counts / Σ counts; abs_variance_value =
-- Σ abs_variance_value" over count_variance_by_zone.
count_totals AS (
    SELECT
        CAST(sum(z.accurate_counts) AS DOUBLE)
            / nullif(CAST(sum(z.counts) AS DOUBLE), 0.0) AS record_accuracy,
        CAST(sum(z.abs_variance_value) AS DOUBLE) AS abs_variance_value
    FROM count_variance_by_zone AS z
),
-- "0 when there are no rows but the exception_events table has at least one event with
-- event_at ≤ end(D) [cycle_counts: a count with counted_at ≤ end(D)]; null when it has
-- none". Not limited to the window. Events are de-duplicated by event_id (first ingested
-- wins) before the ≤ end(D) filter, as for the KPIs.
known_exception_events AS (
    SELECT e.event_id
    FROM (
        SELECT * FROM exception_events
        QUALIFY row_number() OVER (PARTITION BY event_id ORDER BY _ingest_seq) = 1
    ) AS e, params AS p
    WHERE e.event_at <= p.end_ts
),
known_cycle_counts AS (
    SELECT c.event_id
    FROM (
        SELECT * FROM cycle_counts
        QUALIFY row_number() OVER (PARTITION BY event_id ORDER BY _ingest_seq) = 1
    ) AS c, params AS p
    WHERE c.counted_at <= p.end_ts
),
zero_or_null AS (
    SELECT
        CASE WHEN EXISTS (SELECT 1 FROM known_exception_events) THEN 0.0 END
            AS if_no_exception_rows,
        CASE WHEN EXISTS (SELECT 1 FROM known_cycle_counts) THEN 0.0 END
            AS if_no_count_rows
),
tiles AS (
    SELECT 'unit_fill_rate' AS tile, f.unit_fill_rate AS value FROM fill_totals AS f
    UNION ALL
    SELECT 'line_fill_rate', f.line_fill_rate FROM fill_totals AS f
    UNION ALL
    SELECT 'order_fill_rate', f.order_fill_rate FROM fill_totals AS f
    UNION ALL
    SELECT 'otif_rate', f.otif_rate FROM fill_totals AS f
    UNION ALL
    SELECT 'open_exceptions', coalesce(x.open_count, z.if_no_exception_rows)
    FROM exception_totals AS x, zero_or_null AS z
    UNION ALL
    SELECT 'sla_breaches', coalesce(x.breached_count, z.if_no_exception_rows)
    FROM exception_totals AS x, zero_or_null AS z
    UNION ALL
    SELECT 'record_accuracy', c.record_accuracy FROM count_totals AS c
    UNION ALL
    SELECT 'abs_variance_value', coalesce(c.abs_variance_value, z.if_no_count_rows)
    FROM count_totals AS c, zero_or_null AS z
)
SELECT CAST(tile AS VARCHAR) AS tile, CAST(value AS DOUBLE) AS value
FROM tiles
ORDER BY tile
"""

# The KPI outputs the tiles read.
TILES_INPUTS = ["fill_rate", "exception_aging", "count_variance_by_zone"]


class ReferenceError(Exception):
    """A problem with the input (lake or arguments) that ends the run."""


# ---------------------------------------------------------------------------------------
# Loading the lake
# ---------------------------------------------------------------------------------------


# opintel's lake is a set of Delta Lake tables. The Parquet files of a table are the ones
# its Delta log (`<table>/_delta_log/`) lists at the current version: a table folder can
# also hold files that are not (or no longer) part of the table — uploaded by an ingest
# that was interrupted before its commit, or replaced by `opintel lake optimize` and not
# yet deleted by `vacuum` — so the files are never found by globbing. The partition
# column `event_date` is not inside the files: the Delta reader adds it from the log's
# partition values. The lake may be an s3:// URL; deltalake then reads it with the
# credentials and endpoint of the AWS_* environment variables.

# The AWS_* variables handed to deltalake as storage options for an s3:// lake.
S3_ENV = ["AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
          "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ALLOW_HTTP"]


def is_url(lake: str) -> bool:
    return "://" in lake


def storage_options(lake: str) -> dict[str, str] | None:
    """deltalake's storage options for `lake`: for an s3:// URL, the AWS_* variables that are
    set (lower-case keys, as object_store spells them); None for a folder."""
    if not lake.startswith("s3://"):
        return None
    return {k.lower(): os.environ[k] for k in S3_ENV if os.environ.get(k)}


def table_uri(lake: str, table: str) -> str:
    return f"{lake.rstrip('/')}/{table}" if is_url(lake) else os.path.join(lake, table)


def lake_files(lake: str, table: str) -> list[str]:
    """Parquet files of one table of a lake of the older layout (no Delta log): every file
    below the table folder. Hidden files (in-progress writes) are not listed."""
    pattern = os.path.join(glob.escape(os.path.join(lake, table)), "**", "*.parquet")
    return sorted(glob.glob(pattern, recursive=True))


def table_source(con: duckdb.DuckDBPyConnection, lake: str,
                 table: str) -> tuple[str, dict] | None:
    """Where DuckDB reads `table`'s rows (with `event_date`): a SQL source and its
    parameters, or None when the table has no rows (no such table, or no files)."""
    uri = table_uri(lake, table)
    if is_url(lake) or os.path.isdir(os.path.join(uri, "_delta_log")):
        import deltalake
        import pyarrow.fs as pa_fs

        try:
            delta = deltalake.DeltaTable(uri, storage_options=storage_options(lake))
            files = delta.file_uris()
        except deltalake.exceptions.TableNotFoundError:
            return None  # no such table (or its first commit is not written yet)
        except (deltalake.exceptions.DeltaError, OSError) as e:
            raise ReferenceError(f"{table}: cannot read the Delta table {uri}: {e}") from None
        if not files:
            return None
        # A pyarrow dataset of exactly the files of the current version, each with its
        # event_date partition value. A local table is read through pyarrow's own file
        # system (faster than deltalake's Python file handler, which an S3 table uses).
        fs = (None if is_url(lake)
              else pa_fs.SubTreeFileSystem(os.path.abspath(uri), pa_fs.LocalFileSystem()))
        name = f"delta_{table}"
        con.register(name, delta.to_pyarrow_dataset(filesystem=fs))
        return name, {}
    # A lake of the older layout: plain Hive-partitioned Parquet, every file below the
    # folder (event_date from the folder names).
    files = lake_files(lake, table)
    if not files:
        return None
    return ("read_parquet($files, hive_partitioning = true, union_by_name = true)",
            {"files": files})


def load_table(con: duckdb.DuckDBPyConnection, lake: str, table: str) -> None:
    """Create table `table` with the contract's columns and working types.

    A missing or empty table is zero rows. A missing contract column is an error;
    a column stored with another type than the contract's is cast, with a warning.
    """
    columns = TABLES[table]["columns"] + SYSTEM_COLUMNS
    found = table_source(con, lake, table)
    if found is None:
        cols = ", ".join(f"CAST(NULL AS {WORKING_TYPE[k]}) AS {c}" for c, k in columns)
        con.execute(f"CREATE TABLE {table} AS SELECT {cols} LIMIT 0")
        return
    source, params = found
    stored = {
        row[0]: row[1]
        for row in con.execute(f"DESCRIBE SELECT * FROM {source}", params).fetchall()
    }
    missing = [c for c, _ in columns if c not in stored]
    if missing:
        raise ReferenceError(f"{table}: column(s) {', '.join(missing)} missing in {lake}/{table}")
    select = []
    for c, k in columns:
        if stored[c] != STORED_TYPE[k]:
            print(f"warning: {table}.{c} is stored as {stored[c]}, contract says "
                  f"{STORED_TYPE[k]}; cast", file=sys.stderr)
        if k == T:
            # Instant → naive UTC timestamp (session time zone is UTC).
            select.append(f"CAST(CAST({c} AS TIMESTAMPTZ) AS TIMESTAMP) AS {c}")
        else:
            select.append(f"CAST({c} AS {WORKING_TYPE[k]}) AS {c}")
    con.execute(f"CREATE TABLE {table} AS SELECT {', '.join(select)} FROM {source}", params)


# ---------------------------------------------------------------------------------------
# Running
# ---------------------------------------------------------------------------------------


def sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def compute(lake: str, as_of: dt.date, out: str, window_days: int = 28,
            tolerance: float = 0.0, sla_hours: dict[str, float] | None = None,
            tiles: bool = False) -> None:
    """Compute the KPIs of KPI_SQL for `as_of` from `lake` and write them to `out`; with
    `tiles`, also `out/tiles_current.parquet`, computed from the core KPI files."""
    if window_days < 1:
        raise ReferenceError("--window-days must be at least 1")
    sla = dict(DEFAULT_SLA_HOURS)
    sla.update(sla_hours or {})

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    # One thread: the same input always sums floats in the same order.
    con.execute("SET threads = 1")

    window_start = as_of - dt.timedelta(days=window_days - 1)
    end_ts = dt.datetime.combine(as_of, dt.time(23, 59, 59, 999999))
    con.execute(
        "CREATE TABLE params AS SELECT $as_of::DATE AS as_of, $window_start::DATE AS window_start,"
        " $start_ts::TIMESTAMP AS start_ts, $end_ts::TIMESTAMP AS end_ts,"
        " $tolerance::DOUBLE AS tolerance",
        {"as_of": as_of, "window_start": window_start,
         "start_ts": dt.datetime.combine(window_start, dt.time(0, 0)),
         "end_ts": end_ts, "tolerance": float(tolerance)},
    )
    con.execute("CREATE TABLE sla (severity VARCHAR, sla_hours DOUBLE)")
    con.executemany("INSERT INTO sla VALUES (?, ?)", [[k, float(v)] for k, v in sla.items()])

    for table in TABLES:
        load_table(con, lake, table)
    con.execute(f"CREATE TABLE count_variance_detail AS {COUNT_VARIANCE_DETAIL_SQL}")

    os.makedirs(out, exist_ok=True)
    for name, sql in KPI_SQL.items():
        path = os.path.join(out, f"{name}.parquet")
        con.execute(f"COPY ({sql}) TO {sql_literal(path)} (FORMAT parquet)")
    if tiles:
        # The tiles are computed from the KPI files as written, read back in file order.
        for name in TILES_INPUTS:
            con.execute(f"CREATE TABLE {name} AS SELECT * FROM read_parquet($path)",
                        {"path": os.path.join(out, f"{name}.parquet")})
        path = os.path.join(out, "tiles_current.parquet")
        con.execute(f"COPY ({TILES_CURRENT_SQL}) TO {sql_literal(path)} (FORMAT parquet)")
    con.close()


def parse_sla(text: str) -> dict[str, float]:
    """`critical=4,high=24` → {'critical': 4.0, 'high': 24.0}; others keep defaults."""
    result = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, hours = part.partition("=")
        name = name.strip().lower()
        if not sep or name not in DEFAULT_SLA_HOURS:
            raise argparse.ArgumentTypeError(
                f"{part!r} is not SEVERITY=HOURS with SEVERITY one of "
                f"{', '.join(DEFAULT_SLA_HOURS)}")
        try:
            value = float(hours)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{hours!r} is not a number") from None
        if not math.isfinite(value) or value < 0:
            raise argparse.ArgumentTypeError(f"{part!r}: hours must be a number ≥ 0")
        result[name] = value
    return result


def parse_date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date YYYY-MM-DD") from None


# ---------------------------------------------------------------------------------------
# Self-check: a 44-row lake, hand-computed KPIs.
# ---------------------------------------------------------------------------------------


def write_lake_table(lake: str, table: str, rows: list[dict], delta: bool = True) -> None:
    """Write `rows` (dicts of canonical fields) as one Parquet file per event_date
    partition, with the lake's types. Missing fields are NULL; `_ingest_seq` defaults to a
    global counter in the order rows are given. With `delta` (as opintel writes it) the
    files are one commit appended to the Delta table `lake/table`, partitioned by
    event_date; without, plain files in `lake/table/event_date=…/` (the older layout).
    Used by the self-check and by tests."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    arrow_type = {S: pa.string(), D: pa.float64(), T: pa.timestamp("us", tz="UTC"),
                  "int": pa.int64()}
    columns = TABLES[table]["columns"] + SYSTEM_COLUMNS
    schema = pa.schema([(c, arrow_type[k]) for c, k in columns])
    time_col = TABLES[table]["time"]
    parts: dict[str, list[dict]] = {}
    for row in rows:
        row = dict(row)
        unknown = set(row) - {c for c, _ in columns}
        if unknown:
            raise ValueError(f"{table}: unknown field(s) {sorted(unknown)}")
        if row.get("_ingest_seq") is None:
            write_lake_table.seq += 1
            row["_ingest_seq"] = write_lake_table.seq
        row.setdefault("_source_file", f"{table}.test")
        for c, k in columns:
            v = row.get(c)
            if k == T and isinstance(v, str):
                v = dt.datetime.fromisoformat(v.replace("Z", "+00:00"))
                if v.tzinfo is None:
                    v = v.replace(tzinfo=dt.timezone.utc)
            row[c] = v
        day = row[time_col].astimezone(dt.timezone.utc).date().isoformat()
        parts.setdefault(day, []).append(row)
    if delta:
        from deltalake import write_deltalake

        # event_date is a column of the Delta table, stored in the log, not in the files.
        days = [dt.date.fromisoformat(day) for day, rs in parts.items() for _ in rs]
        data = {c: [r.get(c) for rs in parts.values() for r in rs] for c, _ in columns}
        data["event_date"] = days
        write_deltalake(os.path.join(lake, table),
                        pa.table(data, schema=schema.append(pa.field("event_date", pa.date32()))),
                        mode="append", partition_by=["event_date"])
        return
    for day, part_rows in parts.items():
        folder = os.path.join(lake, table, f"event_date={day}")
        os.makedirs(folder, exist_ok=True)
        data = {c: [r.get(c) for r in part_rows] for c, _ in columns}
        n = len(os.listdir(folder))
        pq.write_table(pa.table(data, schema=schema), os.path.join(folder, f"part-{n}.parquet"),
                       compression="zstd")


write_lake_table.seq = 0


def build_selfcheck_lake(lake: str, delta: bool = True) -> None:
    """Write the self-check's 44-row lake into `lake` (the hand computation is in
    `selfcheck`), as Delta tables (or, without `delta`, in the older plain layout). Every
    row is placed so that the values the four core KPIs and the tiles had on the first 10
    rows stay what they were: the rows added for the four later KPIs are order lines not
    due in the core window, exceptions resolved by end(D), an item version with the same
    supplier and cost, and rows seen only from as-of 2026-11-22."""
    # The same _ingest_seq values in every lake this builds.
    write_lake_table.seq = 0
    write = functools.partial(write_lake_table, delta=delta)
    # 1 item row: SKU-1 costs 2.50, supplied by SUP-A (no ABC class yet).
    # + 3 rows: SKU-1 becomes class B on 11-15 and class A on 11-22 12:00 (same supplier,
    # same cost); SKU-2 (class '', cost 1.00).
    sku1 = {"sku": "SKU-1", "supplier_id": "SUP-A", "unit_cost": 2.5}
    write(lake, "items", [
        {**sku1, "updated_at": "2026-10-01T00:00:00Z"},
        {**sku1, "abc_class": "B", "updated_at": "2026-11-15T00:00:00Z"},
        {**sku1, "abc_class": "A", "updated_at": "2026-11-22T12:00:00Z"},
        {"sku": "SKU-2", "supplier_id": "SUP-A", "unit_cost": 1.0, "abc_class": "",
         "updated_at": "2026-10-01T00:00:00Z"}])
    # 1 location row: L1 is zone A of WH1.
    write(lake, "locations", [
        {"location_id": "L1", "warehouse_id": "WH1", "zone": "A",
         "updated_at": "2026-10-01T00:00:00Z"}])
    # 3 order-line rows: O1/1 ordered 10, then a later version where the customer
    # cancelled 2 (demand 10 − 2 = 8); O1/2 ordered 4. Both due 2026-11-19 16:00.
    line = {"order_id": "O1", "sku": "SKU-1", "channel": "web", "warehouse_id": "WH1",
            "ordered_at": "2026-11-18T10:00:00Z",
            "promised_ship_at": "2026-11-19T16:00:00Z"}
    # + 10 rows for the later KPIs, none due in 2026-10-24 … 2026-11-21:
    #   O2 (web, ordered 11-19 08:00, due 11-23): /1 qty 5, /2 qty 2 (a split shipment).
    #   O3 (web, ordered 11-19 09:00, due 11-23): /1 qty 6 all cancelled for stockout
    #      (demand stays 6), /2 qty 1.
    #   O4 (web, ordered 11-19 12:00, due 11-22): /1 qty 1; /2 qty 3 all cancelled by the
    #      customer (demand 0: left out).
    #   O5 (marketplace, due 11-24): /1 qty 2 ordered 11-17 20:00, /2 qty 1 added
    #      11-18 03:00 (an order whose lines were ordered on two dates).
    #   O6 (b2b, ordered 10-01 09:00, due 10-03 12:00): qty 10, 4 shipped (a late open line).
    #   O8 (web, due 11-19 23:59:59.999999, exactly 3 days before end(2026-11-22)): qty 2,
    #      known only from 11-22 01:00 (its only version), so no earlier as-of date sees it.
    web = {"sku": "SKU-1", "channel": "web", "warehouse_id": "WH1"}
    o2 = {**web, "order_id": "O2", "ordered_at": "2026-11-19T08:00:00Z",
          "promised_ship_at": "2026-11-23T12:00:00Z", "updated_at": "2026-11-19T08:00:00Z"}
    o3 = {**o2, "order_id": "O3", "ordered_at": "2026-11-19T09:00:00Z",
          "updated_at": "2026-11-19T09:00:00Z"}
    o4 = {**web, "order_id": "O4", "ordered_at": "2026-11-19T12:00:00Z",
          "promised_ship_at": "2026-11-22T12:00:00Z", "updated_at": "2026-11-19T12:00:00Z"}
    o5 = {"order_id": "O5", "sku": "SKU-1", "channel": "marketplace", "warehouse_id": "WH1",
          "promised_ship_at": "2026-11-24T12:00:00Z"}
    write(lake, "order_lines", [
        {**line, "line_id": "1", "qty_ordered": 10.0, "updated_at": "2026-11-18T10:00:00Z"},
        {**line, "line_id": "1", "qty_ordered": 10.0, "cancelled_qty": 2.0,
         "cancel_reason": "customer", "updated_at": "2026-11-19T09:00:00Z"},
        {**line, "line_id": "2", "qty_ordered": 4.0, "updated_at": "2026-11-18T10:00:00Z"},
        {**o2, "line_id": "1", "qty_ordered": 5.0},
        {**o2, "line_id": "2", "qty_ordered": 2.0},
        {**o3, "line_id": "1", "qty_ordered": 6.0, "cancelled_qty": 6.0,
         "cancel_reason": "stockout"},
        {**o3, "line_id": "2", "qty_ordered": 1.0},
        {**o4, "line_id": "1", "qty_ordered": 1.0},
        {**o4, "line_id": "2", "qty_ordered": 3.0, "cancelled_qty": 3.0,
         "cancel_reason": "customer"},
        {**o5, "line_id": "1", "qty_ordered": 2.0, "ordered_at": "2026-11-17T20:00:00Z",
         "updated_at": "2026-11-17T20:00:00Z"},
        {**o5, "line_id": "2", "qty_ordered": 1.0, "ordered_at": "2026-11-18T03:00:00Z",
         "updated_at": "2026-11-18T03:00:00Z"},
        {"order_id": "O6", "line_id": "1", "sku": "SKU-1", "channel": "b2b",
         "warehouse_id": "WH1", "ordered_at": "2026-10-01T09:00:00Z",
         "promised_ship_at": "2026-10-03T12:00:00Z", "qty_ordered": 10.0,
         "updated_at": "2026-10-01T09:00:00Z"},
        {**web, "order_id": "O8", "line_id": "1", "ordered_at": "2026-11-15T10:00:00Z",
         "promised_ship_at": "2026-11-19T23:59:59.999999Z", "qty_ordered": 2.0,
         "updated_at": "2026-11-22T01:00:00Z"}])
    # 2 shipment rows: O1/1 gets 8 on time (11-19 12:00 ≤ 16:00);
    # O1/2 gets 3 late (11-20 09:00 > 11-19 16:00).
    ship = {"shipment_id": "SH1", "order_id": "O1", "sku": "SKU-1", "warehouse_id": "WH1"}
    # + 8 rows: O2/1 gets 2 in SH2 (11-20 10:00) and 3 in SH3 (11-20 14:00), O2/2 gets 2 in
    # SH2; O3/2 gets 1 in SH4 (11-19 21:00); O4/1 gets 1 in SH5 (11-19 18:00); O5/1 and
    # O5/2 get all in SH6 (11-19 10:00); O6 gets 4 in SH7 (10-04 08:00).
    s = {"sku": "SKU-1", "warehouse_id": "WH1"}
    write(lake, "shipments", [
        {**ship, "event_id": "s1", "line_id": "1", "qty_shipped": 8.0,
         "shipped_at": "2026-11-19T12:00:00Z"},
        {**ship, "event_id": "s2", "line_id": "2", "qty_shipped": 3.0,
         "shipped_at": "2026-11-20T09:00:00Z"},
        {**s, "event_id": "s3", "shipment_id": "SH2", "order_id": "O2", "line_id": "1",
         "qty_shipped": 2.0, "shipped_at": "2026-11-20T10:00:00Z"},
        {**s, "event_id": "s4", "shipment_id": "SH3", "order_id": "O2", "line_id": "1",
         "qty_shipped": 3.0, "shipped_at": "2026-11-20T14:00:00Z"},
        {**s, "event_id": "s5", "shipment_id": "SH2", "order_id": "O2", "line_id": "2",
         "qty_shipped": 2.0, "shipped_at": "2026-11-20T10:00:00Z"},
        {**s, "event_id": "s6", "shipment_id": "SH4", "order_id": "O3", "line_id": "2",
         "qty_shipped": 1.0, "shipped_at": "2026-11-19T21:00:00Z"},
        {**s, "event_id": "s7", "shipment_id": "SH5", "order_id": "O4", "line_id": "1",
         "qty_shipped": 1.0, "shipped_at": "2026-11-19T18:00:00Z"},
        {**s, "event_id": "s8", "shipment_id": "SH6", "order_id": "O5", "line_id": "1",
         "qty_shipped": 2.0, "shipped_at": "2026-11-19T10:00:00Z"},
        {**s, "event_id": "s9", "shipment_id": "SH6", "order_id": "O5", "line_id": "2",
         "qty_shipped": 1.0, "shipped_at": "2026-11-19T10:00:00Z"},
        {**s, "event_id": "s10", "shipment_id": "SH7", "order_id": "O6", "line_id": "1",
         "qty_shipped": 4.0, "shipped_at": "2026-10-04T08:00:00Z"}])
    # 2 exception rows: E1 opened 11-18 00:00 (high pick_shortage); its resolution is
    # on 11-21, after end(D), so at end(D) it is still open.
    exc = {"exception_id": "E1", "exception_type": "pick_shortage", "severity": "high"}
    # + 10 rows, all between 11-10 and 11-19 and each exception resolved by its last event:
    #   E2 damaged/medium: open 11-10 06:00, in_progress 12:00, resolved 11-12 06:00 (48 h).
    #   E3 damaged/medium: open 11-15 00:00, resolved 11-19 00:00 (96 h).
    #   E4: opened 11-16 00:00 as bin_mismatch/low, resolved 11-16 10:00 as damaged/medium
    #      (10 h).
    #   E7 carrier_cutoff_miss/critical: open 11-14 00:00; at 11-14 03:00 both in_progress
    #      and resolved, resolved ingested later (a tie decided by _ingest_seq: 3 h).
    dmg = {"exception_type": "damaged", "severity": "medium"}
    e7 = {"exception_id": "E7", "exception_type": "carrier_cutoff_miss", "severity": "critical"}
    write(lake, "exception_events", [
        {**exc, "event_id": "e1", "status": "open", "event_at": "2026-11-18T00:00:00Z"},
        {**exc, "event_id": "e2", "status": "resolved", "event_at": "2026-11-21T08:00:00Z"},
        {**dmg, "exception_id": "E2", "event_id": "e3", "status": "open",
         "event_at": "2026-11-10T06:00:00Z"},
        {**dmg, "exception_id": "E2", "event_id": "e4", "status": "in_progress",
         "event_at": "2026-11-10T12:00:00Z"},
        {**dmg, "exception_id": "E2", "event_id": "e5", "status": "resolved",
         "event_at": "2026-11-12T06:00:00Z"},
        {**dmg, "exception_id": "E3", "event_id": "e6", "status": "open",
         "event_at": "2026-11-15T00:00:00Z"},
        {**dmg, "exception_id": "E3", "event_id": "e7", "status": "resolved",
         "event_at": "2026-11-19T00:00:00Z"},
        {"exception_id": "E4", "exception_type": "bin_mismatch", "severity": "low",
         "event_id": "e8", "status": "open", "event_at": "2026-11-16T00:00:00Z"},
        {**dmg, "exception_id": "E4", "event_id": "e9", "status": "resolved",
         "event_at": "2026-11-16T10:00:00Z"},
        {**e7, "event_id": "e10", "status": "open", "event_at": "2026-11-14T00:00:00Z"},
        {**e7, "event_id": "e11", "status": "in_progress", "event_at": "2026-11-14T03:00:00Z"},
        {**e7, "event_id": "e12", "status": "resolved", "event_at": "2026-11-14T03:00:00Z"}])
    # 1 cycle-count row: WH1 L1 SKU-1 system 10, counted 8.
    # + 3 rows on 11-22 (seen from as-of 11-22 only): SKU-1 system 5, counted 5; SKU-2
    # system 4, counted 5; SKU-X (no item) at L2 (no location) system 3, counted 1.
    cc = {"count_id": "CC2", "warehouse_id": "WH1", "location_id": "L1"}
    write(lake, "cycle_counts", [
        {"event_id": "c1", "count_id": "CC1", "warehouse_id": "WH1", "location_id": "L1",
         "sku": "SKU-1", "system_qty": 10.0, "counted_qty": 8.0,
         "counted_at": "2026-11-10T09:00:00Z"},
        {**cc, "event_id": "c2", "sku": "SKU-1", "system_qty": 5.0, "counted_qty": 5.0,
         "counted_at": "2026-11-22T09:00:00Z"},
        {**cc, "event_id": "c3", "sku": "SKU-2", "system_qty": 4.0, "counted_qty": 5.0,
         "counted_at": "2026-11-22T10:00:00Z"},
        {**cc, "event_id": "c4", "sku": "SKU-X", "location_id": "L2", "system_qty": 3.0,
         "counted_qty": 1.0, "counted_at": "2026-11-22T11:00:00Z"}])
    # (suppliers, receipts, … are absent: the KPIs do not need them.)


def selfcheck() -> None:
    """Build a 44-row lake (Delta tables, plus a file their logs do not list), compute the
    KPIs and the current tiles as of 2026-11-20 (window 28 days: 2026-10-24 00:00Z …
    end(D) = 2026-11-20 23:59:59.999999Z) and check them against the hand computation in
    the comments, and that the same lake in the older plain layout gives the same files.
    Then check three more as-of dates on the same lake: the tiles' 0-or-NULL rules, and
    the later KPIs' windows and snapshots."""
    import pyarrow.parquet as pq

    with tempfile.TemporaryDirectory() as tmp:
        lake, out = os.path.join(tmp, "lake"), os.path.join(tmp, "out")
        build_selfcheck_lake(lake)
        # A file in a table folder that the Delta log does not list (what an interrupted
        # ingest leaves): the missing unit of O1/2. Read, it would make the unit, line and
        # order fill rates of the 2026-11-19 group 1.0; the values below say it is not read.
        stray = os.path.join(tmp, "stray")
        write_lake_table(stray, "shipments", [
            {"event_id": "s-stray", "shipment_id": "SH9", "order_id": "O1", "line_id": "2",
             "sku": "SKU-1", "warehouse_id": "WH1", "qty_shipped": 1.0,
             "shipped_at": "2026-11-19T13:00:00Z"}], delta=False)
        os.replace(os.path.join(stray, "shipments", "event_date=2026-11-19", "part-0.parquet"),
                   os.path.join(lake, "shipments", "event_date=2026-11-19", "stray.parquet"))
        # The same lake in the older layout (no Delta log): read by globbing, the same KPIs.
        old_lake, out_old = os.path.join(tmp, "old-lake"), os.path.join(tmp, "out-old")
        build_selfcheck_lake(old_lake, delta=False)

        compute(lake, dt.date(2026, 11, 20), out, tiles=True)
        compute(old_lake, dt.date(2026, 11, 20), out_old, tiles=True)
        # Three more as-of dates on the same lake: (b) 2026-11-21 with a 1-day window,
        # (c) 2026-11-09 with 28 days, (d) 2026-11-22 with a 1-day window. Values below.
        out_b, out_c = os.path.join(tmp, "out-b"), os.path.join(tmp, "out-c")
        out_d = os.path.join(tmp, "out-d")
        compute(lake, dt.date(2026, 11, 21), out_b, window_days=1, tiles=True)
        compute(lake, dt.date(2026, 11, 9), out_c, tiles=True)
        compute(lake, dt.date(2026, 11, 22), out_d, window_days=1)

        def rows(name, folder=out):
            t = pq.read_table(os.path.join(folder, f"{name}.parquet"))
            return t.column_names, [str(f.type) for f in t.schema], t.to_pylist()

        def tiles(values):
            """Expected tiles_current rows, sorted by tile, from {tile: value}."""
            return (["string", "double"],
                    [{"tile": k, "value": values[k]} for k in sorted(values)])

        H = 3_600_000_000.0  # µs per hour
        DAY = 86_400_000_000.0  # µs per day

        def days_late(end: str, promised: str) -> float:
            """(end(D) − promised_ship_at) in days, from the µs difference."""
            a, b = (dt.datetime.fromisoformat(x.replace("Z", "+00:00")) for x in (end, promised))
            return ((a - b) // dt.timedelta(microseconds=1)) / DAY

        order_flow_types = ["date32[day]", "string", "string", "int64", "int64", "int64",
                            "double", "double", "double", "double"]
        backorders_types = ["date32[day]", "string", "string", "string", "int64", "double",
                            "double"]
        resolution_types = ["string", "string", "int64", "double", "double", "double"]
        count_types = ["string", "string", "int64", "int64", "double", "double", "double",
                       "double", "double"]
        expected = {
            # One group, 2026-11-19 web WH1: lines 2, orders 1 (O1).
            # demand 8 + 4 = 12; filled min(8, 8) + min(3, 4) = 11 → 11/12.
            # Full lines: O1/1 (8 ≥ 8) yes, O1/2 (3 < 4) no → 1/2; O1 not complete → 0/1.
            # On time: O1/1 8 by 16:00 ≥ 8 yes; O1/2 0 by then → 1/2.
            # (O2…O5 are due 11-22 or later, O6 on 10-03: none is due in the window.)
            "fill_rate": (
                ["date32[day]", "string", "string", "int64", "int64", "double", "double",
                 "double", "double", "double", "double"],
                [{"due_date": dt.date(2026, 11, 19), "channel": "web", "warehouse_id": "WH1",
                  "lines": 2, "orders": 1, "units_demanded": 12.0, "units_filled": 11.0,
                  "unit_fill_rate": 11 / 12, "line_fill_rate": 0.5, "order_fill_rate": 0.0,
                  "otif_rate": 0.5}]),
            # E1: age = end(D) − 11-18 00:00 = 72 h − 1 µs → bucket 1-3d; > 24 h (high) →
            # breached. (E2, E3, E4 and E7 are resolved by end(D).)
            "exception_aging": (
                ["date32[day]", "string", "string", "string", "int64", "int64", "double"],
                [{"as_of": dt.date(2026, 11, 20), "exception_type": "pick_shortage",
                  "severity": "high", "age_bucket": "1-3d", "open_count": 1,
                  "breached_count": 1, "oldest_age_hours": (72 * H - 1) / H}]),
            # c1: variance 8 − 10 = −2, value −2 × 2.50 = −5.00, not accurate (tolerance 0).
            "count_variance_by_zone": (
                count_types,
                [{"warehouse_id": "WH1", "zone": "A", "counts": 1, "accurate_counts": 0,
                  "accuracy_rate": 0.0, "net_variance_units": -2.0, "abs_variance_units": 2.0,
                  "net_variance_value": -5.0, "abs_variance_value": 5.0}]),
            "count_variance_by_supplier": (
                count_types,
                [{"warehouse_id": "WH1", "supplier_id": "SUP-A", "counts": 1,
                  "accurate_counts": 0, "accuracy_rate": 0.0, "net_variance_units": -2.0,
                  "abs_variance_units": 2.0, "net_variance_value": -5.0,
                  "abs_variance_value": 5.0}]),
            # c1 again, by SKU-1's class at end(D): B (since 11-15; A only from 11-22).
            "count_variance_by_abc": (
                count_types,
                [{"warehouse_id": "WH1", "abc_class": "B", "counts": 1, "accurate_counts": 0,
                  "accuracy_rate": 0.0, "net_variance_units": -2.0, "abs_variance_units": 2.0,
                  "net_variance_value": -5.0, "abs_variance_value": 5.0}]),
            # Orders by the date of their earliest ordered_at (O4/2 has demand 0: left out):
            # 11-17 marketplace: O5 (lines 11-17 20:00 and 11-18 03:00), complete, one
            #   shipment SH6 → not split; 11-19 10:00 − 11-17 20:00 = 38 h; no stockout.
            # 11-18 web: O1, 2 lines, O1/2 short → 0 complete → rate, median, p90 NULL.
            # 11-19 web: O2 (2 lines), O3 (2), O4 (1) → 3 orders, 5 lines. Complete: O2
            #   (5 ≥ 5, 2 ≥ 2; SH2 + SH3 → split; 11-20 14:00 − 11-19 08:00 = 30 h) and O4
            #   (SH5 only; 18:00 − 12:00 = 6 h); O3 not (O3/1 demand 6, nothing shipped).
            #   split 1/2; median of (6, 30) = 18; p90: rank ⌈0.9 × 2⌉ = 2 → 30;
            #   stockout lines: O3/1 → 1/5.
            "order_flow": (
                order_flow_types,
                [{"order_date": dt.date(2026, 11, 17), "channel": "marketplace",
                  "warehouse_id": "WH1", "orders": 1, "lines": 2, "complete_orders": 1,
                  "split_shipment_rate": 0.0, "order_to_ship_hours_median": 38.0,
                  "order_to_ship_hours_p90": 38.0, "stockout_cancel_rate": 0.0},
                 {"order_date": dt.date(2026, 11, 18), "channel": "web",
                  "warehouse_id": "WH1", "orders": 1, "lines": 2, "complete_orders": 0,
                  "split_shipment_rate": None, "order_to_ship_hours_median": None,
                  "order_to_ship_hours_p90": None, "stockout_cancel_rate": 0.0},
                 {"order_date": dt.date(2026, 11, 19), "channel": "web",
                  "warehouse_id": "WH1", "orders": 3, "lines": 5, "complete_orders": 2,
                  "split_shipment_rate": 0.5, "order_to_ship_hours_median": 18.0,
                  "order_to_ship_hours_p90": 30.0, "stockout_cancel_rate": 0.2}]),
            # Due by end(D) and short: O6 (10 − 4 = 6 open, due 10-03 12:00 → 48.5 days
            # − 1 µs → 14d+) and O1/2 (4 − 3 = 1 open, due 11-19 16:00 → 32 h − 1 µs →
            # 1-3d). (O3/1 is short too but not due before 11-23.)
            "backorders": (
                backorders_types,
                [{"as_of": dt.date(2026, 11, 20), "warehouse_id": "WH1", "channel": "b2b",
                  "days_late_bucket": "14d+", "lines": 1, "units_open": 6.0,
                  "oldest_days_late": days_late("2026-11-20T23:59:59.999999Z",
                                                "2026-10-03T12:00:00Z")},
                 {"as_of": dt.date(2026, 11, 20), "warehouse_id": "WH1", "channel": "web",
                  "days_late_bucket": "1-3d", "lines": 1, "units_open": 1.0,
                  "oldest_days_late": (32 * H - 1) / DAY}]),
            # Resolved in the window, by type and severity of the last event:
            # carrier_cutoff_miss/critical: E7 3 h ≤ 4 → 1 of 1.
            # damaged/medium: E4 10 h, E2 48 h, E3 96 h → median 48; p90: rank ⌈2.7⌉ = 3
            #   → 96; within 72 h: E4, E2 → 2/3.
            "exception_resolution": (
                resolution_types,
                [{"exception_type": "carrier_cutoff_miss", "severity": "critical",
                  "resolved": 1, "resolution_hours_median": 3.0,
                  "resolution_hours_p90": 3.0, "resolved_within_sla_rate": 1.0},
                 {"exception_type": "damaged", "severity": "medium", "resolved": 3,
                  "resolution_hours_median": 48.0, "resolution_hours_p90": 96.0,
                  "resolved_within_sla_rate": 2 / 3}]),
            # From the rows above (one fill_rate, one exception_aging, one zone row):
            "tiles_current": tiles({
                "unit_fill_rate": 11 / 12,        # Σ units_filled 11 / Σ units_demanded 12
                "line_fill_rate": 0.5,            # (0.5 × 2 lines) / 2 lines = 1 / 2
                "order_fill_rate": 0.0,           # (0.0 × 1 order) / 1 order = 0 / 1
                "otif_rate": 0.5,                 # (0.5 × 2 lines) / 2 lines = 1 / 2
                "open_exceptions": 1.0,           # Σ open_count = 1
                "sla_breaches": 1.0,              # Σ breached_count = 1
                "record_accuracy": 0.0,           # Σ accurate_counts 0 / Σ counts 1
                "abs_variance_value": 5.0,        # Σ abs_variance_value = 5.00
            }),
        }
        # (b) as of 11-21, window 1 day: no line is due on 11-21 (O1 is due 11-19, the
        # others 11-22 or later, O6 10-03) → no fill_rate rows → the four rates NULL.
        # E1's latest event by end(D) is e2 (resolved 11-21 08:00) → no open exception, but
        # events exist → 0 and 0. c1 (11-10) is outside the window → no zone row →
        # record_accuracy NULL; c1 is ≤ end(D) → abs_variance_value 0.
        # E1 is resolved in this window: 11-21 08:00 − 11-18 00:00 = 80 h > 24 h (high);
        # E2, E3, E4, E7 were resolved before 11-21 → left out.
        expected_b = {
            "tiles_current": tiles({
                "unit_fill_rate": None, "line_fill_rate": None, "order_fill_rate": None,
                "otif_rate": None, "open_exceptions": 0.0, "sla_breaches": 0.0,
                "record_accuracy": None, "abs_variance_value": 0.0}),
            "exception_resolution": (
                resolution_types,
                [{"exception_type": "pick_shortage", "severity": "high", "resolved": 1,
                  "resolution_hours_median": 80.0, "resolution_hours_p90": 80.0,
                  "resolved_within_sla_rate": 0.0}]),
        }
        # (c) as of 11-09: O1…O5 (updated 11-17 or later), O8, every exception event
        # (11-10 or later) and every count (11-10 or later) are after end(D); O6 (10-01)
        # is due 10-03, before the window 10-13 … 11-09 → no rows, no event, no count →
        # 8 NULLs.
        expected_c = {"tiles_current": tiles({
            "unit_fill_rate": None, "line_fill_rate": None, "order_fill_rate": None,
            "otif_rate": None, "open_exceptions": None, "sla_breaches": None,
            "record_accuracy": None, "abs_variance_value": None})}
        # (d) as of 11-22, window 1 day (end(D) 2026-11-22 23:59:59.999999):
        # counts c2, c3, c4. SKU-1 is class A from 11-22 12:00 ≤ end(D) (after the count,
        # yet the class as of end(D) is what counts) → (WH1, A): c2 variance 0, accurate.
        # SKU-2 (class '') and SKU-X (no item) → (WH1, UNKNOWN): variances +1 and −2 →
        # net −1, abs 3; values +1 × 1.00 and −2 × 0 (cost unknown) → net 1, abs 1.
        # Backorders: O6 (50.5 days − 1 µs → 14d+); O1/2 (80 h − 1 µs → 3-7d) and O8
        # (exactly 3 days → 3-7d, lower bound inclusive; 2 open) → 2 lines, 3 units.
        # (O4/1 is due 11-22 12:00 but shipped; O2, O3 are due 11-23.)
        # No line was ordered on 11-22 → no order_flow row.
        expected_d = {
            "count_variance_by_abc": (
                count_types,
                [{"warehouse_id": "WH1", "abc_class": "A", "counts": 1, "accurate_counts": 1,
                  "accuracy_rate": 1.0, "net_variance_units": 0.0, "abs_variance_units": 0.0,
                  "net_variance_value": 0.0, "abs_variance_value": 0.0},
                 {"warehouse_id": "WH1", "abc_class": "UNKNOWN", "counts": 2,
                  "accurate_counts": 0, "accuracy_rate": 0.0, "net_variance_units": -1.0,
                  "abs_variance_units": 3.0, "net_variance_value": 1.0,
                  "abs_variance_value": 1.0}]),
            "backorders": (
                backorders_types,
                [{"as_of": dt.date(2026, 11, 22), "warehouse_id": "WH1", "channel": "b2b",
                  "days_late_bucket": "14d+", "lines": 1, "units_open": 6.0,
                  "oldest_days_late": days_late("2026-11-22T23:59:59.999999Z",
                                                "2026-10-03T12:00:00Z")},
                 {"as_of": dt.date(2026, 11, 22), "warehouse_id": "WH1", "channel": "web",
                  "days_late_bucket": "3-7d", "lines": 2, "units_open": 3.0,
                  "oldest_days_late": (80 * H - 1) / DAY}]),
            "order_flow": (order_flow_types, []),
        }
        failures = []
        for name in [*OUTPUTS, "tiles_current"]:
            if rows(name) != rows(name, out_old):
                failures.append(f"{name}: the older-layout lake gives other rows than the "
                                "Delta lake")
        checks = [(name, name, out, spec) for name, spec in expected.items()]
        checks += [(f"(b) {name}", name, out_b, spec) for name, spec in expected_b.items()]
        checks += [(f"(c) {name}", name, out_c, spec) for name, spec in expected_c.items()]
        checks += [(f"(d) {name}", name, out_d, spec) for name, spec in expected_d.items()]
        for label, name, folder, (types, want) in checks:
            got_names, got_types, got = rows(name, folder)
            if want and got_names != list(want[0]):
                failures.append(f"{label}: columns {got_names}, expected {list(want[0])}")
                continue
            if got_types != types:
                failures.append(f"{label}: types {got_types}, expected {types}")
            if len(got) != len(want):
                failures.append(f"{label}: {len(got)} rows, expected {len(want)}")
                continue
            for i, (g, w) in enumerate(zip(got, want)):
                where = f"{label}[{w['tile']}]" if "tile" in w else f"{label}[{i}]"
                for col, wv in w.items():
                    gv = g[col]
                    same = (abs(gv - wv) <= 1e-9 * max(1.0, abs(wv))
                            if isinstance(wv, float) and isinstance(gv, float) else gv == wv)
                    if not same:
                        failures.append(f"{where}.{col}: got {gv!r}, expected {wv!r}")
        if failures:
            print("selfcheck FAILED:\n  " + "\n  ".join(failures), file=sys.stderr)
            sys.exit(1)
        print("selfcheck ok: fill_rate, exception_aging, count_variance_by_zone, "
              "count_variance_by_supplier, order_flow, backorders, exception_resolution, "
              "count_variance_by_abc and tiles_current (4 as-of dates) match the hand "
              "computation (Delta lake with a stray file; the older layout agrees)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Independent DuckDB reference for opintel's four core KPIs and "
                    "order_flow, backorders, exception_resolution, count_variance_by_abc.")
    parser.add_argument("--lake", help="the lake: a folder or an s3:// URL (Delta tables "
                                       "LAKE/<table>/, partitions event_date=…)")
    parser.add_argument("--as-of", type=parse_date, help="as-of date D, YYYY-MM-DD")
    parser.add_argument("--out", help="output folder for the KPI Parquet files")
    parser.add_argument("--window-days", type=int, default=28, help="window W in days (28)")
    parser.add_argument("--tolerance", type=float, default=0.0,
                        help="count accuracy tolerance in units (0)")
    parser.add_argument("--sla", type=parse_sla, default={},
                        help="SLA hours by severity, e.g. critical=4,high=24,medium=72,low=168")
    parser.add_argument("--tiles", action="store_true",
                        help="also write OUT/tiles_current.parquet (current-period tiles of "
                             "the four core KPIs)")
    parser.add_argument("--selfcheck", action="store_true",
                        help="build a tiny lake, compute and check against hand values")
    args = parser.parse_args(argv)

    if args.selfcheck:
        selfcheck()
        return 0
    if not (args.lake and args.as_of and args.out):
        parser.error("--lake, --as-of and --out are required (or --selfcheck)")
    if not is_url(args.lake) and not os.path.isdir(args.lake):
        print(f"error: lake folder {args.lake} does not exist", file=sys.stderr)
        return 1
    if is_url(args.lake):
        # The URL's counterpart of the folder check: at least one table is there.
        import deltalake

        opts = storage_options(args.lake)
        try:
            found = any(deltalake.DeltaTable.is_deltatable(table_uri(args.lake, t), opts)
                        for t in TABLES)
        except (deltalake.exceptions.DeltaError, OSError) as e:
            print(f"error: cannot read the lake {args.lake}: {e}", file=sys.stderr)
            return 1
        if not found:
            print(f"error: no lake table under {args.lake}", file=sys.stderr)
            return 1
    try:
        compute(args.lake, args.as_of, args.out, args.window_days, args.tolerance, args.sla,
                tiles=args.tiles)
    except (ReferenceError, duckdb.Error) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
