//! End-to-end tests of the generator: determinism, completeness, the 3PL mapping, the
//! README's noise counts against an independent re-read of the files (`reread.rs`), the
//! ground truth against the master data, and the stock invariants visible in the
//! exports.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use super::reread::{
    Move, Row, TABLES, all_files, check, parse_csv, parse_ts, read_rows, readme_noise,
};

use super::{GenerateOptions, generate};

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("opintel-gen-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn run(name: &str, seed: u64, scale: f64) -> PathBuf {
    let out = temp_dir(name);
    let opts = GenerateOptions {
        out: out.clone(),
        seed,
        scale,
        ..GenerateOptions::default()
    };
    generate(&opts, &|_| {}).unwrap();
    out
}

#[test]
fn same_options_give_identical_bytes_and_seeds_differ() {
    let a = run("det-a", 42, 0.05);
    let b = run("det-b", 42, 0.05);
    let fa = all_files(&a);
    let fb = all_files(&b);
    assert_eq!(fa.len(), fb.len());
    for (x, y) in fa.iter().zip(&fb) {
        assert_eq!(x.strip_prefix(&a).unwrap(), y.strip_prefix(&b).unwrap());
        assert!(
            std::fs::read(x).unwrap() == std::fs::read(y).unwrap(),
            "{} differs",
            x.display()
        );
    }
    let c = run("det-c", 43, 0.05);
    let shipments = |d: &Path| {
        std::fs::read(d.join("exports/2026-10-20/shipments-wh-east-2026-10-20.csv")).unwrap()
    };
    assert_ne!(shipments(&a), shipments(&c));
    for d in [a, b, c] {
        let _ = std::fs::remove_dir_all(d);
    }
}

#[test]
fn refuses_a_non_empty_folder_and_bad_options() {
    let out = temp_dir("refuse");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("keep.txt"), "x").unwrap();
    let opts = GenerateOptions {
        out: out.clone(),
        scale: 0.02,
        ..GenerateOptions::default()
    };
    assert!(generate(&opts, &|_| {}).is_err());
    let bad = GenerateOptions {
        out: temp_dir("bad"),
        scale: -1.0,
        ..GenerateOptions::default()
    };
    assert!(generate(&bad, &|_| {}).is_err());
    let _ = std::fs::remove_dir_all(out);
}

#[test]
fn tiny_scale_has_every_table_noise_kind_and_planted_errors_and_counts_match_a_reread() {
    let out = run("reread", 7, 0.02);
    let (rows, headers) = read_rows(&out);
    let tables: BTreeSet<&str> = rows.iter().map(|r| r.table.as_str()).collect();
    assert_eq!(tables.len(), 10, "tables present: {tables:?}");
    let noise = readme_noise(&out);
    let noted = |kind: &str, table: &str| {
        noise
            .get(&(kind.to_string(), table.to_string()))
            .copied()
            .unwrap_or(0)
    };
    for kind in super::noise::NoiseKind::ALL {
        assert!(
            noise.keys().any(|(k, _)| k == kind.name()),
            "noise kind {} missing",
            kind.name()
        );
    }
    for table in TABLES {
        let mine: Vec<&Row> = rows.iter().filter(|r| r.table == table).collect();
        // Rows written per table.
        let text = std::fs::read_to_string(out.join("README.md")).unwrap();
        assert!(
            text.contains(&format!("| {table} | {} |", mine.len())),
            "row count of {table}"
        );
        // Rejects by the contract's rules.
        let invalid = mine.iter().filter(|r| !check(r).0).count() as u64;
        let expected: u64 = super::noise::NoiseKind::ALL
            .iter()
            .filter(|k| k.invalid())
            .map(|k| noted(k.name(), table))
            .sum();
        assert_eq!(invalid, expected, "invalid rows of {table}");
        // Respelled rows, once each (an overlapping or re-sent export repeats some).
        let respelled_rows: Vec<&&Row> = mine.iter().filter(|r| check(r) == (true, true)).collect();
        let respelled = if mine
            .first()
            .is_some_and(|r| r.fields.contains_key("event_id"))
        {
            respelled_rows
                .iter()
                .map(|r| r.get("event_id"))
                .collect::<BTreeSet<_>>()
                .len() as u64
        } else {
            respelled_rows.len() as u64
        };
        assert_eq!(
            respelled,
            noted("enum_mixed_case_or_spaces", table),
            "respelled enums of {table}"
        );
        // Duplicates by event id.
        if mine
            .first()
            .is_some_and(|r| r.fields.contains_key("event_id"))
        {
            let ids: BTreeSet<&str> = mine.iter().map(|r| r.get("event_id")).collect();
            let dups = (mine.len() - ids.len()) as u64;
            assert_eq!(
                dups,
                noted("overlap_duplicate", table) + noted("resent_file_rows", table),
                "duplicates of {table}"
            );
        }
    }
    let date_only = rows
        .iter()
        .filter(|r| r.table == "receipts" && r.get("expected_at").len() == 10)
        .count() as u64;
    assert_eq!(date_only, noted("date_only_timestamp", "receipts"));
    let extra: u64 = rows
        .iter()
        .filter(|r| {
            headers
                .get(&r.file.file_name().unwrap().to_string_lossy().to_string())
                .is_some_and(|h| h.contains(&"wms_batch".to_string()))
        })
        .count() as u64;
    assert_eq!(extra, noted("extra_column_rows", "adjustments"));
    let late = |days: i64| {
        rows.iter()
            .filter(|r| r.tpl)
            .filter(|r| {
                let folder = r
                    .file
                    .parent()
                    .unwrap()
                    .file_name()
                    .unwrap()
                    .to_string_lossy()
                    .replace('-', "");
                let name = r.file.file_stem().unwrap().to_string_lossy().to_string();
                let business = &name[name.len() - 8..];
                let (f, b) = (
                    chrono::NaiveDate::parse_from_str(&folder, "%Y%m%d").unwrap(),
                    chrono::NaiveDate::parse_from_str(business, "%Y%m%d").unwrap(),
                );
                (f - b).num_days() == days
            })
            .count() as u64
    };
    let noted_late = |kind: &str| TABLES.iter().map(|t| noted(kind, t)).sum::<u64>();
    assert_eq!(late(1), noted_late("late_batch_1_day"));
    assert_eq!(late(2), noted_late("late_batch_2_days"));
    let gt = std::fs::read_to_string(out.join("ground_truth/record_errors.csv")).unwrap();
    assert!(gt.lines().count() > 30, "at least 30 planted errors");
    let _ = std::fs::remove_dir_all(out);
}

