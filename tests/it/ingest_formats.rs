//! Each input format and quirk of docs/contract.md, through the real binary. Every test
//! writes its own small exports, ingests them, and checks the lake's rows and the
//! per-file counts against values written out by hand.

use crate::common::*;

use std::io::Write;
use std::path::Path;

const SHIP_HEADER: &str = "event_id,shipment_id,order_id,line_id,sku,warehouse_id,location_id,qty_shipped,shipped_at,carrier";
const SHIP_ROWS: &str = "s1,SH1,O1,1,SKU-1,WH1,L1,6,2026-11-19T12:00:00Z,UPS\ns2,SH2,O1,2,SKU-2,WH1,L2,2.5,2026-11-19T13:00:00Z,DHL\n";

/// Ingest `paths` into `lake` under `dir`, with an optional config; return the JSON report.
fn ingest(dir: &Path, config: Option<&str>, paths: &[&str]) -> serde_json::Value {
    let mut args = vec!["ingest", "--lake", "lake", "--report", "report.json"];
    if let Some(c) = config {
        std::fs::write(dir.join("opintel.toml"), c).expect("config");
        args.extend(["--config", "opintel.toml"]);
    }
    args.extend(paths);
    let out = opintel(dir, &args);
    assert!(
        out.status.code().is_some_and(|c| c == 0 || c == 3),
        "ingest failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).expect("report"))
        .expect("json")
}

fn file<'a>(report: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    report["files"]
        .as_array()
        .and_then(|f| {
            f.iter()
                .find(|f| f["path"].as_str().is_some_and(|p| p.ends_with(name)))
        })
        .unwrap_or_else(|| panic!("{name} not in report {report:#}"))
}

fn counts(f: &serde_json::Value) -> (u64, u64, u64, u64) {
    let n = |k: &str| f[k].as_u64().unwrap_or(u64::MAX);
    let c = (
        n("rows_read"),
        n("accepted"),
        n("rejected"),
        n("duplicates"),
    );
    assert_eq!(
        c.0,
        c.1 + c.2 + c.3,
        "read = accepted + rejected + duplicates: {f:#}"
    );
    c
}

/// Shipments in the lake as (event_id, qty, shipped_at µs), sorted.
fn shipments(dir: &Path) -> Vec<(String, f64, i64)> {
    let mut v: Vec<_> = read_parquet_dir(&dir.join("lake/shipments"))
        .into_iter()
        .map(|r| match (&r[0], &r[7], &r[8]) {
            (V::S(id), V::F(q), V::T(t)) => (id.clone(), *q, *t),
            other => panic!("unexpected row {other:?}"),
        })
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

/// 2026-11-19T12:00:00Z and 13:00:00Z in µs (1795089600 s, by Python's datetime).
const T12: i64 = 1_795_089_600_000_000;
const T13: i64 = T12 + 3_600_000_000;

fn expected_two() -> Vec<(String, f64, i64)> {
    vec![("s1".into(), 6.0, T12), ("s2".into(), 2.5, T13)]
}

#[test]
fn gzip_and_zstd_csv_and_ndjson() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    let csv = format!("{SHIP_HEADER}\n{SHIP_ROWS}");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(csv.as_bytes()).expect("gz");
    std::fs::create_dir_all(dir.join("in")).expect("dir");
    std::fs::write(dir.join("in/shipments-a.csv.gz"), gz.finish().expect("gz")).expect("w");
    let ndjson = "{\"event_id\":\"s1\",\"shipment_id\":\"SH1\",\"order_id\":\"O1\",\"line_id\":1,\"sku\":\"SKU-1\",\"warehouse_id\":\"WH1\",\"location_id\":\"L1\",\"qty_shipped\":6,\"shipped_at\":\"2026-11-19T12:00:00Z\",\"carrier\":\"UPS\"}\n\
                  {\"event_id\":\"s2\",\"shipment_id\":\"SH2\",\"order_id\":\"O1\",\"line_id\":\"2\",\"sku\":\"SKU-2\",\"warehouse_id\":\"WH1\",\"qty_shipped\":2.5,\"shipped_at\":\"2026-11-19 13:00:00\",\"carrier\":null,\"extra\":{\"x\":1}}\n";
    std::fs::write(
        dir.join("in/shipments-b.ndjson.zst"),
        zstd::encode_all(ndjson.as_bytes(), 3).expect("zstd"),
    )
    .expect("w");
    let report = ingest(dir, None, &["in"]);
    assert_eq!(counts(file(&report, "shipments-a.csv.gz")), (2, 2, 0, 0));
    assert_eq!(file(&report, "shipments-a.csv.gz")["format"], "csv.gz");
    // Same event ids in the NDJSON file: both are duplicates.
    assert_eq!(
        counts(file(&report, "shipments-b.ndjson.zst")),
        (2, 0, 0, 2)
    );
    assert_eq!(
        file(&report, "shipments-b.ndjson.zst")["extra_columns"][0],
        "extra"
    );
    assert_eq!(shipments(dir), expected_two());
}

