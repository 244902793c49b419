#!/usr/bin/env python3
"""Recompute the drivers of two tiles from a run's KPI tables and the same KPI tables
computed for the previous window, with DuckDB, and compare them with opintel's
`kpi_drivers` table (the shift-share rule of docs/kpis.md, written again here).

Usage:
    python3 drivers_duckdb.py CURRENT_KPIS PREVIOUS_KPIS

CURRENT_KPIS is the `kpis/` folder of the run (with kpi_drivers.parquet); PREVIOUS_KPIS
the `kpis/` folder of a run whose as-of date is the window length earlier (same window).
Checked:
  - unit_fill_rate = Σ units_filled / Σ units_demanded of fill_rate, split by
    warehouse_id and by channel: per segment base and current rate, volumes, rate
    effect, mix effect and contribution;
  - open_exceptions = Σ open_count of exception_aging, split by exception_type,
    severity and age_bucket: per segment base and current value and contribution.
Floats within 1e-9. Exits 1 on any difference, printing it.
"""

from __future__ import annotations

import math
import os
import sys

import duckdb

RATIO_SQL = """
WITH cur AS (
    SELECT CAST({dim} AS VARCHAR) AS segment, sum(units_filled) AS num, sum(units_demanded) AS den
    FROM read_parquet($cur) GROUP BY 1
), base AS (
    SELECT CAST({dim} AS VARCHAR) AS segment, sum(units_filled) AS num, sum(units_demanded) AS den
    FROM read_parquet($base) GROUP BY 1
), seg AS (
    SELECT coalesce(c.segment, b.segment) AS segment,
           coalesce(b.num, 0) AS n0, coalesce(b.den, 0) AS d0,
           coalesce(c.num, 0) AS n1, coalesce(c.den, 0) AS d1
    FROM cur c FULL OUTER JOIN base b ON c.segment IS NOT DISTINCT FROM b.segment
), tot AS (SELECT sum(d0) AS t0, sum(d1) AS t1 FROM seg),
rates AS (
    SELECT segment, d0, d1,
           CASE WHEN d0 <> 0 THEN n0 / d0 END AS r0,
           CASE WHEN d1 <> 0 THEN n1 / d1 END AS r1,
           d0 / t0 AS s0, d1 / t1 AS s1
    FROM seg, tot
    WHERE d0 <> 0 OR d1 <> 0
)
SELECT coalesce(segment, '(empty)') AS segment, d0, d1, r0, r1,
       s0 * (coalesce(r1, r0) - coalesce(r0, r1)) AS rate_effect,
       (s1 - s0) * coalesce(r1, r0) AS mix_effect
FROM rates
"""

SUM_SQL = """
WITH cur AS (
    SELECT CAST({dim} AS VARCHAR) AS segment, sum(open_count) AS v
    FROM read_parquet($cur) GROUP BY 1
), base AS (
    SELECT CAST({dim} AS VARCHAR) AS segment, sum(open_count) AS v
    FROM read_parquet($base) GROUP BY 1
)
SELECT coalesce(coalesce(c.segment, b.segment), '(empty)') AS segment,
       coalesce(b.v, 0) AS v0, coalesce(c.v, 0) AS v1
FROM cur c FULL OUTER JOIN base b ON c.segment IS NOT DISTINCT FROM b.segment
"""


def close(a, b) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return abs(a - b) <= 1e-9 or abs(a - b) <= 1e-9 * max(abs(a), abs(b))


def main(cur_dir: str, base_dir: str) -> int:
    con = duckdb.connect()
    drivers = {}
    for row in con.execute(
        "SELECT kpi, dimension, segment, base_volume, current_volume, base_value, "
        "current_value, rate_effect, mix_effect, contribution FROM read_parquet($p)",
        {"p": os.path.join(cur_dir, "kpi_drivers.parquet")},
    ).fetchall():
        drivers[(row[0], row[1], row[2])] = row[3:]
    problems = []
    checked = 0
    fill = {"cur": os.path.join(cur_dir, "fill_rate.parquet"),
            "base": os.path.join(base_dir, "fill_rate.parquet")}
    for dim in ["warehouse_id", "channel"]:
        for seg, d0, d1, r0, r1, rate, mix in con.execute(RATIO_SQL.format(dim=dim), fill).fetchall():
            got = drivers.get(("unit_fill_rate", dim, seg))
            want = (d0, d1, r0, r1, rate, mix, rate + mix)
            checked += 1
            if got is None or not all(close(a, b) for a, b in zip(got, want)):
                problems.append(f"unit_fill_rate/{dim}/{seg}: opintel {got}, reference {want}")
    aging = {"cur": os.path.join(cur_dir, "exception_aging.parquet"),
             "base": os.path.join(base_dir, "exception_aging.parquet")}
    for dim in ["exception_type", "severity", "age_bucket"]:
        for seg, v0, v1 in con.execute(SUM_SQL.format(dim=dim), aging).fetchall():
            got = drivers.get(("open_exceptions", dim, seg))
            checked += 1
            if v0 == v1 and got is None:
                continue
            want = (None, None, v0, v1, None, None, v1 - v0)
            if got is None or not all(close(a, b) for a, b in zip(got, want)):
                problems.append(f"open_exceptions/{dim}/{seg}: opintel {got}, reference {want}")
    for p in problems[:20]:
        print(p)
    print(f"{checked} segments checked, {len(problems)} differ")
    return 1 if problems else 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        print(__doc__)
        sys.exit(2)
    sys.exit(main(sys.argv[1], sys.argv[2]))