#[test]
fn ground_truth_refers_to_master_data_and_stock_invariants_hold() {
    let out = run("truth", 11, 0.05);
    let (rows, _) = read_rows(&out);
    let valid: Vec<&Row> = rows.iter().filter(|r| check(r).0).collect();
    let locations: BTreeMap<&str, &str> = valid
        .iter()
        .filter(|r| r.table == "locations")
        .map(|r| (r.get("location_id"), r.get("warehouse_id")))
        .collect();
    let skus: BTreeSet<&str> = valid
        .iter()
        .filter(|r| r.table == "items")
        .map(|r| r.get("sku"))
        .collect();
    let gt = parse_csv(
        &std::fs::read_to_string(out.join("ground_truth/record_errors.csv")).unwrap(),
        ',',
    );
    assert_eq!(
        gt[0].join(","),
        "warehouse_id,location_id,sku,error_kind,planted_at,system_qty,true_qty,error_units"
    );
    for r in &gt[1..] {
        assert_eq!(
            locations.get(r[1].as_str()),
            Some(&r[0].as_str()),
            "location {}",
            r[1]
        );
        assert!(skus.contains(r[2].as_str()), "sku {}", r[2]);
        let (sys, tru, err): (f64, f64, f64) = (
            r[5].parse().unwrap(),
            r[6].parse().unwrap(),
            r[7].parse().unwrap(),
        );
        assert!((tru - sys - err).abs() < 1e-9);
    }
    // Stock movements per SKU-location, deduplicated by event id.
    let mut seen = BTreeSet::new();
    let mut moves: BTreeMap<(String, String, String), Vec<Move>> = BTreeMap::new();
    for r in &valid {
        if !seen.insert((r.table.clone(), r.get("event_id").to_string())) {
            continue;
        }
        let key = (
            r.get("warehouse_id").to_string(),
            r.get("location_id").to_string(),
            r.get("sku").to_string(),
        );
        let num = |k: &str| r.get(k).trim().parse::<f64>().unwrap_or(0.0);
        let ts = |k: &str| parse_ts(r.get(k), r.tpl).unwrap();
        let m = match r.table.as_str() {
            "shipments" => (ts("shipped_at"), 1, -num("qty_shipped"), 0.0, String::new()),
            "receipts" => (
                ts("received_at"),
                1,
                num("qty_received") - num("qty_damaged"),
                0.0,
                String::new(),
            ),
            "adjustments" => (
                ts("adjusted_at"),
                1,
                num("qty_delta"),
                0.0,
                r.get("reason_code").trim().to_lowercase(),
            ),
            "cycle_counts" => (
                ts("counted_at"),
                0,
                num("system_qty"),
                num("counted_qty"),
                String::new(),
            ),
            _ => continue,
        };
        moves.entry(key).or_default().push(m);
    }
    let (mut chained, mut corrections) = (0, 0);
    for (key, mut ev) in moves {
        ev.sort_by_key(|a| (a.0, a.1));
        let mut level: Option<f64> = None;
        for (i, (t, kind, a, b, _)) in ev.iter().enumerate() {
            if *kind == 0 {
                if let Some(l) = level {
                    assert!(
                        (l - a).abs() < 1e-6,
                        "{key:?} at {t}: tracked {l}, count says system {a}"
                    );
                    chained += 1;
                }
                if a != b {
                    let next = ev[i + 1..]
                        .iter()
                        .find(|e| e.1 == 1)
                        .expect("a correction follows");
                    assert_eq!(next.4, "count_correction", "{key:?}");
                    assert!(
                        (next.2 - (b - a)).abs() < 1e-6 && next.0 - t < 900,
                        "{key:?}"
                    );
                    corrections += 1;
                }
                level = Some(*a);
            } else if let Some(l) = level.as_mut() {
                *l += a;
            }
        }
    }
    assert!(
        chained > 20 && corrections > 5,
        "chained {chained}, corrections {corrections}"
    );
    let _ = std::fs::remove_dir_all(out);
}