#[test]
fn ndjson_values_and_bad_lines() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    let text = "{\"event_id\":\"s1\",\"shipment_id\":\"SH1\",\"order_id\":\"O1\",\"line_id\":1,\"sku\":\"SKU-1\",\"warehouse_id\":\"WH1\",\"qty_shipped\":6,\"shipped_at\":\"2026-11-19T12:00:00Z\"}\n\
                \n\
                not json\n\
                [1,2]\n\
                {\"event_id\":\"s3\",\"shipment_id\":\"SH1\",\"order_id\":\"O1\",\"line_id\":1,\"sku\":{\"a\":1},\"warehouse_id\":\"WH1\",\"qty_shipped\":6,\"shipped_at\":\"2026-11-19T12:00:00Z\"}\n\
                {\"event_id\":\"s4\",\"shipment_id\":\"SH1\",\"order_id\":\"O1\",\"line_id\":1,\"sku\":\"SKU-1\",\"warehouse_id\":\"WH1\",\"shipped_at\":\"2026-11-19T12:00:00Z\"}\n\
                {\"event_id\":\"s2\",\"shipment_id\":\"SH2\",\"order_id\":\"O1\",\"line_id\":2,\"sku\":\"SKU-2\",\"warehouse_id\":\"WH1\",\"qty_shipped\":\"2.5\",\"shipped_at\":\"2026-11-19T13:00:00+00:00\"}\n";
    std::fs::write(dir.join("shipments.jsonl"), text).expect("w");
    let report = ingest(dir, None, &["shipments.jsonl"]);
    // 6 non-blank lines: s1 and s2 accepted; "not json", the array, the nested sku
    // and s4 (no qty_shipped) refused.
    assert_eq!(counts(file(&report, "shipments.jsonl")), (6, 2, 4, 0));
    assert_eq!(shipments(dir), expected_two());
    let rejects = read_parquet_dir(&dir.join("lake/_rejects/shipments"));
    let mut lines: Vec<(V, V)> = rejects
        .iter()
        .map(|r| (r[1].clone(), r[3].clone()))
        .collect();
    lines.sort_by_key(|(l, _)| match l {
        V::I(i) => *i,
        _ => 0,
    });
    assert_eq!(lines[0].0, V::I(3));
    assert!(matches!(&lines[0].1, V::S(m) if m.starts_with("the line is not valid JSON")));
    assert_eq!(lines[1], (V::I(4), s("the line is not a JSON object")));
    assert_eq!(lines[2].0, V::I(5));
    assert!(
        matches!(&lines[2].1, V::S(m) if m.contains("nested")),
        "{:?}",
        lines[2]
    );
    assert_eq!(lines[3], (V::I(6), s("qty_shipped is required but empty")));
}

