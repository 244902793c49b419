#!/usr/bin/env python3
"""The DuckDB side of the benchmark, run by bench/run.py as a child process so that its
wall time, CPU time and peak RSS are measured exactly like opintel's.

    duck_job.py convert --exports DIR --config DIR/opintel.toml --lake OUT [--threads N]
        CSV / NDJSON exports -> typed, validated, de-duplicated zstd Parquet lake
        (OUT/<table>/event_date=YYYY-MM-DD/*.parquet, contract schema).
    duck_job.py kpis --lake LAKE --as-of D --out DIR [--threads N] [--window-days 28]
        the four core KPIs (docs/kpis.md) over a lake (its own or opintel's: Delta
        tables, read through their logs; a folder or an s3:// URL) ->
        DIR/<kpi>.parquet with the contract's columns and types.
    duck_job.py count --lake LAKE --json FILE
        rows per table of a lake (not timed as a phase; for the row-count check).

What an analyst would write in DuckDB SQL, with the same rules opintel applies
(bench/contract.py): text trimmed, empty = NULL, numbers finite and within the
contract's sign rules, enums matched case-insensitively and stored canonically, required
fields present, timestamps ISO 8601 (the 3PL's through its mapping in opintel.toml:
renamed columns, `;`, day-first naive America/Chicago times — the earlier instant in the
DST fold, like opintel — and its own enum codes), events de-duplicated by event_id.
Rows that break a rule are dropped (counted, not kept with reasons: that is one thing
opintel does and this does not).
"""

from __future__ import annotations

import datetime as dt
import glob
import os
import sys
import time

import duckdb

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import contract as C  # noqa: E402


def q(name: str) -> str:
    """A quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def lit(text: str) -> str:
    """A SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def connect(threads: int) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute(f"SET threads = {int(threads)}")
    # Row order of the outputs does not matter; letting DuckDB drop it is faster.
    con.execute("SET preserve_insertion_order = false")
    return con


# ---------------------------------------------------------------------------------------
# convert: exports -> lake
# ---------------------------------------------------------------------------------------


def reader_sql(src: C.Source) -> str:
    """A table function reading every file of one source as text columns."""
    files = "[" + ", ".join(lit(f) for f in src.files) + "]"
    if src.fmt == "csv":
        # The header is known (contract.discover read it): no sniffing, every column text.
        cols = "{" + ", ".join(f"{lit(c)}: 'VARCHAR'" for c in src.header) + "}"
        return (f"read_csv({files}, header = true, delim = {lit(src.delimiter)}, "
                f"quote = '\"', escape = '\"', auto_detect = false, columns = {cols})")
    cols = "{" + ", ".join(f"{lit(c)}: 'VARCHAR'" for c in C.TABLES[src.table].columns) + "}"
    return f"read_json({files}, format = 'newline_delimited', columns = {cols})"


def ts_sql(v: str, src: C.Source) -> str:
    """Timestamp expression for the trimmed text `v` (TIMESTAMPTZ, NULL when unreadable)."""
    iso = f"TRY_CAST({v} AS TIMESTAMPTZ)"     # naive ISO values: session zone = UTC
    m = src.mapping
    if not (m and m.timestamp_format):
        return iso
    local = f"try_strptime({v}, {lit(m.timestamp_format)})"
    inst = f"timezone({lit(m.time_zone)}, {local})"
    # DuckDB resolves a local time in the DST fold to the later instant; the contract's
    # reader (opintel) takes the earlier one: if one hour earlier shows the same wall
    # time, the value was ambiguous and the earlier instant is meant.
    earlier = f"({inst} - INTERVAL 1 HOUR)"
    fold = (f"CASE WHEN timezone({lit(m.time_zone)}, {earlier}) = {local} "
            f"THEN {earlier} ELSE {inst} END")
    return f"coalesce({fold}, {iso})"


