#!/usr/bin/env python3
"""The Polars side of the benchmark, run by bench/run.py as a child process so that its
wall time, CPU time and peak RSS are measured exactly like opintel's.

    polars_job.py convert --exports DIR --config DIR/opintel.toml --lake OUT [--threads N]
        lazy scan_csv / scan_ndjson of every export -> validated, typed, de-duplicated
        -> sink_parquet (zstd level 1, Hive partitions by the UTC date of the table's
        main timestamp), the contract's schema (Datetime µs UTC, Float64, String).
    polars_job.py kpis --lake LAKE --as-of D --out DIR [--threads N] [--window-days 28]
        the four core KPIs (bench/kpis_polars.py) -> DIR/<kpi>.parquet (opintel's lake:
        Delta tables, scanned through their logs; a folder or an s3:// URL).

The validation rules are those of bench/contract.py, the same as duck_job.py's; see
that file's docstring. Polars' thread pool is sized by POLARS_MAX_THREADS, which must
be set before polars is imported: this script sets it from --threads.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import contract as C  # noqa: E402

ARGS = C.job_args(__doc__.split("\n\n")[0])
os.environ["POLARS_MAX_THREADS"] = str(ARGS.threads)

import polars as pl  # noqa: E402  (after POLARS_MAX_THREADS)

import kpis_polars  # noqa: E402

UTC_TS = pl.Datetime("us", "UTC")
MIN_TS = dt.datetime.fromisoformat(C.MIN_TS).replace(tzinfo=dt.timezone.utc)
MAX_TS = dt.datetime.fromisoformat(C.MAX_TS).replace(tzinfo=dt.timezone.utc)

# ---------------------------------------------------------------------------------------
# convert: exports -> lake
# ---------------------------------------------------------------------------------------


def scan_source(src: C.Source) -> pl.LazyFrame:
    """All files of one source as text columns named by their canonical field."""
    fields = C.TABLES[src.table].columns
    if src.fmt == "csv":
        lf = pl.scan_csv(src.files, separator=src.delimiter, has_header=True,
                         infer_schema=False, quote_char='"')
    else:
        lf = pl.scan_ndjson(src.files, schema={f: pl.String for f in fields})
    have = src.canonical_of()
    return lf.select([
        (pl.col(have[f]) if f in have else pl.lit(None, pl.String)).alias(f) for f in fields])


def iso_ts(v: pl.Expr) -> pl.Expr:
    """ISO 8601 text -> Datetime(µs, UTC): `T` or space, fraction optional, `Z`/offset
    (kept as an instant) or none (read as UTC), or a date alone (midnight)."""
    s = v.str.replace("T", " ", literal=True, n=1)
    return pl.coalesce(
        s.str.to_datetime("%Y-%m-%d %H:%M:%S%.f%#z", time_unit="us", time_zone="UTC",
                          strict=False),
        s.str.to_datetime("%Y-%m-%d %H:%M:%S%.f", time_unit="us", time_zone="UTC",
                          strict=False),
        s.str.to_datetime("%Y-%m-%d", time_unit="us", time_zone="UTC", strict=False),
    )


def ts_expr(v: pl.Expr, src: C.Source) -> pl.Expr:
    m = src.mapping
    if not (m and m.timestamp_format):
        return iso_ts(v)
    # The mapping's format, naive in the mapping's zone; the DST fold's earlier instant
    # (like opintel); ISO 8601 still accepted after it.
    local = (v.str.to_datetime(m.timestamp_format, time_unit="us", strict=False)
             .dt.replace_time_zone(m.time_zone, ambiguous="earliest", non_existent="null")
             .dt.convert_time_zone("UTC"))
    return pl.coalesce(local, iso_ts(v))


def validated(src: C.Source) -> pl.LazyFrame | None:
    table = C.TABLES[src.table]
    have = src.canonical_of()
    if any(f.required and f.name not in have and f.default is None for f in table.fields):
        print(f"skip {src.files[0]} (+{len(src.files) - 1}): required column missing",
              file=sys.stderr)
        return None
    lf = scan_source(src)
    # Trimmed text, empty = NULL.
    lf = lf.with_columns([
        pl.when(pl.col(f).str.strip_chars().str.len_bytes() > 0)
        .then(pl.col(f).str.strip_chars()).alias("t_" + f) for f in table.columns])
    typed, checks = [], []
    for f in table.fields:
        v = pl.col("t_" + f.name)
        if f.type == C.STR:
            e = v
            vmap = (src.mapping.values.get(f.name) if src.mapping else None) or {}
            if vmap:
                low = {k.strip().lower(): c for k, c in vmap.items()}
                e = pl.when(e.str.to_lowercase().is_in(list(low))).then(
                    e.str.to_lowercase().replace_strict(low, default=None)).otherwise(e)
            if f.enum:
                e = e.str.to_lowercase().replace_strict({c.lower(): c for c in f.enum},
                                                        default=None, return_dtype=pl.String)
                checks.append(v.is_null() | pl.col(f.name).is_not_null())
        elif f.type == C.DEC:
            x = v.cast(pl.Float64, strict=False)
            ok = x.is_finite()
            if f.check == ">0":
                ok = ok & (x > 0)
            elif f.check == ">=0":
                ok = ok & (x >= 0)
            elif f.check == "!=0":
                ok = ok & (x != 0)
            e = pl.when(ok).then(x + 0.0)           # + 0.0 turns -0 into 0
            if f.default is not None:
                e = pl.when(v.is_null()).then(pl.lit(f.default)).otherwise(e)
            checks.append(v.is_null() | pl.col(f.name).is_not_null())
        else:
            t = ts_expr(v, src)
            e = pl.when((t >= MIN_TS) & (t < MAX_TS)).then(t)
            checks.append(v.is_null() | pl.col(f.name).is_not_null())
        if f.required:
            checks.append(pl.col(f.name).is_not_null())
        dtype = {C.STR: pl.String, C.DEC: pl.Float64, C.TS: UTC_TS}[f.type]
        typed.append(e.cast(dtype).alias(f.name))
    lf = lf.with_columns(typed)
    for when_field, when_value, then_required in C.ROW_RULES.get(src.table, []):
        checks.append(pl.col(when_field).ne_missing(when_value)
                      | pl.col(then_required).is_not_null())
    return lf.filter(pl.all_horizontal(checks)).select(table.columns)


def convert(args) -> dict:
    sources, skipped = C.discover(args.exports, args.config)
    os.makedirs(args.lake, exist_ok=True)
    summary = {"tables": {}, "skipped_files": skipped}
    for name, table in C.TABLES.items():
        parts = [lf for lf in (validated(s) for s in sources if s.table == name)
                 if lf is not None]
        if not parts:
            continue
        lf = pl.concat(parts, how="vertical")
        if table.kind == "events":
            # One row per event_id; duplicates are identical rows, any copy will do.
            lf = lf.unique(subset=["event_id"], keep="any", maintain_order=False)
        lf = lf.with_columns(event_date=pl.col(table.time).dt.date())
        t0 = time.perf_counter()
        lf.sink_parquet(
            pl.PartitionBy(os.path.join(args.lake, name), key="event_date",
                           include_key=False),
            compression="zstd", compression_level=1, mkdir=True)
        summary["tables"][name] = {"seconds": round(time.perf_counter() - t0, 3)}
    return summary


# ---------------------------------------------------------------------------------------
# kpis
# ---------------------------------------------------------------------------------------


def kpis(args) -> dict:
    frames = kpis_polars.compute_all(args.lake, dt.date.fromisoformat(args.as_of),
                                     args.window_days, args.tolerance)
    os.makedirs(args.out, exist_ok=True)
    summary = {}
    for name, df in frames.items():
        df.write_parquet(os.path.join(args.out, f"{name}.parquet"))
        summary[name] = {"rows": df.height}
    return summary


def main() -> int:
    t0 = time.perf_counter()
    result = {"convert": convert, "kpis": kpis}[ARGS.cmd](ARGS)
    C.write_result(ARGS, result, time.perf_counter() - t0,
                 polars=pl.__version__, threads=pl.thread_pool_size())
    return 0

if __name__ == "__main__":
    sys.exit(main())