#[test]
fn canonical_parquet_input_is_validated_like_csv() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    // First land CSV rows in a lake, then feed one of the lake's own files to a new
    // lake as a canonical Parquet export (it has extra system columns: reported).
    std::fs::write(
        dir.join("shipments.csv"),
        format!("{SHIP_HEADER}\n{SHIP_ROWS}"),
    )
    .expect("w");
    ingest(dir, None, &["shipments.csv"]);
    let part = walk_parquet(&dir.join("lake/shipments"));
    assert_eq!(part.len(), 1);
    std::fs::copy(&part[0], dir.join("shipments-canonical.parquet")).expect("copy");
    std::fs::remove_dir_all(dir.join("lake")).expect("rm");
    let report = ingest(dir, None, &["shipments-canonical.parquet"]);
    let f = file(&report, "shipments-canonical.parquet");
    assert_eq!(counts(f), (2, 2, 0, 0));
    assert_eq!(f["format"], "parquet");
    assert!(
        f["extra_columns"]
            .as_array()
            .is_some_and(|a| a.iter().any(|c| c == "_ingest_seq"))
    );
    assert_eq!(shipments(dir), expected_two());
}

fn walk_parquet(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).expect("dir").flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk_parquet(&p));
        } else if p.extension().is_some_and(|x| x == "parquet") {
            out.push(p);
        }
    }
    out
}

#[test]
fn source_mapping_renames_zones_formats_and_values() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    let config = r#"
[[sources]]
name = "3pl"
pattern = "tpl_ship_*"
table = "shipments"
delimiter = ";"
time_zone = "America/Chicago"
timestamp_format = "%d/%m/%Y %H:%M"
[sources.columns]
"Ref" = "event_id"
"Ship No" = "shipment_id"
"Order" = "order_id"
"Line" = "line_id"
"Item" = "sku"
"Site" = "warehouse_id"
"Qty" = "qty_shipped"
"Shipped" = "shipped_at"
"Carrier" = "carrier"
[sources.values.carrier]
"U" = "UPS"
"#;
    // 19/11/2026 06:00 in Chicago (CST, UTC−6) is 12:00Z; the second value carries an
    // explicit offset and keeps its instant; a quoted field holds the delimiter.
    let text = "Ref;Ship No;Order;Line;Item;Site;Qty;Shipped;Carrier\n\
                s1;SH1;O1;1;SKU-1;WH1;6;19/11/2026 06:00;u\n\
                s2;SH2;O1;2;SKU-2;WH1;2.5;2026-11-19T14:00:00+01:00;\"DHL; Express\"\n";
    std::fs::write(dir.join("tpl_ship_20261119.csv"), text).expect("w");
    let report = ingest(dir, Some(config), &["tpl_ship_20261119.csv"]);
    assert_eq!(counts(file(&report, "tpl_ship_20261119.csv")), (2, 2, 0, 0));
    assert_eq!(shipments(dir), expected_two());
    let carriers: Vec<V> = read_parquet_dir(&dir.join("lake/shipments"))
        .into_iter()
        .map(|r| r[9].clone())
        .collect();
    assert!(
        carriers.contains(&s("UPS")),
        "value map applied: {carriers:?}"
    );
    assert!(carriers.contains(&s("DHL; Express")));
}

#[test]
fn naive_timestamps_use_the_configured_zone_and_dates_are_midnight() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    let config = "[ingest]\ntime_zone = \"Europe/Paris\"\n";
    // Paris in November is UTC+1: 13:00 local = 12:00Z. The second row is a date alone
    // in UTC+1 → 2026-11-19 00:00 local = 2026-11-18T23:00Z, partitioned on 11-18.
    let text = format!(
        "{SHIP_HEADER}\ns1,SH1,O1,1,SKU-1,WH1,L1,6,2026-11-19 13:00:00,UPS\ns2,SH2,O1,2,SKU-2,WH1,L2,2.5,2026-11-19,DHL\n"
    );
    std::fs::write(dir.join("shipments.csv"), text).expect("w");
    ingest(dir, Some(config), &["shipments.csv"]);
    let rows = shipments(dir);
    assert_eq!(rows[0], ("s1".into(), 6.0, T12));
    assert_eq!(rows[1], ("s2".into(), 2.5, T12 - 13 * 3_600_000_000));
    assert!(dir.join("lake/shipments/event_date=2026-11-18").is_dir());
    assert!(dir.join("lake/shipments/event_date=2026-11-19").is_dir());
}

