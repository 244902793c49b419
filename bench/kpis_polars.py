"""The four core KPIs of docs/kpis.md in Polars expressions (lazy, one query plan each).

Written for the benchmark from the contract's text; it shares no code with opintel or
with the DuckDB reference. Input: a lake (opintel's, whose tables are Delta tables read
through their logs, a folder or an s3:// URL; or one written by polars_job.py /
duck_job.py, `LAKE/<table>/**/*.parquet`). Output: one Polars DataFrame per KPI with the
contract's columns in the contract's order and types (Date, Int64, Float64, String).

Readings of the contract (the same as opintel's README "Readings of the contract"):
- every table is taken as of end(D): rows with their timestamp after end(D) do not exist;
- master data and order lines: the latest version per key by `updated_at`, ties to the
  later ingested row (`_ingest_seq` where the lake has it);
- events are already one row per event_id in the lake (de-duplicated at ingest);
- shipments match order lines on (order_id, line_id);
- an exception's age runs from its first event; buckets are lower-bound inclusive;
  breached = age > SLA hours of its severity;
- an unknown zone or supplier (or a NULL supplier) is `UNKNOWN`; an unknown cost values
  the variance at 0.
"""

from __future__ import annotations

import datetime as dt
import glob
import os

import polars as pl

import contract as C  # bench/contract.py: how a lake's tables are found (Delta or not)

DEFAULT_SLA_HOURS = {"critical": 4.0, "high": 24.0, "medium": 72.0, "low": 168.0}
US_PER_HOUR = 3_600_000_000.0

# Bucket upper bounds in hours (exclusive) and their labels, in age order.
BUCKETS = [(24, "0-1d"), (72, "1-3d"), (168, "3-7d"), (336, "7-14d"), (720, "14-30d")]
LAST_BUCKET = "30d+"


def scan(lake: str, table: str, columns: list[str]) -> pl.LazyFrame:
    """The table's Parquet files as a LazyFrame with `columns` plus `_seq` (ingest order
    where the lake records it, else 0). One of opintel's Delta tables is scanned through
    its log (the files of the current version only; bench/contract.py says why)."""
    if C.is_delta(lake, table):
        lf = pl.scan_delta(C.table_uri(lake, table), storage_options=C.storage_options(lake))
    else:
        files = sorted(glob.glob(os.path.join(glob.escape(os.path.join(lake, table)), "**",
                                              "*.parquet"), recursive=True))
        if not files:
            raise SystemExit(f"{lake}/{table}: no Parquet files")
        lf = pl.scan_parquet(files, hive_partitioning=False)
    names = lf.collect_schema().names()
    seq = pl.col("_ingest_seq") if "_ingest_seq" in names else pl.lit(0, pl.Int64)
    return lf.select(*columns, seq.alias("_seq"))


def latest(lf: pl.LazyFrame, key: list[str], order: str) -> pl.LazyFrame:
    """Latest row per key: the one with the greatest (order, _seq)."""
    return lf.group_by(key).agg(pl.all().sort_by([order, "_seq"]).last())


def params(as_of: dt.date, window_days: int):
    window_start = as_of - dt.timedelta(days=window_days - 1)
    start_ts = dt.datetime.combine(window_start, dt.time(0, 0), dt.timezone.utc)
    end_ts = dt.datetime.combine(as_of, dt.time(23, 59, 59, 999999), dt.timezone.utc)
    return window_start, start_ts, end_ts