def validated_sql(src: C.Source) -> str | None:
    """SELECT of the accepted, typed rows of one source (None if the source cannot be
    used: a required column is missing, as opintel skips such a file)."""
    table = C.TABLES[src.table]
    have = src.canonical_of()
    if any(f.required and f.name not in have and f.default is None for f in table.fields):
        print(f"skip {src.files[0]} (+{len(src.files) - 1}): required column missing",
              file=sys.stderr)
        return None
    # Level 1: trimmed text, empty = NULL.
    texts = []
    for f in table.fields:
        raw = f"CAST({q(have[f.name])} AS VARCHAR)" if f.name in have else "CAST(NULL AS VARCHAR)"
        texts.append(f"NULLIF(trim({raw}), '') AS {q('t_' + f.name)}")
    # Level 2: typed values and the checks that decide acceptance.
    typed, checks = [], []
    for f in table.fields:
        v = q("t_" + f.name)
        if f.type == C.STR:
            e = v
            vmap = (src.mapping.values.get(f.name) if src.mapping else None) or {}
            if vmap:
                cases = " ".join(f"WHEN {lit(k.strip().lower())} THEN {lit(c)}"
                                 for k, c in vmap.items())
                e = f"CASE lower({e}) {cases} ELSE {e} END"
            if f.enum:
                cases = " ".join(f"WHEN {lit(c.lower())} THEN {lit(c)}" for c in f.enum)
                e = f"CASE lower({e}) {cases} ELSE NULL END"
                checks.append(f"({v} IS NULL OR {q(f.name)} IS NOT NULL)")
        elif f.type == C.DEC:
            x = f"TRY_CAST({v} AS DOUBLE)"
            cond = {">0": " > 0", ">=0": " >= 0", "!=0": " <> 0", None: None}[f.check]
            ok = f"isfinite({x})" + (f" AND {x}{cond}" if cond else "")
            # A bad value is NULL here and the row is refused below; + 0.0 turns -0 into 0.
            e = f"CASE WHEN {ok} THEN {x} + 0.0 END"
            if f.default is not None:
                e = f"CASE WHEN {v} IS NULL THEN {f.default!r} ELSE {e} END"
            checks.append(f"({v} IS NULL OR {q(f.name)} IS NOT NULL)")
        else:  # TS
            t = ts_sql(v, src)
            e = (f"CASE WHEN {t} >= TIMESTAMPTZ '{C.MIN_TS}' AND {t} < TIMESTAMPTZ '{C.MAX_TS}'"
                 f" THEN {t} END")
            checks.append(f"({v} IS NULL OR {q(f.name)} IS NOT NULL)")
        if f.required:
            checks.append(f"{q(f.name)} IS NOT NULL")
        typed.append(f"{e} AS {q(f.name)}")
    for when_field, when_value, then_required in C.ROW_RULES.get(src.table, []):
        checks.append(f"({q(when_field)} IS DISTINCT FROM {lit(when_value)} "
                      f"OR {q(then_required)} IS NOT NULL)")
    raw_cols = ", ".join(q("t_" + f.name) for f in table.fields)
    return (f"SELECT {', '.join(q(f.name) for f in table.fields)} FROM ("
            f"SELECT {', '.join(typed)}, {raw_cols} FROM ("
            f"SELECT {', '.join(texts)} FROM {reader_sql(src)}))"
            f" WHERE {' AND '.join(checks) or 'true'}")


def convert(args) -> dict:
    con = connect(args.threads)
    # DuckDB pushes the acceptance filter below the projection and inlines every typed
    # expression into it, so each TRY_CAST(… AS TIMESTAMPTZ) runs several times per row
    # (measured: 3.1 s instead of 0.5 s for 230k order lines). Keeping the filter above
    # the projection evaluates each cast once. Nothing else in `convert` filters.
    con.execute("SET disabled_optimizers = 'filter_pushdown'")
    sources, skipped = C.discover(args.exports, args.config)
    os.makedirs(args.lake, exist_ok=True)
    summary = {"tables": {}, "skipped_files": skipped}
    for name, table in C.TABLES.items():
        parts = [s for s in (validated_sql(src) for src in sources if src.table == name) if s]
        if not parts:
            continue
        union = " UNION ALL ".join(f"({p})" for p in parts)
        if table.kind == "events":
            # "Events: immutable facts, one row per event, deduplicated by event_id."
            # Duplicates (overlapping and re-sent exports) are identical rows, so which
            # copy is kept does not matter.
            union = f"SELECT DISTINCT ON (event_id) * FROM ({union})"
        # Master data and order-line versions are all kept: "latest version per key"
        # is decided as of the run's date, at query time.
        out = os.path.join(args.lake, name)
        t0 = time.perf_counter()
        n = con.execute(
            f"COPY (SELECT *, CAST({q(table.time)} AS DATE) AS event_date FROM ({union})) "
            f"TO {lit(out)} (FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL 1, "
            f"PARTITION_BY (event_date), OVERWRITE_OR_IGNORE true)").fetchone()[0]
        summary["tables"][name] = {"rows": n, "seconds": round(time.perf_counter() - t0, 3)}
    con.close()
    return summary


