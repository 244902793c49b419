#!/usr/bin/env python3
"""Take opintel's current-period tiles into the shape of the reference's
`tiles_current.parquet`, so that compare_kpis.py can compare them.

Usage:
    python3 tiles_of.py ACTUAL_KPIS_DIR OUT_FILE

Reads `ACTUAL_KPIS_DIR/tiles.parquet` (one row per tile × period) and writes OUT_FILE with
the rows of period 'current' for the eight tiles that derive from the four core KPIs
(the ones `kpis_duckdb.py --tiles` computes): columns tile (string), value (float64),
sorted by tile. Rows and column types are copied as they are: a tile that is missing or appears twice is
left for compare_kpis.py to report. Other tiles and periods are dropped.

Exits 1 when tiles.parquet is missing or lacks the columns tile, period, value; 0
otherwise (2 on bad usage).
"""

from __future__ import annotations

import argparse
import os
import sys

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

# The same eight tiles as kpis_duckdb.TILES_CURRENT_SQL.
TILES = ["abs_variance_value", "line_fill_rate", "open_exceptions", "order_fill_rate",
         "otif_rate", "record_accuracy", "sla_breaches", "unit_fill_rate"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Extract opintel's current tiles as (tile, value) for compare_kpis.py.")
    parser.add_argument("actual_kpis_dir", help="opintel's kpis folder (has tiles.parquet)")
    parser.add_argument("out_file", help="Parquet file to write, e.g. DIR/tiles_current.parquet")
    args = parser.parse_args(argv)

    path = os.path.join(args.actual_kpis_dir, "tiles.parquet")
    if not os.path.isfile(path):
        print(f"error: {path} does not exist", file=sys.stderr)
        return 1
    table = pq.read_table(path)
    missing = [c for c in ("tile", "period", "value") if c not in table.column_names]
    if missing:
        print(f"error: {path} has no column(s) {', '.join(missing)}", file=sys.stderr)
        return 1

    # Filtered with Arrow, so the columns keep the types opintel wrote (compare_kpis.py
    # checks them).
    current = table.filter(pc.and_(pc.equal(table["period"], "current"),
                                   pc.is_in(table["tile"], value_set=pa.array(TILES))))
    out = current.select(["tile", "value"]).sort_by("tile")
    folder = os.path.dirname(args.out_file)
    if folder:
        os.makedirs(folder, exist_ok=True)
    pq.write_table(out, args.out_file)
    return 0


if __name__ == "__main__":
    sys.exit(main())