def fill_rate(lake: str, as_of: dt.date, window_days: int = 28) -> pl.LazyFrame:
    window_start, _, end_ts = params(as_of, window_days)
    lines = scan(lake, "order_lines", ["order_id", "line_id", "channel", "warehouse_id",
                                       "promised_ship_at", "qty_ordered", "cancelled_qty",
                                       "cancel_reason", "updated_at"])
    lines = latest(lines.filter(pl.col("updated_at") <= end_ts), ["order_id", "line_id"],
                   "updated_at")
    # Due in the window; demand = qty_ordered − customer-cancelled units; demand > 0.
    demanded = (
        lines.with_columns(due_date=pl.col("promised_ship_at").dt.date())
        .filter(pl.col("due_date").is_between(window_start, as_of))
        .with_columns(demand=pl.col("qty_ordered") - pl.when(pl.col("cancel_reason") == "customer")
                      .then(pl.col("cancelled_qty").fill_null(0.0)).otherwise(0.0))
        .filter(pl.col("demand") > 0)
        .select("due_date", "channel", "warehouse_id", "order_id", "line_id",
                "promised_ship_at", "demand")
    )
    ships = (scan(lake, "shipments", ["order_id", "line_id", "qty_shipped", "shipped_at"])
             .filter(pl.col("shipped_at") <= end_ts))
    per_line = (
        demanded.select("order_id", "line_id", "promised_ship_at")
        .join(ships, on=["order_id", "line_id"], how="inner")
        .group_by("order_id", "line_id")
        .agg(shipped=pl.col("qty_shipped").sum(),
             on_time=pl.col("qty_shipped").filter(
                 pl.col("shipped_at") <= pl.col("promised_ship_at")).sum())
    )
    results = (
        demanded.join(per_line, on=["order_id", "line_id"], how="left")
        .with_columns(pl.col("shipped").fill_null(0.0), pl.col("on_time").fill_null(0.0))
        .with_columns(filled=pl.min_horizontal("shipped", "demand"),
                      line_full=pl.col("shipped") >= pl.col("demand"),
                      line_otif=pl.col("on_time") >= pl.col("demand"))
    )
    grain = ["due_date", "channel", "warehouse_id"]
    orders = (results.group_by(*grain, "order_id").agg(order_full=pl.col("line_full").all())
              .group_by(grain).agg(order_fill_rate=pl.col("order_full").cast(pl.Float64).mean()))
    groups = results.group_by(grain).agg(
        lines=pl.len().cast(pl.Int64),
        orders=pl.col("order_id").n_unique().cast(pl.Int64),
        units_demanded=pl.col("demand").sum(),
        units_filled=pl.col("filled").sum(),
        line_fill_rate=pl.col("line_full").cast(pl.Float64).mean(),
        otif_rate=pl.col("line_otif").cast(pl.Float64).mean(),
    )
    return (
        groups.join(orders, on=grain, how="inner")
        .with_columns(unit_fill_rate=pl.col("units_filled") / pl.col("units_demanded"))
        .select("due_date", "channel", "warehouse_id", "lines", "orders", "units_demanded",
                "units_filled", "unit_fill_rate", "line_fill_rate", "order_fill_rate",
                "otif_rate")
        .sort(grain)
    )


def exception_aging(lake: str, as_of: dt.date, window_days: int = 28,
                    sla_hours: dict[str, float] | None = None) -> pl.LazyFrame:
    _, _, end_ts = params(as_of, window_days)
    sla = dict(DEFAULT_SLA_HOURS, **(sla_hours or {}))
    ev = (scan(lake, "exception_events", ["exception_id", "event_at", "status",
                                          "exception_type", "severity"])
          .filter(pl.col("event_at") <= end_ts)
          .with_columns(opened_at=pl.col("event_at").min().over("exception_id")))
    state = latest(ev, ["exception_id"], "event_at")
    end_lit = pl.lit(end_ts).dt.cast_time_unit("us")
    open_ = (
        state.filter(~pl.col("status").is_in(["resolved", "cancelled"]))
        .with_columns(age_hours=(end_lit - pl.col("opened_at")).dt.total_microseconds()
                      .cast(pl.Float64) / US_PER_HOUR)
    )
    bucket = pl.lit(LAST_BUCKET)
    order = pl.lit(len(BUCKETS) + 1)
    for i, (hours, label) in reversed(list(enumerate(BUCKETS))):
        bucket = pl.when(pl.col("age_hours") < hours).then(pl.lit(label)).otherwise(bucket)
        order = pl.when(pl.col("age_hours") < hours).then(pl.lit(i + 1)).otherwise(order)
    sla_of = pl.col("severity").replace_strict(sla, default=None, return_dtype=pl.Float64)
    return (
        open_.with_columns(age_bucket=bucket, bucket_order=order,
                           breached=(pl.col("age_hours") > sla_of).fill_null(False))
        .group_by("exception_type", "severity", "age_bucket", "bucket_order")
        .agg(open_count=pl.len().cast(pl.Int64),
             breached_count=pl.col("breached").sum().cast(pl.Int64),
             oldest_age_hours=pl.col("age_hours").max())
        .sort("exception_type", "severity", "bucket_order")
        .select(pl.lit(as_of).alias("as_of"), "exception_type", "severity", "age_bucket",
                "open_count", "breached_count", "oldest_age_hours")
    )