# ---------------------------------------------------------------------------------------
# kpis: lake -> the four core KPIs
# ---------------------------------------------------------------------------------------
# Adapted from tests/reference/kpis_duckdb.py (the independent reference), for speed:
# the lake is read in place (views, not loaded tables), all cores are used, and events
# are not de-duplicated again (both opintel's lake and the competitors' own lakes hold
# one row per event_id already). `{seq}` is the tie-breaker "the later ingested row":
# opintel's `_ingest_seq` when the lake has it, else 0 (the competitors' lakes do not
# record ingest order; see README for why that does not change a value here).

FILL_RATE_SQL = """
WITH
line_versions AS (          -- latest version per (order_id, line_id) as of end(D)
    SELECT l.*
    FROM order_lines AS l, params AS p
    WHERE l.updated_at <= p.end_ts
    QUALIFY row_number() OVER (PARTITION BY l.order_id, l.line_id
                               ORDER BY l.updated_at DESC, l.{seq} DESC) = 1
),
demanded_lines AS (         -- due in the window; demand > 0
    SELECT * FROM (
        SELECT CAST(l.promised_ship_at AS DATE) AS due_date, l.channel, l.warehouse_id,
               l.order_id, l.line_id, l.promised_ship_at,
               l.qty_ordered - CASE WHEN l.cancel_reason = 'customer'
                                    THEN coalesce(l.cancelled_qty, 0.0) ELSE 0.0 END AS demand
        FROM line_versions AS l, params AS p
        WHERE CAST(l.promised_ship_at AS DATE) BETWEEN p.window_start AND p.as_of)
    WHERE demand > 0
),
shipped_per_line AS (       -- Σ shipped by end(D), and by promised_ship_at (OTIF)
    SELECT l.order_id, l.line_id, sum(s.qty_shipped) AS shipped,
           coalesce(sum(s.qty_shipped) FILTER (WHERE s.shipped_at <= l.promised_ship_at), 0.0)
               AS shipped_on_time
    FROM demanded_lines AS l
    JOIN shipments AS s ON s.order_id = l.order_id AND s.line_id = l.line_id
    CROSS JOIN params AS p
    WHERE s.shipped_at <= p.end_ts
    GROUP BY l.order_id, l.line_id
),
line_results AS (
    SELECT l.*,
           least(coalesce(x.shipped, 0.0), l.demand) AS filled,
           coalesce(x.shipped, 0.0) >= l.demand AS line_full,
           coalesce(x.shipped_on_time, 0.0) >= l.demand AS line_otif
    FROM demanded_lines AS l
    LEFT JOIN shipped_per_line AS x ON x.order_id = l.order_id AND x.line_id = l.line_id
),
order_groups AS (           -- orders whose every line in the group is full
    SELECT due_date, channel, warehouse_id,
           CAST(count_if(order_full) AS DOUBLE) / count(*) AS order_fill_rate
    FROM (SELECT due_date, channel, warehouse_id, order_id, bool_and(line_full) AS order_full
          FROM line_results GROUP BY ALL)
    GROUP BY ALL
),
line_groups AS (
    SELECT due_date, channel, warehouse_id,
           CAST(count(*) AS BIGINT) AS lines,
           CAST(count(DISTINCT order_id) AS BIGINT) AS orders,
           CAST(sum(demand) AS DOUBLE) AS units_demanded,
           CAST(sum(filled) AS DOUBLE) AS units_filled,
           CAST(count_if(line_full) AS DOUBLE) / count(*) AS line_fill_rate,
           CAST(count_if(line_otif) AS DOUBLE) / count(*) AS otif_rate
    FROM line_results
    GROUP BY ALL
)
SELECT g.due_date, CAST(g.channel AS VARCHAR) AS channel,
       CAST(g.warehouse_id AS VARCHAR) AS warehouse_id, g.lines, g.orders,
       g.units_demanded, g.units_filled, g.units_filled / g.units_demanded AS unit_fill_rate,
       g.line_fill_rate, o.order_fill_rate, g.otif_rate
FROM line_groups AS g
JOIN order_groups AS o USING (due_date, channel, warehouse_id)
ORDER BY g.due_date, g.channel, g.warehouse_id
"""

