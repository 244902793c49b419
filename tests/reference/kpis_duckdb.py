#!/usr/bin/env python3
"""Independent reference for opintel's four core KPIs, in Python + DuckDB.

This is a second reading of the contract (/work/shared/CONTRACT.md §1, §3, §4), written
without looking at opintel's own SQL, so that the Rust tests can compare every row the
product computes against an engine that shares no code with it.

It reads the Parquet lake (`LAKE/<table>/event_date=YYYY-MM-DD/*.parquet`) and writes

    OUT/fill_rate.parquet
    OUT/exception_aging.parquet
    OUT/count_variance_by_zone.parquet
    OUT/count_variance_by_supplier.parquet

with the contract's column names and order. Types: dates DATE, counts BIGINT,
units/values/rates/hours DOUBLE, strings VARCHAR.

Usage:
    python3 kpis_duckdb.py --lake LAKE --as-of YYYY-MM-DD --out DIR [--window-days 28]
        [--tolerance 0] [--sla critical=4,high=24,medium=72,low=168]
    python3 kpis_duckdb.py --selfcheck

Every KPI is one SQL string below, a chain of named CTEs. Run parameters (as-of date,
window, tolerance, SLA hours) are never pasted into SQL: they live in two one-off tables,
`params` and `sla`, that the queries join.
"""

from __future__ import annotations

import argparse
import datetime as dt
import glob
import math
import os
import sys
import tempfile

import duckdb

