"""The data contract as the benchmark's competitors see it (docs/contract.md), and how to
find the exports of a generated operation.

Standard library only: the driver (run.py) and both engine jobs import it.

This is the analyst's reading of the contract, written for the competitor pipelines
(DuckDB, Polars). It is *not* opintel's code: the point of the benchmark is that the
competitors do the same work from the same written rules.
"""

from __future__ import annotations

import argparse
import dataclasses
import fnmatch
import gzip
import json
import os
import tomllib

# ---------------------------------------------------------------------------------------
# Canonical tables (docs/contract.md)
# ---------------------------------------------------------------------------------------

STR, DEC, TS = "str", "dec", "ts"


@dataclasses.dataclass(frozen=True)
class Field:
    name: str
    type: str                       # str | dec | ts
    required: bool = False
    check: str | None = None        # ">0" | ">=0" | "!=0"
    default: float | None = None    # dec fields with a default (cancelled_qty, qty_damaged)
    enum: tuple[str, ...] | None = None  # canonical spellings


@dataclasses.dataclass(frozen=True)
class Table:
    name: str
    kind: str                       # "master" | "versioned" | "events"
    time: str                       # main timestamp: partitions by its UTC date
    fields: tuple[Field, ...]

    @property
    def columns(self) -> list[str]:
        return [f.name for f in self.fields]


def F(name, type_=STR, req=False, check=None, default=None, enum=None) -> Field:
    return Field(name, type_, req, check, default, tuple(enum) if enum else None)


LOCATION_TYPES = ["pick", "reserve", "bulk", "staging", "returns", "dock", "other"]
CANCEL_REASONS = ["customer", "stockout", "fraud", "other"]
ADJ_REASONS = ["count_correction", "damage", "shrink", "found", "expiry", "return_restock",
               "transfer", "other"]
STATUSES = ["open", "acknowledged", "in_progress", "resolved", "cancelled"]
EXC_TYPES = ["short_receipt", "over_receipt", "bin_mismatch", "pick_shortage", "damaged",
             "unscannable", "return_delay", "lot_mismatch", "oversell_risk",
             "carrier_cutoff_miss", "other"]
SEVERITIES = ["low", "medium", "high", "critical"]
STAGES = ["received", "inspected", "dispositioned"]
DISPOSITIONS = ["restock", "refurbish", "quarantine", "vendor_return", "write_off"]

TABLES: dict[str, Table] = {t.name: t for t in [
    Table("items", "master", "updated_at", (
        F("sku", req=True), F("description"), F("family"), F("supplier_id"),
        F("unit_cost", DEC, check=">=0"), F("abc_class", enum=["A", "B", "C"]),
        F("updated_at", TS, req=True))),
    Table("locations", "master", "updated_at", (
        F("location_id", req=True), F("warehouse_id", req=True), F("zone", req=True),
        F("location_type", enum=LOCATION_TYPES), F("updated_at", TS, req=True))),
    Table("suppliers", "master", "updated_at", (
        F("supplier_id", req=True), F("name"), F("country"), F("updated_at", TS, req=True))),
    Table("order_lines", "versioned", "updated_at", (
        F("order_id", req=True), F("line_id", req=True), F("sku", req=True),
        F("channel", req=True), F("warehouse_id", req=True), F("ordered_at", TS, req=True),
        F("promised_ship_at", TS, req=True), F("qty_ordered", DEC, req=True, check=">0"),
        F("cancelled_qty", DEC, check=">=0", default=0.0),
        F("cancel_reason", enum=CANCEL_REASONS), F("updated_at", TS, req=True))),
    Table("shipments", "events", "shipped_at", (
        F("event_id", req=True), F("shipment_id", req=True), F("order_id", req=True),
        F("line_id", req=True), F("sku", req=True), F("warehouse_id", req=True),
        F("location_id"), F("qty_shipped", DEC, req=True, check=">0"),
        F("shipped_at", TS, req=True), F("carrier"))),
    Table("receipts", "events", "received_at", (
        F("event_id", req=True), F("po_id", req=True), F("po_line", req=True),
        F("supplier_id", req=True), F("sku", req=True), F("warehouse_id", req=True),
        F("location_id"), F("qty_expected", DEC, req=True, check=">=0"),
        F("qty_received", DEC, req=True, check=">=0"),
        F("qty_damaged", DEC, check=">=0", default=0.0), F("expected_at", TS),
        F("received_at", TS, req=True))),
    Table("cycle_counts", "events", "counted_at", (
        F("event_id", req=True), F("count_id", req=True), F("warehouse_id", req=True),
        F("location_id", req=True), F("sku", req=True), F("system_qty", DEC, req=True),
        F("counted_qty", DEC, req=True, check=">=0"), F("counted_at", TS, req=True),
        F("counter_id"))),
    Table("adjustments", "events", "adjusted_at", (
        F("event_id", req=True), F("warehouse_id", req=True), F("location_id", req=True),
        F("sku", req=True), F("qty_delta", DEC, req=True, check="!=0"),
        F("reason_code", req=True, enum=ADJ_REASONS), F("adjusted_at", TS, req=True),
        F("user_id"))),
    Table("exception_events", "events", "event_at", (
        F("event_id", req=True), F("exception_id", req=True), F("event_at", TS, req=True),
        F("status", req=True, enum=STATUSES), F("exception_type", req=True, enum=EXC_TYPES),
        F("severity", req=True, enum=SEVERITIES), F("owner"), F("warehouse_id"),
        F("location_id"), F("sku"), F("supplier_id"), F("channel"), F("order_id"),
        F("root_cause"), F("impact_value", DEC))),
    Table("return_events", "events", "event_at", (
        F("event_id", req=True), F("return_id", req=True), F("order_id"), F("sku", req=True),
        F("warehouse_id", req=True), F("qty", DEC, req=True, check=">0"),
        F("stage", req=True, enum=STAGES), F("disposition", enum=DISPOSITIONS),
        F("reason_code"), F("event_at", TS, req=True))),
]}