EXCEPTION_AGING_SQL = """
WITH
events AS (SELECT e.* FROM exception_events AS e, params AS p WHERE e.event_at <= p.end_ts),
exception_state AS (        -- latest event ≤ end(D); opened_at = earliest event
    SELECT exception_id, status, exception_type, severity,
           min(event_at) OVER (PARTITION BY exception_id) AS opened_at
    FROM events
    QUALIFY row_number() OVER (PARTITION BY exception_id
                               ORDER BY event_at DESC, {seq} DESC) = 1
),
open_exceptions AS (
    SELECT x.exception_type, x.severity,
           CAST(epoch_us(p.end_ts) - epoch_us(x.opened_at) AS DOUBLE) / 3600000000.0 AS age_hours
    FROM exception_state AS x, params AS p
    WHERE x.status NOT IN ('resolved', 'cancelled')
),
aged AS (
    SELECT o.*,
        CASE WHEN o.age_hours < 24 THEN '0-1d' WHEN o.age_hours < 72 THEN '1-3d'
             WHEN o.age_hours < 168 THEN '3-7d' WHEN o.age_hours < 336 THEN '7-14d'
             WHEN o.age_hours < 720 THEN '14-30d' ELSE '30d+' END AS age_bucket,
        CASE WHEN o.age_hours < 24 THEN 1 WHEN o.age_hours < 72 THEN 2
             WHEN o.age_hours < 168 THEN 3 WHEN o.age_hours < 336 THEN 4
             WHEN o.age_hours < 720 THEN 5 ELSE 6 END AS bucket_order,
        coalesce(o.age_hours > s.sla_hours, false) AS breached
    FROM open_exceptions AS o LEFT JOIN sla AS s ON s.severity = o.severity
)
SELECT p.as_of, CAST(a.exception_type AS VARCHAR) AS exception_type,
       CAST(a.severity AS VARCHAR) AS severity, a.age_bucket,
       CAST(count(*) AS BIGINT) AS open_count,
       CAST(count_if(a.breached) AS BIGINT) AS breached_count,
       CAST(max(a.age_hours) AS DOUBLE) AS oldest_age_hours
FROM aged AS a, params AS p
GROUP BY p.as_of, a.exception_type, a.severity, a.age_bucket, a.bucket_order
ORDER BY a.exception_type, a.severity, a.bucket_order
"""

COUNT_VARIANCE_DETAIL_SQL = """
WITH
counts AS (SELECT c.* FROM cycle_counts AS c, params AS p
           WHERE c.counted_at >= p.start_ts AND c.counted_at <= p.end_ts),
items_as_of AS (
    SELECT i.sku, i.supplier_id, i.unit_cost FROM items AS i, params AS p
    WHERE i.updated_at <= p.end_ts
    QUALIFY row_number() OVER (PARTITION BY i.sku ORDER BY i.updated_at DESC, i.{seq} DESC) = 1
),
locations_as_of AS (
    SELECT l.location_id, l.zone FROM locations AS l, params AS p
    WHERE l.updated_at <= p.end_ts
    QUALIFY row_number() OVER (PARTITION BY l.location_id
                               ORDER BY l.updated_at DESC, l.{seq} DESC) = 1
)
SELECT c.warehouse_id,
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
"""

COUNT_VARIANCE_BY_SQL = """
SELECT CAST(warehouse_id AS VARCHAR) AS warehouse_id, CAST({dim} AS VARCHAR) AS {dim},
       CAST(count(*) AS BIGINT) AS counts,
       CAST(count_if(accurate) AS BIGINT) AS accurate_counts,
       CAST(count_if(accurate) AS DOUBLE) / count(*) AS accuracy_rate,
       CAST(sum(variance) AS DOUBLE) AS net_variance_units,
       CAST(sum(abs(variance)) AS DOUBLE) AS abs_variance_units,
       CAST(sum(value) AS DOUBLE) AS net_variance_value,
       CAST(sum(abs(value)) AS DOUBLE) AS abs_variance_value
FROM count_variance_detail
GROUP BY warehouse_id, {dim}
ORDER BY warehouse_id, {dim}
"""

DEFAULT_SLA_HOURS = {"critical": 4.0, "high": 24.0, "medium": 72.0, "low": 168.0}