def count_variance_detail(lake: str, as_of: dt.date, window_days: int = 28,
                          tolerance: float = 0.0) -> pl.LazyFrame:
    _, start_ts, end_ts = params(as_of, window_days)
    counts = (scan(lake, "cycle_counts", ["warehouse_id", "location_id", "sku", "system_qty",
                                          "counted_qty", "counted_at"])
              .filter(pl.col("counted_at").is_between(start_ts, end_ts)))
    items = latest(scan(lake, "items", ["sku", "supplier_id", "unit_cost", "updated_at"])
                   .filter(pl.col("updated_at") <= end_ts), ["sku"], "updated_at")
    locs = latest(scan(lake, "locations", ["location_id", "zone", "updated_at"])
                  .filter(pl.col("updated_at") <= end_ts), ["location_id"], "updated_at")
    variance = pl.col("counted_qty") - pl.col("system_qty")
    return (
        counts.join(locs.select("location_id", "zone"), on="location_id", how="left")
        .join(items.select("sku", "supplier_id", "unit_cost"), on="sku", how="left")
        .select(
            "warehouse_id",
            pl.col("zone").fill_null("UNKNOWN"),
            pl.col("supplier_id").fill_null("UNKNOWN"),
            variance.alias("variance"),
            pl.when(pl.col("unit_cost").is_null()).then(0.0)
            .otherwise(variance * pl.col("unit_cost")).alias("value"),
            (variance.abs() <= tolerance).alias("accurate"),
        )
    )


def count_variance_by(detail: pl.LazyFrame, dim: str) -> pl.LazyFrame:
    return (
        detail.group_by("warehouse_id", dim)
        .agg(counts=pl.len().cast(pl.Int64),
             accurate_counts=pl.col("accurate").sum().cast(pl.Int64),
             net_variance_units=pl.col("variance").sum(),
             abs_variance_units=pl.col("variance").abs().sum(),
             net_variance_value=pl.col("value").sum(),
             abs_variance_value=pl.col("value").abs().sum())
        .with_columns(accuracy_rate=pl.col("accurate_counts") / pl.col("counts"))
        .select("warehouse_id", dim, "counts", "accurate_counts", "accuracy_rate",
                "net_variance_units", "abs_variance_units", "net_variance_value",
                "abs_variance_value")
        .sort("warehouse_id", dim)
    )


def compute_all(lake: str, as_of: dt.date, window_days: int = 28,
                tolerance: float = 0.0) -> dict[str, pl.DataFrame]:
    """The four KPI tables, computed together (Polars shares the common subplans)."""
    detail = count_variance_detail(lake, as_of, window_days, tolerance)
    plans = {
        "fill_rate": fill_rate(lake, as_of, window_days),
        "exception_aging": exception_aging(lake, as_of, window_days),
        "count_variance_by_zone": count_variance_by(detail, "zone"),
        "count_variance_by_supplier": count_variance_by(detail, "supplier_id"),
    }
    frames = pl.collect_all(list(plans.values()))
    return dict(zip(plans, frames))
