#!/usr/bin/env python3
"""Compare KPI Parquet tables row by row: the reference (EXPECTED_DIR) against opintel
(ACTUAL_DIR).

Usage:
    python3 compare_kpis.py EXPECTED_DIR ACTUAL_DIR [--names fill_rate,exception_aging,...]

Without --names it compares the four core KPIs (fill_rate, exception_aging,
count_variance_by_zone, count_variance_by_supplier), whatever else the folders hold. The
later KPIs (order_flow, backorders, exception_resolution, count_variance_by_abc,
inventory_position, receiving_to_available, return_to_stock, shipment_timeliness,
exception_backlog) and `tiles_current` (tile, value: the current tiles of
`kpis_duckdb.py --tiles` and of `tiles_of.py`) are compared only when named.

For each KPI `NAME`, reads `EXPECTED_DIR/NAME.parquet` and `ACTUAL_DIR/NAME.parquet` and
checks, in both files:
  - the column names, in order, are the contract's;
  - each column has the contract's type: dates are dates (date32), counts are integers
    (int64), units/values/rates/hours are floats (float64), text is text;
then that both have the same number of rows and, matching rows on the KPI's key columns
(its grain), that integers, strings and dates are equal and floats are equal within 1e-9
relative or 1e-9 absolute. Row order is not compared.

Prints the first 20 mismatching rows per table and exits 1 on any mismatch, 0 otherwise
(2 on bad usage).
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import os
import sys

import pyarrow as pa
import pyarrow.parquet as pq

DATE, INT, FLOAT, STR, TS, BOOL = "date", "int", "float", "str", "ts", "bool"
KIND_NAME = {DATE: "a date (date32)", INT: "an integer (int64)", FLOAT: "a float (float64)",
             STR: "a string", TS: "a UTC timestamp", BOOL: "a boolean"}

# Columns in contract order with their kind; the key (grain) rows are matched on.
KPIS = {
    "fill_rate": {
        "key": ["due_date", "channel", "warehouse_id"],
        "columns": [("due_date", DATE), ("channel", STR), ("warehouse_id", STR),
                    ("lines", INT), ("orders", INT), ("units_demanded", FLOAT),
                    ("units_filled", FLOAT), ("unit_fill_rate", FLOAT),
                    ("line_fill_rate", FLOAT), ("order_fill_rate", FLOAT),
                    ("otif_rate", FLOAT)],
    },
    "exception_aging": {
        "key": ["exception_type", "severity", "age_bucket"],
        "columns": [("as_of", DATE), ("exception_type", STR), ("severity", STR),
                    ("age_bucket", STR), ("open_count", INT), ("breached_count", INT),
                    ("oldest_age_hours", FLOAT)],
    },
    "count_variance_by_zone": {
        "key": ["warehouse_id", "zone"],
        "columns": [("warehouse_id", STR), ("zone", STR), ("counts", INT),
                    ("accurate_counts", INT), ("accuracy_rate", FLOAT),
                    ("net_variance_units", FLOAT), ("abs_variance_units", FLOAT),
                    ("net_variance_value", FLOAT), ("abs_variance_value", FLOAT)],
    },
    "count_variance_by_supplier": {
        "key": ["warehouse_id", "supplier_id"],
        "columns": [("warehouse_id", STR), ("supplier_id", STR), ("counts", INT),
                    ("accurate_counts", INT), ("accuracy_rate", FLOAT),
                    ("net_variance_units", FLOAT), ("abs_variance_units", FLOAT),
                    ("net_variance_value", FLOAT), ("abs_variance_value", FLOAT)],
    },
    # Later KPIs of docs/kpis.md; compared only when named (--names).
    "order_flow": {
        "key": ["order_date", "channel", "warehouse_id"],
        "columns": [("order_date", DATE), ("channel", STR), ("warehouse_id", STR),
                    ("orders", INT), ("lines", INT), ("complete_orders", INT),
                    ("split_shipment_rate", FLOAT), ("order_to_ship_hours_median", FLOAT),
                    ("order_to_ship_hours_p90", FLOAT), ("stockout_cancel_rate", FLOAT)],
    },
    "backorders": {
        "key": ["warehouse_id", "channel", "days_late_bucket"],
        "columns": [("as_of", DATE), ("warehouse_id", STR), ("channel", STR),
                    ("days_late_bucket", STR), ("lines", INT), ("units_open", FLOAT),
                    ("oldest_days_late", FLOAT)],
    },
    "exception_resolution": {
        "key": ["exception_type", "severity"],
        "columns": [("exception_type", STR), ("severity", STR), ("resolved", INT),
                    ("resolution_hours_median", FLOAT), ("resolution_hours_p90", FLOAT),
                    ("resolved_within_sla_rate", FLOAT)],
    },
    "count_variance_by_abc": {
        "key": ["warehouse_id", "abc_class"],
        "columns": [("warehouse_id", STR), ("abc_class", STR), ("counts", INT),
                    ("accurate_counts", INT), ("accuracy_rate", FLOAT),
                    ("net_variance_units", FLOAT), ("abs_variance_units", FLOAT),
                    ("net_variance_value", FLOAT), ("abs_variance_value", FLOAT)],
    },
    "inventory_position": {
        "key": ["warehouse_id", "sku"],
        "columns": [("snapshot_at", TS), ("warehouse_id", STR), ("sku", STR),
                    ("available", FLOAT), ("reserved", FLOAT), ("quarantined", FLOAT),
                    ("damaged", FLOAT), ("in_transit", FLOAT), ("on_hold", FLOAT),
                    ("on_hand", FLOAT), ("open_demand", FLOAT),
                    ("available_to_promise", FLOAT)],
    },
    "receiving_to_available": {
        "key": ["warehouse_id"],
        "columns": [("warehouse_id", STR), ("receipt_lines", INT), ("hours_median", FLOAT),
                    ("hours_p90", FLOAT)],
    },
    # Defined by its query file (queries/return_to_stock.sql), not the contract.
    "return_to_stock": {
        "key": ["warehouse_id"],
        "columns": [("warehouse_id", STR), ("returns_dispositioned", INT),
                    ("returns_restocked", INT), ("restock_share", FLOAT),
                    ("median_hours", FLOAT), ("p90_hours", FLOAT)],
    },
    # Defined by its query file (queries/shipment_timeliness.sql), not the contract.
    "shipment_timeliness": {
        "key": ["warehouse_id", "channel"],
        "columns": [("warehouse_id", STR), ("channel", STR), ("lines_due", INT),
                    ("lines_shipped", INT), ("on_time_lines", INT), ("late_lines", INT),
                    ("open_lines", INT), ("on_time_rate", FLOAT), ("avg_hours_late", FLOAT),
                    ("p90_hours_late", FLOAT)],
    },
    # Defined by its query file (queries/exception_backlog.sql), not the contract.
    "exception_backlog": {
        "key": ["exception_id"],
        "columns": [("exception_id", STR), ("exception_type", STR), ("severity", STR),
                    ("status", STR), ("opened_at", TS), ("age_hours", FLOAT),
                    ("sla_hours", FLOAT), ("breached", BOOL), ("owner", STR),
                    ("warehouse_id", STR), ("location_id", STR), ("sku", STR),
                    ("supplier_id", STR)],
    },
    # Defined by its query file (queries/exception_recurrence.sql), not the contract.
    "exception_recurrence": {
        "key": ["dimension", "key", "exception_type"],
        "columns": [("dimension", STR), ("key", STR), ("exception_type", STR),
                    ("exceptions", INT), ("locations", INT), ("skus", INT),
                    ("first_opened", TS), ("last_opened", TS), ("repeat_share", FLOAT)],
    },
    # Not a contract table: the current-period tiles, one row per tile.
    "tiles_current": {
        "key": ["tile"],
        "columns": [("tile", STR), ("value", FLOAT)],
    },
}

# Compared when --names is not given: the four core KPIs only, as before the later KPIs
# were added (opintel's Rust tests run the plain comparison on reports that may not have
# the later tables).
DEFAULT_NAMES = ["fill_rate", "exception_aging", "count_variance_by_zone",
                 "count_variance_by_supplier"]

MAX_SHOWN = 20
REL_TOL = 1e-9
ABS_TOL = 1e-9


def kind_ok(kind: str, t: pa.DataType) -> bool:
    """Whether an Arrow type is what the contract asks for. Text may come back as any of
    Arrow's string layouts: Parquet stores them the same way."""
    if kind == DATE:
        return pa.types.is_date32(t)
    if kind == INT:
        return pa.types.is_int64(t)
    if kind == FLOAT:
        return pa.types.is_float64(t)
    if kind == TS:
        return pa.types.is_timestamp(t) and t.tz in ("UTC", "+00:00", "Etc/UTC")
    if kind == BOOL:
        return pa.types.is_boolean(t)
    return (pa.types.is_string(t) or pa.types.is_large_string(t)
            or getattr(pa.types, "is_string_view", lambda _: False)(t))