# Row rule of return_events: a dispositioned return names its disposition.
ROW_RULES = {"return_events": [("stage", "dispositioned", "disposition")]}

# Plausible timestamps (opintel's default [min_timestamp, max_timestamp)).
MIN_TS, MAX_TS = "2000-01-01", "2100-01-01"

# The tables the four core KPIs read.
KPI_TABLES = ["order_lines", "shipments", "cycle_counts", "exception_events", "items",
              "locations"]

# ---------------------------------------------------------------------------------------
# Finding the exports (docs/contract.md)
# ---------------------------------------------------------------------------------------


@dataclasses.dataclass
class Mapping:
    """One [[sources]] entry of the generated opintel.toml (the 3PL's files)."""
    name: str
    pattern: str
    table: str
    delimiter: str = ","
    time_zone: str = "UTC"
    timestamp_format: str | None = None
    columns: dict[str, str] = dataclasses.field(default_factory=dict)   # source → canonical
    values: dict[str, dict[str, str]] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class Source:
    """A group of export files that one reader call can read: same table, format,
    compression-agnostic, same header (CSV) and same mapping."""
    table: str
    fmt: str                        # "csv" | "ndjson"
    files: list[str]
    delimiter: str = ","
    header: tuple[str, ...] = ()    # CSV header (BOM stripped), source names
    mapping: Mapping | None = None

    def canonical_of(self) -> dict[str, str]:
        """canonical field → source column name, for the fields this source has."""
        fields = TABLES[self.table].columns
        if self.fmt == "ndjson":
            return {f: f for f in fields}
        ren = self.mapping.columns if self.mapping else {}
        out = {}
        for col in self.header:
            canon = ren.get(col, col)
            if canon in fields:
                out[canon] = col
        return out


def load_mappings(config_path: str) -> list[Mapping]:
    if not os.path.isfile(config_path):
        return []
    with open(config_path, "rb") as fh:
        cfg = tomllib.load(fh)
    out = []
    for s in cfg.get("sources", []):
        out.append(Mapping(
            name=s.get("name", s.get("pattern", "")), pattern=s["pattern"], table=s["table"],
            delimiter=s.get("delimiter", ","), time_zone=s.get("time_zone", "UTC"),
            timestamp_format=s.get("timestamp_format"), columns=dict(s.get("columns", {})),
            values={k: dict(v) for k, v in s.get("values", {}).items()}))
    return out


def file_format(name: str) -> str | None:
    base = name
    for ext in (".gz", ".zst"):
        if base.endswith(ext):
            base = base[: -len(ext)]
    if base.endswith(".csv"):
        return "csv"
    if base.endswith(".ndjson") or base.endswith(".jsonl"):
        return "ndjson"
    return None


def table_of(name: str) -> str | None:
    """The longest canonical table name that prefixes the file name."""
    best = None
    for t in TABLES:
        if name.startswith(t) and (best is None or len(t) > len(best)):
            best = t
    return best