def table_source(con, lake: str, table: str) -> str | None:
    """A SQL source over the table's data files (without event_date, which the KPIs do not
    read), or None when it has none. opintel's Delta tables: the files of the current
    version, from the Delta log (bench/contract.py says why); a local table is read by
    read_parquet over that list, an s3:// one as deltalake's pyarrow dataset (DuckDB's own
    S3 reader is an extension it would have to download). Other lakes: every Parquet file
    below the table folder."""
    if C.is_delta(lake, table):
        import deltalake

        try:
            delta = deltalake.DeltaTable(C.table_uri(lake, table),
                                         storage_options=C.storage_options(lake))
            files = delta.file_uris()
        except deltalake.exceptions.TableNotFoundError:
            return None
        if files and C.is_url(lake):
            con.register(f"delta_{table}", delta.to_pyarrow_dataset())
            return f"delta_{table}"
    else:
        files = sorted(glob.glob(os.path.join(glob.escape(os.path.join(lake, table)), "**",
                                              "*.parquet"), recursive=True))
    if not files:
        return None
    return f"read_parquet([{', '.join(lit(f) for f in files)}], hive_partitioning = false)"


def lake_view(con, lake: str, table: str) -> str:
    """Create view `table` over the lake's Parquet files; return the tie-break column."""
    src = table_source(con, lake, table)
    fields = C.TABLES[table].fields
    if src is None:
        types = {C.STR: "VARCHAR", C.DEC: "DOUBLE", C.TS: "TIMESTAMPTZ"}
        cols = ", ".join(f"CAST(NULL AS {types[f.type]}) AS {q(f.name)}" for f in fields)
        con.execute(f"CREATE VIEW {table} AS SELECT {cols}, 0 AS _seq LIMIT 0")
        return "_seq"
    names = {r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {src}").fetchall()}
    seq = "_ingest_seq" if "_ingest_seq" in names else "0"
    con.execute(f"CREATE VIEW {table} AS SELECT {', '.join(q(f.name) for f in fields)}, "
                f"{seq} AS _seq FROM {src}")
    return "_seq"


def kpis(args) -> dict:
    con = connect(args.threads)
    as_of = dt.date.fromisoformat(args.as_of)
    window_start = as_of - dt.timedelta(days=args.window_days - 1)
    con.execute(
        "CREATE TABLE params AS SELECT $as_of::DATE AS as_of, $ws::DATE AS window_start, "
        "$start::TIMESTAMPTZ AS start_ts, $end::TIMESTAMPTZ AS end_ts, $tol::DOUBLE AS tolerance",
        {"as_of": as_of, "ws": window_start,
         "start": dt.datetime.combine(window_start, dt.time(0, 0), dt.timezone.utc),
         "end": dt.datetime.combine(as_of, dt.time(23, 59, 59, 999999), dt.timezone.utc),
         "tol": float(args.tolerance)})
    con.execute("CREATE TABLE sla (severity VARCHAR, sla_hours DOUBLE)")
    con.executemany("INSERT INTO sla VALUES (?, ?)", list(DEFAULT_SLA_HOURS.items()))
    for t in C.KPI_TABLES:
        lake_view(con, args.lake, t)
    seq = "_seq"
    con.execute("CREATE TEMP TABLE count_variance_detail AS "
                + COUNT_VARIANCE_DETAIL_SQL.format(seq=seq))
    sqls = {
        "fill_rate": FILL_RATE_SQL.format(seq=seq),
        "exception_aging": EXCEPTION_AGING_SQL.format(seq=seq),
        "count_variance_by_zone": COUNT_VARIANCE_BY_SQL.format(dim="zone"),
        "count_variance_by_supplier": COUNT_VARIANCE_BY_SQL.format(dim="supplier_id"),
    }
    os.makedirs(args.out, exist_ok=True)
    summary = {}
    for name, sql in sqls.items():
        t0 = time.perf_counter()
        path = os.path.join(args.out, f"{name}.parquet")
        n = con.execute(f"COPY ({sql}) TO {lit(path)} (FORMAT parquet)").fetchone()[0]
        summary[name] = {"rows": n, "seconds": round(time.perf_counter() - t0, 3)}
    con.close()
    return summary


def count(args) -> dict:
    """Rows per canonical table in a lake (opintel's or a competitor's)."""
    con = connect(args.threads)
    out = {}
    for t in C.TABLES:
        src = table_source(con, args.lake, t)
        # fetchall, not fetchone: a result left open would block the next register().
        out[t] = con.execute(f"SELECT count(*) FROM {src}").fetchall()[0][0] if src else 0
    return out


def main() -> int:
    args = C.job_args(__doc__.split("\n\n")[0], count=True)
    t0 = time.perf_counter()
    result = {"convert": convert, "kpis": kpis, "count": count}[args.cmd](args)
    C.write_result(args, result, time.perf_counter() - t0,
                 duckdb=duckdb.__version__, threads=args.threads)
    return 0

if __name__ == "__main__":
    sys.exit(main())