#[test]
fn csv_quirks_quotes_newlines_counts_and_encodings() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    let mut bytes = Vec::new();
    bytes.extend_from_slice(
        b"sku,description,family,supplier_id,unit_cost,abc_class,updated_at\r\n",
    );
    // Line 2: a quoted field spanning two lines (the record ends on line 3).
    bytes.extend_from_slice(
        b"SKU-1,\"two\r\nlines, \"\"quoted\"\"\",home,SUP-A,1.5,a,2026-11-01T00:00:00Z\r\n",
    );
    // Line 4: one field too few.
    bytes.extend_from_slice(b"SKU-2,short,home,SUP-A,1.5,2026-11-01T00:00:00Z\r\n");
    // Line 5: Latin-1 bytes, not UTF-8.
    bytes.extend_from_slice(b"SKU-3,caf\xe9,home,SUP-A,1.5,B,2026-11-01T00:00:00Z\r\n");
    // Line 6: a blank line, then line 7: NaN cost and an unknown class.
    bytes.extend_from_slice(b"\r\nSKU-4,x,home,SUP-A,NaN,D,2026-11-01T00:00:00Z\r\n");
    // Line 8: timestamps out of range; line 9: valid, no trailing newline.
    bytes.extend_from_slice(
        b"SKU-5,x,home,SUP-A,1,C,1999-12-31T23:59:59Z\r\nSKU-6,x,home,,0,,2026-11-01",
    );
    std::fs::write(dir.join("items.csv"), &bytes).expect("w");
    let report = ingest(dir, None, &["items.csv"]);
    assert_eq!(counts(file(&report, "items.csv")), (6, 2, 4, 0));
    let mut rejects: Vec<(V, V)> = read_parquet_dir(&dir.join("lake/_rejects/items"))
        .into_iter()
        .map(|r| (r[1].clone(), r[3].clone()))
        .collect();
    rejects.sort_by_key(|(l, _)| match l {
        V::I(i) => *i,
        _ => 0,
    });
    assert_eq!(
        rejects[0],
        (
            V::I(4),
            s("the row has 6 fields but the header has 7 (a missing quote or delimiter?)")
        )
    );
    assert_eq!(rejects[1].0, V::I(5));
    assert!(
        matches!(&rejects[1].1, V::S(m) if m.contains("not valid UTF-8") && m.contains("0xE9"))
    );
    assert_eq!(rejects[2].0, V::I(7));
    assert_eq!(
        rejects[2].1,
        s("unit_cost: \"NaN\" is not a finite number; abc_class: \"D\" is not one of A, B, C")
    );
    assert_eq!(rejects[3].0, V::I(8));
    assert!(matches!(&rejects[3].1, V::S(m) if m.contains("is before 2000-01-01")));
    let items = read_parquet_dir(&dir.join("lake/items"));
    let one = items.iter().find(|r| r[0] == s("SKU-1")).expect("SKU-1");
    assert_eq!(one[1], s("two\r\nlines, \"quoted\""));
    assert_eq!(one[5], s("A"));
    let six = items.iter().find(|r| r[0] == s("SKU-6")).expect("SKU-6");
    assert_eq!(
        (six[3].clone(), six[4].clone(), six[5].clone()),
        (V::Null, V::F(0.0), V::Null)
    );
}