#[test]
fn exceptions_open_at_the_end_fill_every_age_bucket() {
    let out = run("aging", 5, 0.1);
    let (rows, _) = read_rows(&out);
    let end = parse_ts("2026-11-21T00:00:00Z", false).unwrap();
    let mut latest: BTreeMap<String, (i64, i64, String)> = BTreeMap::new();
    for r in rows
        .iter()
        .filter(|r| r.table == "exception_events" && check(r).0)
    {
        let t = parse_ts(r.get("event_at"), r.tpl).unwrap();
        let e = latest
            .entry(r.get("exception_id").to_string())
            .or_insert((t, t, String::new()));
        e.0 = e.0.min(t);
        if t >= e.1 {
            e.1 = t;
            e.2 = r.get("status").trim().to_lowercase();
        }
    }
    let types: BTreeSet<String> = rows
        .iter()
        .filter(|r| r.table == "exception_events" && check(r).0)
        .map(|r| r.get("exception_type").trim().to_lowercase())
        .collect();
    assert_eq!(
        types.len(),
        super::catalog::EXCEPTION_TYPES.len(),
        "exception types: {types:?}"
    );
    let mut buckets = BTreeSet::new();
    for (opened, _, status) in latest.values() {
        if status != "resolved" && status != "cancelled" {
            let h = (end - opened) / 3600;
            buckets.insert(match h {
                0..24 => 0,
                24..72 => 1,
                72..168 => 2,
                168..336 => 3,
                336..720 => 4,
                _ => 5,
            });
        }
    }
    assert_eq!(
        buckets.len(),
        6,
        "buckets with open exceptions: {buckets:?}"
    );
    let _ = std::fs::remove_dir_all(out);
}

#[test]
fn the_3pl_mapping_is_valid_toml_naming_canonical_fields() {
    let out = run("mapping", 3, 0.02);
    let text = std::fs::read_to_string(out.join("opintel.toml")).unwrap();
    let v: toml::Value = toml::from_str(&text).unwrap();
    let sources = v["sources"].as_array().unwrap();
    assert_eq!(sources.len(), 4);
    let canonical = |table: &str| -> Vec<&'static str> {
        let cols = match table {
            "shipments" => super::layout::SHIPMENTS,
            "cycle_counts" => super::layout::CYCLE_COUNTS,
            "adjustments" => super::layout::ADJUSTMENTS,
            _ => super::layout::EXCEPTION_EVENTS,
        };
        cols.iter().map(|c| c.name).collect()
    };
    for s in sources {
        let table = s["table"].as_str().unwrap();
        let fields = canonical(table);
        assert_eq!(s["delimiter"].as_str(), Some(";"));
        assert_eq!(s["time_zone"].as_str(), Some("America/Chicago"));
        assert_eq!(s["timestamp_format"].as_str(), Some("%d/%m/%Y %H:%M:%S"));
        let cols = s["columns"].as_table().unwrap();
        assert_eq!(
            cols.len(),
            fields.len(),
            "{table}: every canonical column is mapped"
        );
        for c in cols.values() {
            assert!(fields.contains(&c.as_str().unwrap()), "{table}: {c}");
        }
        if let Some(values) = s.get("values").and_then(|v| v.as_table()) {
            for field in values.keys() {
                assert!(
                    fields.contains(&field.as_str()),
                    "{table}: values for {field}"
                );
            }
        }
        // Its files exist and match the pattern.
        let prefix = s["pattern"].as_str().unwrap().trim_end_matches('*');
        assert!(
            all_files(&out.join("exports")).iter().any(|p| p
                .file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(prefix))
        );
    }
    let _ = std::fs::remove_dir_all(out);
}
