//! The drivers of the tiles' changes (`kpi_drivers`), on a generated operation with a
//! planted drop: WH-WEST sends no shipment for the last ten days. Checked against a
//! DuckDB re-computation from the KPI tables of the window and of the previous window
//! (`tests/reference/drivers_duckdb.py`), against the tiles' own changes, and for the
//! planted cause; and `opintel explain` prints the same rows.

use crate::common::*;

#[test]
fn drivers_add_up_match_duckdb_and_name_the_planted_drop() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    opintel_ok(
        dir,
        &[
            "generate", "--out", "gen", "--scale", "0.1", "--seed", "11", "--days", "63",
        ],
    );
    // The planted drop: WH-WEST's shipment files of 2026-11-11 … 11-20 never arrive.
    let mut removed = 0;
    for day in 11..=20 {
        let folder = dir.join(format!("gen/exports/2026-11-{day}"));
        for e in std::fs::read_dir(&folder).expect("export folder").flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            if name.starts_with("shipments-wh-west-") {
                std::fs::remove_file(e.path()).expect("rm");
                removed += 1;
            }
        }
    }
    assert_eq!(removed, 10, "one WH-WEST shipment file a day");
    opintel_ok(
        dir,
        &run_args("now", &["--config", "gen/opintel.toml", "gen/exports"]),
    );
    // The same run's count-priority backtest, ranked from the weight fit's evidence.
    crate::priority::the_runs_backtest_equals_a_run_of_the_query(dir, "gen/opintel.toml", "now");
    // The previous window (the 28 days before the window) as a run of its own.
    opintel_ok(
        dir,
        &[
            "--config",
            "gen/opintel.toml",
            "run",
            "--lake",
            "lake",
            "--as-of",
            "2026-10-23",
            "--out",
            "before",
            "--no-report",
        ],
    );
    let script = root().join("tests/reference/drivers_duckdb.py");
    python3(
        dir,
        &[script, dir.join("now/kpis"), dir.join("before/kpis")],
    );

    // Within one tile and one dimension the contributions add up to the tile's change.
    let (_, tiles) = read_parquet(&dir.join("now/kpis/tiles.parquet"));
    let (cols, drivers) = read_parquet(&dir.join("now/kpis/kpi_drivers.parquet"));
    let col = |n: &str| cols.iter().position(|c| c == n).expect(n);
    let (k, dm, sg, c, rk) = (
        col("kpi"),
        col("dimension"),
        col("segment"),
        col("contribution"),
        col("rank"),
    );
    let text = |v: &V| match v {
        V::S(s) => s.clone(),
        other => panic!("text expected, got {other:?}"),
    };
    let num = |v: &V| match v {
        V::F(f) => *f,
        V::I(i) => *i as f64,
        other => panic!("number expected, got {other:?}"),
    };
    let mut sums: std::collections::BTreeMap<(String, String), f64> = Default::default();
    for r in &drivers {
        *sums.entry((text(&r[k]), text(&r[dm]))).or_default() += num(&r[c]);
    }
    assert!(sums.len() >= 4, "several tiles and dimensions: {sums:?}");
    for ((kpi, dim), sum) in &sums {
        let change = tiles
            .iter()
            .find(|t| t[0] == s(kpi) && t[1] == s("current"))
            .and_then(|t| match t.last() {
                Some(V::F(f)) => Some(*f),
                _ => None,
            })
            .unwrap_or_else(|| panic!("{kpi}: a change in tiles"));
        assert!(
            (sum - change).abs() <= 1e-9_f64.max(1e-9 * change.abs()),
            "{kpi} by {dim}: Σ contributions {sum} ≠ change {change}"
        );
    }

    // The planted cause: unit fill rate fell, and its first driver is WH-WEST.
    let top = drivers
        .iter()
        .find(|r| text(&r[k]) == "unit_fill_rate" && num(&r[rk]) == 1.0)
        .expect("unit_fill_rate has drivers");
    assert!(num(&top[c]) < 0.0, "{top:?}");
    assert!(text(&top[sg]).contains("WH-WEST"), "top driver {top:?}");
    let page = std::fs::read_to_string(dir.join("now/index.html")).expect("page");
    assert!(page.contains("What moved since the previous window?"));
    assert!(
        page.contains("WH-WEST"),
        "the tile sentence names the driver"
    );

    // `opintel explain` prints the table's rows for that KPI and dimension.
    let explained = opintel_ok(
        dir,
        &[
            "--config",
            "gen/opintel.toml",
            "explain",
            "unit_fill_rate",
            "--report",
            "now",
            "--by",
            "warehouse_id",
            "--format",
            "csv",
        ],
    );
    let lines: Vec<String> = String::from_utf8_lossy(&explained.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    let by_wh = drivers
        .iter()
        .filter(|r| text(&r[k]) == "unit_fill_rate" && text(&r[dm]) == "warehouse_id")
        .count();
    assert_eq!(lines.len(), by_wh + 1, "{lines:?}");
    assert!(lines[0].starts_with("kpi,dimension,segment"), "{lines:?}");
    assert!(lines.iter().skip(1).all(|l| l.contains(",warehouse_id,")));
    let wrong = opintel(
        dir,
        &[
            "--config",
            "gen/opintel.toml",
            "explain",
            "unit_fil_rate",
            "--report",
            "now",
        ],
    );
    assert_eq!(wrong.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("unit_fill_rate"));
}