#[test]
fn bad_files_are_reported_and_others_still_land() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    let d = dir.join("in");
    std::fs::create_dir_all(&d).expect("dir");
    std::fs::write(
        d.join("shipments.csv"),
        format!("{SHIP_HEADER}\n{SHIP_ROWS}"),
    )
    .expect("w");
    std::fs::write(d.join("orders.csv"), "a,b\n1,2\n").expect("w");
    std::fs::write(d.join("receipts.csv"), "").expect("w");
    std::fs::write(
        d.join("cycle_counts.csv"),
        "event_id,count_id,warehouse_id,location_id,sku,system_qty,counted_qty,counted_at\n",
    )
    .expect("w");
    std::fs::write(
        d.join("adjustments.csv"),
        "event_id;warehouse_id;location_id;sku;qty_delta;reason_code;adjusted_at\n1;2;3;4;5;6;7\n",
    )
    .expect("w");
    std::fs::write(d.join("README.md"), "not an export").expect("w");
    // A gzip file cut in half: rows before the cut are kept, the file is "partial".
    let mut big = String::from(SHIP_HEADER);
    big.push('\n');
    for i in 0..20_000 {
        big.push_str(&format!(
            "t{i},SH,O{i},1,SKU-1,WH1,L1,1,2026-11-19T12:00:00Z,UPS\n"
        ));
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(big.as_bytes()).expect("gz");
    let gz = gz.finish().expect("gz");
    std::fs::write(d.join("shipments-cut.csv.gz"), &gz[..gz.len() / 2]).expect("w");
    // The same for a zstd NDJSON file cut short.
    let mut nd = String::new();
    for i in 0..20_000 {
        nd.push_str(&format!(
            "{{\"event_id\":\"z{i}\",\"shipment_id\":\"SH\",\"order_id\":\"O{i}\",\"line_id\":\"1\",\"sku\":\"SKU-1\",\"warehouse_id\":\"WH1\",\"qty_shipped\":1,\"shipped_at\":\"2026-11-19T12:00:00Z\"}}\n"
        ));
    }
    let zst = zstd::encode_all(nd.as_bytes(), 1).expect("zstd");
    std::fs::write(d.join("shipments-cut.ndjson.zst"), &zst[..zst.len() / 2]).expect("w");
    let report = ingest(dir, None, &["in"]);
    assert_eq!(counts(file(&report, "in/shipments.csv")), (2, 2, 0, 0));
    let st = |n: &str| {
        file(&report, n)["status"]
            .as_str()
            .unwrap_or("")
            .to_string()
    };
    let msg = |n: &str| {
        file(&report, n)["message"]
            .as_str()
            .unwrap_or("")
            .to_string()
    };
    assert_eq!(st("orders.csv"), "failed");
    assert!(msg("orders.csv").contains("cannot tell which table"));
    assert_eq!(st("receipts.csv"), "empty");
    assert_eq!(st("cycle_counts.csv"), "empty");
    assert_eq!(st("adjustments.csv"), "failed");
    assert!(
        msg("adjustments.csv").contains("is the delimiter ';'"),
        "{}",
        msg("adjustments.csv")
    );
    assert_eq!(st("README.md"), "ignored");
    assert_eq!(st("shipments-cut.csv.gz"), "partial");
    let (read, accepted, rejected, _) = counts(file(&report, "shipments-cut.csv.gz"));
    assert!(
        read > 0 && read < 20_000,
        "some rows before the cut: {read}"
    );
    assert_eq!(accepted + rejected, read);
    assert_eq!(st("shipments-cut.ndjson.zst"), "partial");
    let (read_z, accepted_z, _, _) = counts(file(&report, "shipments-cut.ndjson.zst"));
    assert!(
        read_z > 0 && read_z < 20_000,
        "some rows before the cut: {read_z}"
    );
    assert_eq!(shipments(dir).len() as u64, 2 + accepted + accepted_z);
}