def read_header(path: str) -> str:
    """First line of a (possibly gzip-compressed) CSV file, BOM and newline stripped."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as fh:
        line = fh.readline()
    return line.decode("utf-8").lstrip("\ufeff").rstrip("\r\n")


def discover(exports: str, config_path: str) -> tuple[list[Source], list[str]]:
    """Group every export under `exports` into Sources; also return the files skipped
    (no table, unknown format). Files are taken in sorted path order (night by night)."""
    mappings = load_mappings(config_path)
    groups: dict[tuple, Source] = {}
    skipped = []
    paths = []
    for root, _dirs, files in os.walk(exports):
        for f in files:
            paths.append(os.path.join(root, f))
    for path in sorted(paths):
        name = os.path.basename(path)
        fmt = file_format(name)
        mapping = next((m for m in mappings if fnmatch.fnmatchcase(name, m.pattern)), None)
        table = mapping.table if mapping else table_of(name)
        if fmt is None or table is None:
            skipped.append(path)
            continue
        if fmt == "csv":
            if path.endswith(".zst"):
                raise SystemExit(f"{path}: zstd CSV is not handled by the benchmark readers")
            delim = mapping.delimiter if mapping else ","
            header = tuple(c.strip().strip('"') for c in read_header(path).split(delim))
        else:
            delim, header = ",", ()
        key = (table, fmt, delim, header, mapping.name if mapping else None)
        src = groups.get(key)
        if src is None:
            src = groups[key] = Source(table, fmt, [], delim, header, mapping)
        src.files.append(path)
    return list(groups.values()), skipped


# ---------------------------------------------------------------------------------------
# Reading a lake: opintel's tables are Delta Lake tables (duck_job.py, kpis_polars.py)
# ---------------------------------------------------------------------------------------
# The files of one of opintel's tables are the ones its Delta log (`<table>/_delta_log/`)
# lists at the current version, never a glob of the folder: it can also hold files that are
# not (or no longer) part of the table (an interrupted ingest's uploads, files `opintel
# lake optimize` replaced and `vacuum` has not deleted yet). The partition column
# event_date is not in the files. An opintel lake may be an s3:// URL (credentials and
# endpoint from the AWS_* variables). The competitors' own lakes (the jobs' `convert`) and
# an opintel lake of the older layout have no Delta log: there every Parquet file below
# the table folder is the table. The jobs import deltalake only for a Delta table, so
# their runs on their own lakes do not pay for it.

# The AWS_* variables handed to the Delta readers as storage options for an s3:// lake.
S3_ENV = ["AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
          "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ALLOW_HTTP"]


def is_url(lake: str) -> bool:
    return "://" in lake


def table_uri(lake: str, table: str) -> str:
    return f"{lake.rstrip('/')}/{table}" if is_url(lake) else os.path.join(lake, table)


def is_delta(lake: str, table: str) -> bool:
    """Whether `lake/table` is read as a Delta table: always in an s3:// lake (only
    opintel's lakes are there), in a folder when the table has a `_delta_log`."""
    return is_url(lake) or os.path.isdir(os.path.join(lake, table, "_delta_log"))


def storage_options(lake: str) -> dict[str, str] | None:
    """Storage options of an s3:// lake (the AWS_* variables that are set, lower-case keys
    as object_store spells them); None for a folder."""
    if not lake.startswith("s3://"):
        return None
    return {k.lower(): os.environ[k] for k in S3_ENV if os.environ.get(k)}


# ---------------------------------------------------------------------------------------
# The engine jobs' command line and result file (duck_job.py, polars_job.py)
# ---------------------------------------------------------------------------------------

def job_args(description: str, count: bool = False) -> argparse.Namespace:
    """`convert --exports --config --lake`, `kpis --lake --as-of --out [--window-days]
    [--tolerance]` and, with `count`, `count --lake`; each with `--threads` and `--json`."""
    p = argparse.ArgumentParser(description=description)
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("convert")
    c.add_argument("--exports", required=True)
    c.add_argument("--config", required=True, help="the generated opintel.toml (3PL mapping)")
    c.add_argument("--lake", required=True)
    k = sub.add_parser("kpis")
    k.add_argument("--lake", required=True)
    k.add_argument("--as-of", required=True)
    k.add_argument("--out", required=True)
    k.add_argument("--window-days", type=int, default=28)
    k.add_argument("--tolerance", type=float, default=0.0)
    subs = [c, k]
    if count:
        n = sub.add_parser("count")
        n.add_argument("--lake", required=True)
        subs.append(n)
    for s in subs:
        s.add_argument("--threads", type=int, default=os.cpu_count() or 1)
        s.add_argument("--json", help="write a summary (rows, seconds) here")
    return p.parse_args()


def write_result(args: argparse.Namespace, result: dict, seconds: float, **versions) -> None:
    """The job's summary (its result, seconds inside, engine version and threads) to
    `--json`, else to stdout."""
    out = {"result": result, "seconds_inside": round(seconds, 3), **versions}
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(out, fh, indent=1)
    else:
        print(json.dumps(out, indent=1))