/// A supplier that starts shipping half of what was ordered in the window: the top
/// driver of supplier receipt accuracy names that supplier.
#[test]
fn a_supplier_gone_short_is_the_top_driver_of_receipt_accuracy() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    opintel_ok(
        dir,
        &[
            "generate", "--out", "gen", "--scale", "0.1", "--seed", "23", "--days", "63",
        ],
    );
    // Plant it in the exports: the supplier with the most receipt lines in the window's
    // files (2026-10-24 … 11-20) receives ⌊expected / 2⌋ on every one of them.
    let said = python(
        dir,
        r#"
import csv, glob, io, os, sys, collections
files = sorted(f for f in glob.glob(os.path.join(sys.argv[1], "gen/exports/*/receipts-*.csv"))
               if "2026-10-24" <= os.path.basename(os.path.dirname(f)) <= "2026-11-20")
count = collections.Counter()
def rows_of(f):
    return list(csv.reader(open(f, newline="", encoding="utf-8-sig")))
for f in files:
    rows = rows_of(f)
    sup = rows[0].index("supplier_id")
    for r in rows[1:]:
        if len(r) > sup:
            count[r[sup]] += 1
target = count.most_common(1)[0][0]
for f in files:
    rows = rows_of(f)
    head = rows[0]
    sup, exp, got = head.index("supplier_id"), head.index("qty_expected"), head.index("qty_received")
    for r in rows[1:]:
        if len(r) == len(head) and r[sup] == target:
            try:
                r[got] = str(int(float(r[exp])) // 2)
            except ValueError:
                pass
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    open(f, "w", encoding="utf-8").write(out.getvalue())
names = {r["supplier_id"]: r.get("name", "") for f in glob.glob(os.path.join(sys.argv[1], "gen/exports/*/suppliers*.csv"))
         for r in csv.DictReader(open(f, newline="", encoding="utf-8-sig"))}
print(target, names.get(target, ""), sep="\t")
"#,
        &[dir.to_str().expect("utf-8 path")],
    );
    let said = said.trim().to_string();
    let (supplier, name) = said.split_once('\t').unwrap_or((said.as_str(), ""));
    opintel_ok(
        dir,
        &run_args("now", &["--config", "gen/opintel.toml", "gen/exports"]),
    );
    let (cols, drivers) = read_parquet(&dir.join("now/kpis/kpi_drivers.parquet"));
    let col = |n: &str| cols.iter().position(|c| c == n).expect(n);
    let top = drivers
        .iter()
        .find(|r| r[col("kpi")] == s("receipt_accuracy") && r[col("rank")] == V::I(1))
        .expect("receipt_accuracy has drivers");
    assert!(
        top[col("segment")] == s(supplier) || (!name.is_empty() && top[col("segment")] == s(name)),
        "planted {supplier} ({name}), top driver {top:?}"
    );
    assert!(
        matches!(top[col("contribution")], V::F(c) if c < 0.0),
        "{top:?}"
    );
}
