//! The core and order-flow KPIs and the tiles on a generated operation, compared row by row with an
//! independent implementation of docs/kpis.md in DuckDB (`tests/reference/`), and
//! the ingest counts compared with the noise the generator says it injected.
//! Needs `python3` with `duckdb` and `pyarrow` (installed by `.ci/run`).

use crate::common::*;

use std::collections::BTreeMap;
use std::path::Path;

fn reference_matches(dir: &Path, lake: &str, as_of: &str, out: &str, extra: &[&str]) {
    let script = root().join("tests/reference/kpis_duckdb.py");
    let compare = root().join("tests/reference/compare_kpis.py");
    let ref_out = dir.join(format!("ref-{out}"));
    let lake = dir.join(lake);
    let mut args = vec![
        script.to_str().expect("p"),
        "--lake",
        lake.to_str().expect("p"),
        "--as-of",
        as_of,
        "--out",
        ref_out.to_str().expect("p"),
    ];
    args.push("--tiles");
    args.extend(extra);
    python3(dir, &args[..]);
    let ours = dir.join(out).join("kpis");
    python3(
        dir,
        &[
            compare.to_str().expect("p"),
            ref_out.to_str().expect("p"),
            ours.to_str().expect("p"),
        ],
    );
    // The order-flow KPIs (docs/kpis.md), row by row.
    python3(
        dir,
        &[
            compare.to_str().expect("p"),
            ref_out.to_str().expect("p"),
            ours.to_str().expect("p"),
            "--names",
            "order_flow,backorders,exception_resolution,count_variance_by_abc,inventory_position,receiving_to_available,return_to_stock,shipment_timeliness,exception_backlog,exception_recurrence",
        ],
    );
    // The report's tiles (the current window's values) against the reference's,
    // computed from its own KPI tables.
    let tiles = dir.join(format!("tiles-{out}"));
    python3(
        dir,
        &[
            root()
                .join("tests/reference/tiles_of.py")
                .to_str()
                .expect("p"),
            ours.to_str().expect("p"),
            tiles.join("tiles_current.parquet").to_str().expect("p"),
        ],
    );
    python3(
        dir,
        &[
            compare.to_str().expect("p"),
            ref_out.to_str().expect("p"),
            tiles.to_str().expect("p"),
            "--names",
            "tiles_current",
        ],
    );
}

/// `| kind | table | rows | meaning |` lines of the generator's README.
fn noise(readme: &str) -> BTreeMap<(String, String), u64> {
    let mut m = BTreeMap::new();
    for line in readme.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if cells.len() == 6
            && let Ok(n) = cells[3].parse::<u64>()
        {
            m.insert((cells[1].to_string(), cells[2].to_string()), n);
        }
    }
    m
}

#[test]
fn generated_operation_matches_duckdb_reference() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    opintel_ok(
        dir,
        &["generate", "--out", "gen", "--scale", "0.15", "--seed", "7"],
    );
    let out = opintel_ok(
        dir,
        &run_args("r1", &["--config", "gen/opintel.toml", "gen/exports"]),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!stdout.contains("FAILED"), "{stdout}");
    reference_matches(dir, "lake", "2026-11-20", "r1", &[]);

    // An earlier as-of date with later data already in the lake, a shorter window,
    // other SLAs and a tolerance: the same answer as an independent reading.
    std::fs::write(
        dir.join("other.toml"),
        "window_days = 14\ncount_tolerance = 1\n[sla_hours]\ncritical = 8\nhigh = 48\n",
    )
    .expect("w");
    opintel_ok(
        dir,
        &[
            "--config",
            "other.toml",
            "run",
            "--lake",
            "lake",
            "--as-of",
            "2026-11-06",
            "--out",
            "r2",
        ],
    );
    reference_matches(
        dir,
        "lake",
        "2026-11-06",
        "r2",
        &[
            "--window-days",
            "14",
            "--tolerance",
            "1",
            "--sla",
            "critical=8,high=48",
        ],
    );

    // Every row accounted for, and the rejects and duplicates are exactly the noise
    // the generator reports having injected.
    let manifest: serde_json::Value = read_manifest(&dir.join("r1"));
    let injected = noise(&std::fs::read_to_string(dir.join("gen/README.md")).expect("readme"));
    assert!(!injected.is_empty(), "generator README lists its noise");
    for t in manifest["ingest"]["tables"].as_array().expect("tables") {
        let table = t["table"].as_str().expect("name");
        let n = |k: &str| t[k].as_u64().expect("count");
        assert_eq!(
            n("rows_read"),
            n("accepted") + n("rejected") + n("duplicates"),
            "{table}"
        );
        let invalid: u64 = injected
            .iter()
            .filter(|((kind, tb), _)| kind.starts_with("invalid_") && tb == table)
            .map(|(_, n)| n)
            .sum();
        let overlap = injected
            .get(&("overlap_duplicate".to_string(), table.to_string()))
            .copied()
            .unwrap_or(0);
        assert_eq!(
            n("rejected"),
            invalid,
            "{table}: rejects = injected invalid rows"
        );
        assert_eq!(
            n("duplicates"),
            overlap,
            "{table}: duplicates = injected overlaps"
        );
        assert_eq!(n("files_failed"), 0, "{table}");
    }
}