def floats_equal(a: float, b: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    if math.isinf(a) or math.isinf(b):
        return a == b
    diff = abs(a - b)
    return diff <= ABS_TOL or diff <= REL_TOL * max(abs(a), abs(b))


def values_equal(kind: str, a, b) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if kind == FLOAT:
        return floats_equal(float(a), float(b))
    return type(a) is type(b) and a == b


def fmt(v) -> str:
    if v is None:
        return "NULL"
    if isinstance(v, (dt.date, dt.datetime)):
        return v.isoformat()
    return repr(v)


def fmt_row(row: dict) -> str:
    return "{" + ", ".join(f"{c}: {fmt(v)}" for c, v in row.items()) + "}"


def compare_table(name: str, expected_path: str, actual_path: str) -> list[str]:
    """Problems found comparing one KPI table; empty when they agree."""
    spec = KPIS[name]
    want_cols = [c for c, _ in spec["columns"]]
    kinds = dict(spec["columns"])
    problems: list[str] = []

    tables = {}
    for side, path in (("expected", expected_path), ("actual", actual_path)):
        if not os.path.isfile(path):
            problems.append(f"{side} file {path} does not exist")
            continue
        try:
            tables[side] = pq.read_table(path)
        except Exception as e:  # a broken file is a mismatch, reported, not a crash
            problems.append(f"{side} file {path} cannot be read: {e}")
    if problems:
        return problems

    # Column names, in order, and types, on both sides.
    names_differ = False
    for side, t in tables.items():
        if t.column_names != want_cols:
            names_differ = True
            problems.append(f"{side} columns {t.column_names}\n      contract {want_cols}")
            continue
        for f in t.schema:
            if not kind_ok(kinds[f.name], f.type):
                problems.append(f"{side} column {f.name} has type {f.type}, "
                                f"expected {KIND_NAME[kinds[f.name]]}")
    if names_differ:
        return problems

    exp, act = tables["expected"], tables["actual"]
    if exp.num_rows != act.num_rows:
        problems.append(f"row count: expected {exp.num_rows}, actual {act.num_rows}")

    key = spec["key"]

    def by_key(t: pa.Table, side: str) -> dict:
        rows: dict = {}
        for r in t.to_pylist():
            k = tuple(r[c] for c in key)
            if k in rows:
                problems.append(f"{side}: key {dict(zip(key, k))} appears more than once")
            rows[k] = r
        return rows

    exp_rows, act_rows = by_key(exp, "expected"), by_key(act, "actual")

    def sort_key(k: tuple):
        return tuple((v is None, str(v)) for v in k)

    row_diffs: list[str] = []
    for k in sorted(set(exp_rows) | set(act_rows), key=sort_key):
        label = ", ".join(f"{c}={fmt(v)}" for c, v in zip(key, k))
        e, a = exp_rows.get(k), act_rows.get(k)
        if a is None:
            row_diffs.append(f"[{label}] missing in actual; expected row: {fmt_row(e)}")
        elif e is None:
            row_diffs.append(f"[{label}] not expected; actual row: {fmt_row(a)}")
        else:
            cells = [f"{c}: expected {fmt(e[c])}, actual {fmt(a[c])}"
                     for c in want_cols if not values_equal(kinds[c], e[c], a[c])]
            if cells:
                row_diffs.append(f"[{label}] " + "; ".join(cells))
    if row_diffs:
        problems.append(f"{len(row_diffs)} mismatching row(s)"
                        + (f", first {MAX_SHOWN} shown" if len(row_diffs) > MAX_SHOWN else "")
                        + ":")
        problems.extend("  " + d for d in row_diffs[:MAX_SHOWN])
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Compare KPI Parquet tables row by row.")
    parser.add_argument("expected_dir")
    parser.add_argument("actual_dir")
    parser.add_argument("--names", default=",".join(DEFAULT_NAMES),
                        help=f"comma-separated names among {', '.join(KPIS)} "
                             f"(default: {','.join(DEFAULT_NAMES)})")
    args = parser.parse_args(argv)

    names = [n.strip() for n in args.names.split(",") if n.strip()]
    unknown = [n for n in names if n not in KPIS]
    if unknown or not names:
        parser.error(f"--names: unknown KPI(s) {unknown}; known: {', '.join(KPIS)}")

    failed = 0
    for name in names:
        problems = compare_table(name,
                                 os.path.join(args.expected_dir, f"{name}.parquet"),
                                 os.path.join(args.actual_dir, f"{name}.parquet"))
        if problems:
            failed += 1
            print(f"MISMATCH {name}:")
            for p in problems:
                print(f"  {p}")
        else:
            print(f"ok {name}")
    if failed:
        print(f"{failed} of {len(names)} KPI table(s) differ")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