# ---------------------------------------------------------------------------------------
# The lake: canonical columns of CONTRACT §1 for the tables these KPIs read, plus the
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
    "cycle_counts": {
        "time": "counted_at",
        "columns": [("event_id", S), ("count_id", S), ("warehouse_id", S),
                    ("location_id", S), ("sku", S), ("system_qty", D), ("counted_qty", D),
                    ("counted_at", T), ("counter_id", S)],
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

# The four outputs, their columns in contract order and the key (grain) they sort by.
OUTPUTS = {
    "fill_rate": ["due_date", "channel", "warehouse_id"],
    "exception_aging": ["exception_type", "severity", "age_bucket"],
    "count_variance_by_zone": ["warehouse_id", "zone"],
    "count_variance_by_supplier": ["warehouse_id", "supplier_id"],
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

# One row per cycle count in the window with its zone, supplier, variance and value; the
# two count-variance KPIs group it by zone and by supplier.
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
-- The warehouse is the count's own warehouse_id.
detail AS (
    SELECT
        c.warehouse_id,
        coalesce(loc.zone, 'UNKNOWN') AS zone,
        coalesce(i.supplier_id, 'UNKNOWN') AS supplier_id,
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

COUNT_VARIANCE_BY_ZONE_SQL = """
SELECT
    CAST(warehouse_id AS VARCHAR) AS warehouse_id,
    CAST(zone AS VARCHAR) AS zone,
    CAST(count(*) AS BIGINT) AS counts,
    CAST(count_if(accurate) AS BIGINT) AS accurate_counts,
    CAST(count_if(accurate) AS DOUBLE) / count(*) AS accuracy_rate,
    CAST(sum(variance) AS DOUBLE) AS net_variance_units,
    CAST(sum(abs(variance)) AS DOUBLE) AS abs_variance_units,
    CAST(sum(value) AS DOUBLE) AS net_variance_value,
    CAST(sum(abs(value)) AS DOUBLE) AS abs_variance_value
FROM count_variance_detail
GROUP BY warehouse_id, zone
ORDER BY warehouse_id, zone
"""

COUNT_VARIANCE_BY_SUPPLIER_SQL = """
SELECT
    CAST(warehouse_id AS VARCHAR) AS warehouse_id,
    CAST(supplier_id AS VARCHAR) AS supplier_id,
    CAST(count(*) AS BIGINT) AS counts,
    CAST(count_if(accurate) AS BIGINT) AS accurate_counts,
    CAST(count_if(accurate) AS DOUBLE) / count(*) AS accuracy_rate,
    CAST(sum(variance) AS DOUBLE) AS net_variance_units,
    CAST(sum(abs(variance)) AS DOUBLE) AS abs_variance_units,
    CAST(sum(value) AS DOUBLE) AS net_variance_value,
    CAST(sum(abs(value)) AS DOUBLE) AS abs_variance_value
FROM count_variance_detail
GROUP BY warehouse_id, supplier_id
ORDER BY warehouse_id, supplier_id
"""

KPI_SQL = {
    "fill_rate": FILL_RATE_SQL,
    "exception_aging": EXCEPTION_AGING_SQL,
    "count_variance_by_zone": COUNT_VARIANCE_BY_ZONE_SQL,
    "count_variance_by_supplier": COUNT_VARIANCE_BY_SUPPLIER_SQL,
}


class ReferenceError(Exception):
    """A problem with the input (lake or arguments) that ends the run."""


# ---------------------------------------------------------------------------------------
# Loading the lake
# ---------------------------------------------------------------------------------------


def lake_files(lake: str, table: str) -> list[str]:
    """Parquet files of one table. Hidden files (in-progress writes) are not listed."""
    pattern = os.path.join(glob.escape(os.path.join(lake, table)), "**", "*.parquet")
    return sorted(glob.glob(pattern, recursive=True))


def load_table(con: duckdb.DuckDBPyConnection, lake: str, table: str) -> None:
    """Create table `table` with the contract's columns and working types.

    A missing or empty table folder is zero rows. A missing contract column is an error;
    a column stored with another type than the contract's is cast, with a warning.
    """
    columns = TABLES[table]["columns"] + SYSTEM_COLUMNS
    files = lake_files(lake, table)
    if not files:
        cols = ", ".join(f"CAST(NULL AS {WORKING_TYPE[k]}) AS {c}" for c, k in columns)
        con.execute(f"CREATE TABLE {table} AS SELECT {cols} LIMIT 0")
        return
    source = "read_parquet($files, hive_partitioning = true, union_by_name = true)"
    stored = {
        row[0]: row[1]
        for row in con.execute(f"DESCRIBE SELECT * FROM {source}", {"files": files}).fetchall()
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
    con.execute(f"CREATE TABLE {table} AS SELECT {', '.join(select)} FROM {source}",
                {"files": files})


# ---------------------------------------------------------------------------------------
# Running
# ---------------------------------------------------------------------------------------


def sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def compute(lake: str, as_of: dt.date, out: str, window_days: int = 28,
            tolerance: float = 0.0, sla_hours: dict[str, float] | None = None) -> None:
    """Compute the four KPIs for `as_of` from `lake` and write them to `out`."""
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
# Self-check: a 10-row lake, hand-computed KPIs.
# ---------------------------------------------------------------------------------------


def write_lake_table(lake: str, table: str, rows: list[dict]) -> None:
    """Write `rows` (dicts of canonical fields) as one Parquet file per event_date
    partition, with the lake's types. Missing fields are NULL; `_ingest_seq` defaults to a
    global counter in the order rows are given. Used by the self-check and by tests."""
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
    for day, part_rows in parts.items():
        folder = os.path.join(lake, table, f"event_date={day}")
        os.makedirs(folder, exist_ok=True)
        data = {c: [r.get(c) for r in part_rows] for c, _ in columns}
        n = len(os.listdir(folder))
        pq.write_table(pa.table(data, schema=schema), os.path.join(folder, f"part-{n}.parquet"),
                       compression="zstd")


write_lake_table.seq = 0


def selfcheck() -> None:
    """Build a 10-row lake, compute the KPIs as of 2026-11-20 (window 28 days:
    2026-10-24 00:00Z … end(D) = 2026-11-20 23:59:59.999999Z) and check them against the
    hand computation in the comments."""
    import pyarrow.parquet as pq

    with tempfile.TemporaryDirectory() as tmp:
        lake, out = os.path.join(tmp, "lake"), os.path.join(tmp, "out")
        # 1 item row: SKU-1 costs 2.50, supplied by SUP-A.
        write_lake_table(lake, "items", [
            {"sku": "SKU-1", "supplier_id": "SUP-A", "unit_cost": 2.5,
             "updated_at": "2026-10-01T00:00:00Z"}])
        # 1 location row: L1 is zone A of WH1.
        write_lake_table(lake, "locations", [
            {"location_id": "L1", "warehouse_id": "WH1", "zone": "A",
             "updated_at": "2026-10-01T00:00:00Z"}])
        # 3 order-line rows: O1/1 ordered 10, then a later version where the customer
        # cancelled 2 (demand 10 − 2 = 8); O1/2 ordered 4. Both due 2026-11-19 16:00.
        line = {"order_id": "O1", "sku": "SKU-1", "channel": "web", "warehouse_id": "WH1",
                "ordered_at": "2026-11-18T10:00:00Z",
                "promised_ship_at": "2026-11-19T16:00:00Z"}
        write_lake_table(lake, "order_lines", [
            {**line, "line_id": "1", "qty_ordered": 10.0, "updated_at": "2026-11-18T10:00:00Z"},
            {**line, "line_id": "1", "qty_ordered": 10.0, "cancelled_qty": 2.0,
             "cancel_reason": "customer", "updated_at": "2026-11-19T09:00:00Z"},
            {**line, "line_id": "2", "qty_ordered": 4.0, "updated_at": "2026-11-18T10:00:00Z"}])
        # 2 shipment rows: O1/1 gets 8 on time (11-19 12:00 ≤ 16:00);
        # O1/2 gets 3 late (11-20 09:00 > 11-19 16:00).
        ship = {"shipment_id": "SH1", "order_id": "O1", "sku": "SKU-1", "warehouse_id": "WH1"}
        write_lake_table(lake, "shipments", [
            {**ship, "event_id": "s1", "line_id": "1", "qty_shipped": 8.0,
             "shipped_at": "2026-11-19T12:00:00Z"},
            {**ship, "event_id": "s2", "line_id": "2", "qty_shipped": 3.0,
             "shipped_at": "2026-11-20T09:00:00Z"}])
        # 2 exception rows: E1 opened 11-18 00:00 (high pick_shortage); its resolution is
        # on 11-21, after end(D), so at end(D) it is still open.
        exc = {"exception_id": "E1", "exception_type": "pick_shortage", "severity": "high"}
        write_lake_table(lake, "exception_events", [
            {**exc, "event_id": "e1", "status": "open", "event_at": "2026-11-18T00:00:00Z"},
            {**exc, "event_id": "e2", "status": "resolved", "event_at": "2026-11-21T08:00:00Z"}])
        # 1 cycle-count row: WH1 L1 SKU-1 system 10, counted 8.
        write_lake_table(lake, "cycle_counts", [
            {"event_id": "c1", "count_id": "CC1", "warehouse_id": "WH1", "location_id": "L1",
             "sku": "SKU-1", "system_qty": 10.0, "counted_qty": 8.0,
             "counted_at": "2026-11-10T09:00:00Z"}])
        # (suppliers, receipts, … are absent: the KPIs do not need them.)

        compute(lake, dt.date(2026, 11, 20), out)

        def rows(name):
            t = pq.read_table(os.path.join(out, f"{name}.parquet"))
            return t.column_names, [str(f.type) for f in t.schema], t.to_pylist()

        H = 3_600_000_000.0  # µs per hour
        expected = {
            # One group, 2026-11-19 web WH1: lines 2, orders 1 (O1).
            # demand 8 + 4 = 12; filled min(8, 8) + min(3, 4) = 11 → 11/12.
            # Full lines: O1/1 (8 ≥ 8) yes, O1/2 (3 < 4) no → 1/2; O1 not complete → 0/1.
            # On time: O1/1 8 by 16:00 ≥ 8 yes; O1/2 0 by then → 1/2.
            "fill_rate": (
                ["date32[day]", "string", "string", "int64", "int64", "double", "double",
                 "double", "double", "double", "double"],
                [{"due_date": dt.date(2026, 11, 19), "channel": "web", "warehouse_id": "WH1",
                  "lines": 2, "orders": 1, "units_demanded": 12.0, "units_filled": 11.0,
                  "unit_fill_rate": 11 / 12, "line_fill_rate": 0.5, "order_fill_rate": 0.0,
                  "otif_rate": 0.5}]),
            # E1: age = end(D) − 11-18 00:00 = 72 h − 1 µs → bucket 1-3d; > 24 h (high) →
            # breached.
            "exception_aging": (
                ["date32[day]", "string", "string", "string", "int64", "int64", "double"],
                [{"as_of": dt.date(2026, 11, 20), "exception_type": "pick_shortage",
                  "severity": "high", "age_bucket": "1-3d", "open_count": 1,
                  "breached_count": 1, "oldest_age_hours": (72 * H - 1) / H}]),
            # c1: variance 8 − 10 = −2, value −2 × 2.50 = −5.00, not accurate (tolerance 0).
            "count_variance_by_zone": (
                ["string", "string", "int64", "int64", "double", "double", "double", "double",
                 "double"],
                [{"warehouse_id": "WH1", "zone": "A", "counts": 1, "accurate_counts": 0,
                  "accuracy_rate": 0.0, "net_variance_units": -2.0, "abs_variance_units": 2.0,
                  "net_variance_value": -5.0, "abs_variance_value": 5.0}]),
            "count_variance_by_supplier": (
                ["string", "string", "int64", "int64", "double", "double", "double", "double",
                 "double"],
                [{"warehouse_id": "WH1", "supplier_id": "SUP-A", "counts": 1,
                  "accurate_counts": 0, "accuracy_rate": 0.0, "net_variance_units": -2.0,
                  "abs_variance_units": 2.0, "net_variance_value": -5.0,
                  "abs_variance_value": 5.0}]),
        }
        failures = []
        for name, (types, want) in expected.items():
            got_names, got_types, got = rows(name)
            if got_names != list(want[0]):
                failures.append(f"{name}: columns {got_names}, expected {list(want[0])}")
                continue
            if got_types != types:
                failures.append(f"{name}: types {got_types}, expected {types}")
            if len(got) != len(want):
                failures.append(f"{name}: {len(got)} rows, expected {len(want)}")
                continue
            for g, w in zip(got, want):
                for col, wv in w.items():
                    gv = g[col]
                    same = (abs(gv - wv) <= 1e-9 * max(1.0, abs(wv))
                            if isinstance(wv, float) and isinstance(gv, float) else gv == wv)
                    if not same:
                        failures.append(f"{name}.{col}: got {gv!r}, expected {wv!r}")
        if failures:
            print("selfcheck FAILED:\n  " + "\n  ".join(failures), file=sys.stderr)
            sys.exit(1)
        print("selfcheck ok: fill_rate, exception_aging, count_variance_by_zone, "
              "count_variance_by_supplier match the hand computation")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Independent DuckDB reference for opintel's four core KPIs.")
    parser.add_argument("--lake", help="lake folder (LAKE/<table>/event_date=…/*.parquet)")
    parser.add_argument("--as-of", type=parse_date, help="as-of date D, YYYY-MM-DD")
    parser.add_argument("--out", help="output folder for the four KPI Parquet files")
    parser.add_argument("--window-days", type=int, default=28, help="window W in days (28)")
    parser.add_argument("--tolerance", type=float, default=0.0,
                        help="count accuracy tolerance in units (0)")
    parser.add_argument("--sla", type=parse_sla, default={},
                        help="SLA hours by severity, e.g. critical=4,high=24,medium=72,low=168")
    parser.add_argument("--selfcheck", action="store_true",
                        help="build a tiny lake, compute and check against hand values")
    args = parser.parse_args(argv)

    if args.selfcheck:
        selfcheck()
        return 0
    if not (args.lake and args.as_of and args.out):
        parser.error("--lake, --as-of and --out are required (or --selfcheck)")
    if not os.path.isdir(args.lake):
        print(f"error: lake folder {args.lake} does not exist", file=sys.stderr)
        return 1
    try:
        compute(args.lake, args.as_of, args.out, args.window_days, args.tolerance, args.sla)
    except (ReferenceError, duckdb.Error) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
