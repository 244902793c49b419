//! The tiny hand-made operation in `data/fixtures/tiny`, run end to end through the
//! real binary, against KPI values computed by hand (the arithmetic is in the comments).
//! As of 2026-11-20, window 28 days: 2026-10-24 00:00Z … end(D) = 2026-11-20 23:59:59.999999Z.

use crate::common::*;

const H: f64 = 3_600_000_000.0;
/// end(D) minus an instant, in hours: end(D) is one µs short of the next midnight.
fn hours_before_end(whole_hours: f64) -> f64 {
    (whole_hours * H - 1.0) / H
}

fn run_fixture() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().expect("tmp");
    let fx = fixture("tiny");
    let fx = fx.to_str().expect("utf8 path");
    opintel_ok(tmp.path(), &run_args("out", &[fx]));
    tmp
}

#[test]
fn tiny_fixture_kpis_match_hand_computation() {
    let tmp = run_fixture();
    let kpis = tmp.path().join("out/kpis");

    // Fill rate. Lines due in the window with demand > 0:
    //  O1/1 web WH1 due 11-19: demand 10, shipped 6 (on time) + 4 (late) = 10 → full, not OTIF.
    //  O1/2 web WH1 due 11-19: demand 5, shipped 5 on time (a 3rd unit after end(D) ignored).
    //  O2/1: cancelled 4 of 4 by the customer in a later version → demand 0, left out.
    //  O3/1 b2b WH1 due 11-20: demand 8 (stockout cancels do not reduce demand), shipped 5.
    //  O3/2 b2b WH1 due 11-20: demand 2 (the customer cancel is dated after end(D)),
    //       shipped 2 on time (the duplicate event s5 counts once).
    //  O4/1 web WH2 due 11-19: demand 3 − 1 (" customer ") = 2, shipped 3 → filled 2.
    //  O5 due before, O6 due after the window; O7 (qty −3) was rejected at ingest.
    let (cols, rows) = read_parquet(&kpis.join("fill_rate.parquet"));
    assert_eq!(cols, FILL_RATE_COLUMNS);
    assert_rows(
        "fill_rate",
        &rows,
        &[
            vec![
                d("2026-11-19"),
                s("web"),
                s("WH1"),
                V::I(2),
                V::I(1),
                V::F(15.0),
                V::F(15.0),
                V::F(1.0),
                V::F(1.0),
                V::F(1.0),
                V::F(0.5),
            ],
            vec![
                d("2026-11-19"),
                s("web"),
                s("WH2"),
                V::I(1),
                V::I(1),
                V::F(2.0),
                V::F(2.0),
                V::F(1.0),
                V::F(1.0),
                V::F(1.0),
                V::F(1.0),
            ],
            // 7 of 10 units; 1 of 2 lines full; the order is not complete; O3/2 is OTIF.
            vec![
                d("2026-11-20"),
                s("b2b"),
                s("WH1"),
                V::I(2),
                V::I(1),
                V::F(10.0),
                V::F(7.0),
                V::F(0.7),
                V::F(0.5),
                V::F(0.0),
                V::F(0.5),
            ],
        ],
    );

    // Exception aging at end(D). E3 resolved, E8 cancelled, E9 opens after end(D),
    // E10 was rejected ("closedd"). E4's resolution is after end(D), so it is open.
    // E5's latest event made it critical. Ages are end(D) − first event.
    let (cols, rows) = read_parquet(&kpis.join("exception_aging.parquet"));
    assert_eq!(
        cols,
        [
            "as_of",
            "exception_type",
            "severity",
            "age_bucket",
            "open_count",
            "breached_count",
            "oldest_age_hours"
        ]
    );
    let day = d("2026-11-20");
    assert_rows(
        "exception_aging",
        &rows,
        &[
            // E2 opened 11-18 00:00: 72h − 1µs, just under the medium SLA of 72h.
            vec![
                day.clone(),
                s("bin_mismatch"),
                s("medium"),
                s("1-3d"),
                V::I(1),
                V::I(0),
                V::F(hours_before_end(72.0)),
            ],
            // E4 opened 11-01 00:00: 20 days.
            vec![
                day.clone(),
                s("damaged"),
                s("critical"),
                s("14-30d"),
                V::I(1),
                V::I(1),
                V::F(hours_before_end(480.0)),
            ],
            // E7 opened 09-01 00:00: 81 days.
            vec![
                day.clone(),
                s("other"),
                s("low"),
                s("30d+"),
                V::I(1),
                V::I(1),
                V::F(hours_before_end(81.0 * 24.0)),
            ],
            // E5 opened 11-13 00:00: 8 days, critical SLA 4h.
            vec![
                day.clone(),
                s("pick_shortage"),
                s("critical"),
                s("7-14d"),
                V::I(1),
                V::I(1),
                V::F(hours_before_end(192.0)),
            ],
            // E1 (20:00) and E6 (10:00) on 11-20: oldest is E6, 14h.
            vec![
                day,
                s("pick_shortage"),
                s("high"),
                s("0-1d"),
                V::I(2),
                V::I(0),
                V::F(hours_before_end(14.0)),
            ],
        ],
    );

    // Count variance: c6 before and c7 after the window. SKU-1 costs 2.50 as of D (the
    // 3.00 version is later); SKU-2 moved to SUP-C before D; L2 is zone B as of D.
    //  c1 WH1 L1(A) SKU-1 −2 → −5.00     c2 WH1 L2(B) SKU-2 0 → 0
    //  c3 WH1 L2(B) SKU-3 +3 → +12 (supplier empty → UNKNOWN)
    //  c4 WH2 L3(A) SKU-9 (unknown) −1 → 0     c5 WH2 L9 (unknown) SKU-1 +1 → +2.50
    let (cols, rows) = read_parquet(&kpis.join("count_variance_by_zone.parquet"));
    assert_eq!(
        cols,
        [
            "warehouse_id",
            "zone",
            "counts",
            "accurate_counts",
            "accuracy_rate",
            "net_variance_units",
            "abs_variance_units",
            "net_variance_value",
            "abs_variance_value"
        ]
    );
    assert_rows(
        "count_variance_by_zone",
        &rows,
        &[
            vec![
                s("WH1"),
                s("A"),
                V::I(1),
                V::I(0),
                V::F(0.0),
                V::F(-2.0),
                V::F(2.0),
                V::F(-5.0),
                V::F(5.0),
            ],
            vec![
                s("WH1"),
                s("B"),
                V::I(2),
                V::I(1),
                V::F(0.5),
                V::F(3.0),
                V::F(3.0),
                V::F(12.0),
                V::F(12.0),
            ],
            vec![
                s("WH2"),
                s("A"),
                V::I(1),
                V::I(0),
                V::F(0.0),
                V::F(-1.0),
                V::F(1.0),
                V::F(0.0),
                V::F(0.0),
            ],
            vec![
                s("WH2"),
                s("UNKNOWN"),
                V::I(1),
                V::I(0),
                V::F(0.0),
                V::F(1.0),
                V::F(1.0),
                V::F(2.5),
                V::F(2.5),
            ],
        ],
    );
    let (cols, rows) = read_parquet(&kpis.join("count_variance_by_supplier.parquet"));
    assert_eq!(cols[1], "supplier_id");
    assert_rows(
        "count_variance_by_supplier",
        &rows,
        &[
            vec![
                s("WH1"),
                s("SUP-A"),
                V::I(1),
                V::I(0),
                V::F(0.0),
                V::F(-2.0),
                V::F(2.0),
                V::F(-5.0),
                V::F(5.0),
            ],
            vec![
                s("WH1"),
                s("SUP-C"),
                V::I(1),
                V::I(1),
                V::F(1.0),
                V::F(0.0),
                V::F(0.0),
                V::F(0.0),
                V::F(0.0),
            ],
            vec![
                s("WH1"),
                s("UNKNOWN"),
                V::I(1),
                V::I(0),
                V::F(0.0),
                V::F(3.0),
                V::F(3.0),
                V::F(12.0),
                V::F(12.0),
            ],
            vec![
                s("WH2"),
                s("SUP-A"),
                V::I(1),
                V::I(0),
                V::F(0.0),
                V::F(1.0),
                V::F(1.0),
                V::F(2.5),
                V::F(2.5),
            ],
            vec![
                s("WH2"),
                s("UNKNOWN"),
                V::I(1),
                V::I(0),
                V::F(0.0),
                V::F(-1.0),
                V::F(1.0),
                V::F(0.0),
                V::F(0.0),
            ],
        ],
    );
}

#[test]
fn tiny_fixture_row_accounting_and_rejects() {
    let tmp = run_fixture();
    let manifest: serde_json::Value = read_manifest(&tmp.path().join("out"));
    let files = manifest["ingest"]["files"].as_array().expect("files");
    assert_eq!(files.len(), 10);
    // Per file: (rows read, rejected, duplicates), counted by hand from the fixture.
    let expected = [
        ("adjustments.csv", 3, 1, 0),
        ("cycle_counts.csv", 7, 0, 0),
        ("exception_events.csv", 15, 1, 0),
        ("items.csv", 5, 0, 0),
        ("locations.csv", 4, 0, 0),
        ("order_lines.csv", 11, 1, 0),
        ("receipts.csv", 2, 0, 0),
        ("return_events.csv", 3, 1, 0),
        ("shipments.csv", 9, 1, 1),
        ("suppliers.csv", 3, 0, 0),
    ];
    for (name, read, rejected, dups) in expected {
        let f = files
            .iter()
            .find(|f| f["path"].as_str().is_some_and(|p| p.ends_with(name)))
            .unwrap_or_else(|| panic!("{name} in manifest"));
        assert_eq!(f["rows_read"], read, "{name} rows_read");
        assert_eq!(f["rejected"], rejected, "{name} rejected");
        assert_eq!(f["duplicates"], dups, "{name} duplicates");
        assert_eq!(f["accepted"], read - rejected - dups, "{name} accepted");
        // The invariant, independently of the numbers above.
        let sum = f["accepted"].as_u64().unwrap_or(0)
            + f["rejected"].as_u64().unwrap_or(0)
            + f["duplicates"].as_u64().unwrap_or(0);
        assert_eq!(
            f["rows_read"].as_u64(),
            Some(sum),
            "{name}: read = accepted + rejected + duplicates"
        );
    }

    // Rejects keep the file, the line, the raw text and a reason naming field and value.
    let rejects = read_parquet_dir(&tmp.path().join("lake/_rejects/shipments"));
    assert_eq!(rejects.len(), 1);
    let r = &rejects[0];
    assert!(
        matches!(&r[0], V::S(p) if p.ends_with("shipments.csv")),
        "{r:?}"
    );
    assert_eq!(r[1], V::I(10));
    assert_eq!(
        r[2],
        s("s8,SH7,O3,1,SKU-3,WH1,L2,abc,2026-11-20T10:00:00Z,DHL")
    );
    assert_eq!(r[3], s("qty_shipped: \"abc\" is not a number"));
    let rejects = read_parquet_dir(&tmp.path().join("lake/_rejects/exception_events"));
    // Line 16 (header + e1…e15): BOM and CRLF do not shift line numbers; no CR in the raw text.
    assert_eq!(rejects[0][1], V::I(16));
    assert_eq!(
        rejects[0][2],
        s("e15,E10,2026-11-19T00:00:00Z,closedd,pick_shortage,high,pickers,WH1,,,,,,,")
    );
    assert!(
        matches!(&rejects[0][3], V::S(m) if m.starts_with("status: \"closedd\" is not one of open,"))
    );
    let rejects = read_parquet_dir(&tmp.path().join("lake/_rejects/return_events"));
    assert_eq!(
        rejects[0][3],
        s("disposition is required when stage is dispositioned")
    );

    // Canonical values: enums folded, strings trimmed, quotes kept, "" → null.
    let items = read_parquet_dir(&tmp.path().join("lake/items"));
    assert!(items.iter().any(|r| r[1] == s("Mug, blue \"large\"")));
    assert!(items.iter().any(|r| r[0] == s("SKU-2") && r[5] == s("B")));
    assert!(items.iter().any(|r| r[0] == s("SKU-3") && r[3] == V::Null));
    let lines = read_parquet_dir(&tmp.path().join("lake/order_lines"));
    assert!(
        lines
            .iter()
            .any(|r| r[0] == s("O4") && r[9] == s("customer"))
    );
    assert!(
        lines
            .iter()
            .any(|r| r[0] == s("O1") && r[1] == s("1") && r[8] == V::F(0.0)),
        "default 0"
    );
}

#[test]
fn re_ingesting_changes_nothing() {
    let tmp = run_fixture();
    let before = read_parquet(&tmp.path().join("out/kpis/fill_rate.parquet")).1;
    // Rows of the table's current version (its Delta log): an ingest that adds rows to
    // a day writes its small files again, and the old ones stay until a vacuum.
    let lake_rows = |t: &str| -> usize {
        let sql = format!("SELECT count(*) AS n FROM {t}");
        let o = opintel_ok(
            tmp.path(),
            &["sql", "--lake", "lake", "--format", "csv", sql.as_str()],
        );
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .nth(1)
            .and_then(|n| n.trim().parse().ok())
            .expect("a count")
    };
    let shipments = lake_rows("shipments");
    // Same files again (skipped by content hash) and a copy with a new name and an
    // overlapping extra row (rows skipped by event_id).
    let again = tmp.path().join("again");
    std::fs::create_dir_all(&again).expect("dir");
    let mut text = std::fs::read_to_string(fixture("tiny/shipments.csv")).expect("read");
    text.push_str("s9,SH8,O3,1,SKU-3,WH1,L2,3,2026-11-20T10:30:00Z,DHL\n");
    std::fs::write(again.join("shipments-resend.csv"), text).expect("write");
    let fx = fixture("tiny");
    let out = opintel_ok(
        tmp.path(),
        &run_args("out2", &[fx.to_str().expect("p"), "again"]),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("already ingested"), "{stdout}");
    assert_eq!(lake_rows("shipments"), shipments + 1, "only s9 is new");
    let after = read_parquet(&tmp.path().join("out2/kpis/fill_rate.parquet")).1;
    // s9 adds 3 units to O3/1 (5 → 8 of 8): b2b's row changes exactly that way.
    assert_eq!(before[0], after[0]);
    assert_eq!(before[1], after[1]);
    assert_rows(
        "fill_rate after s9",
        &after[2..],
        &[vec![
            d("2026-11-20"),
            s("b2b"),
            s("WH1"),
            V::I(2),
            V::I(1),
            V::F(10.0),
            V::F(10.0),
            V::F(1.0),
            V::F(1.0),
            V::F(1.0),
            V::F(1.0),
        ]],
    );
    let m: serde_json::Value = read_manifest(&tmp.path().join("out2"));
    let resend = m["ingest"]["files"]
        .as_array()
        .and_then(|f| {
            f.iter().find(|f| {
                f["path"]
                    .as_str()
                    .is_some_and(|p| p.ends_with("shipments-resend.csv"))
            })
        })
        .expect("resend file");
    assert_eq!(resend["rows_read"], 10);
    assert_eq!(
        resend["duplicates"], 8,
        "s1–s7 and the second s5 are already in the lake"
    );
    assert_eq!(resend["rejected"], 1);
    assert_eq!(resend["accepted"], 1);
}

/// `run --kpis A,B --no-report` over the same lake writes exactly those KPI tables,
/// equal to the full run's, and the manifest with its freshness check, but no page and
/// no charts.
#[test]
fn a_kpis_only_run_writes_those_tables_and_no_page() {
    let tmp = run_fixture();
    opintel_ok(
        tmp.path(),
        &run_args(
            "only",
            &["--kpis", "fill_rate,exception_aging", "--no-report"],
        ),
    );
    let only = tmp.path().join("only");
    assert!(
        !only.join("index.html").exists(),
        "no page with --no-report"
    );
    assert!(!only.join("charts").exists(), "no charts with --no-report");
    let mut files: Vec<String> = std::fs::read_dir(only.join("kpis"))
        .expect("kpis")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(
        files,
        [
            "exception_aging.csv",
            "exception_aging.parquet",
            "fill_rate.csv",
            "fill_rate.parquet"
        ]
    );
    for name in ["fill_rate", "exception_aging"] {
        let full = read_parquet(&tmp.path().join(format!("out/kpis/{name}.parquet")));
        let part = read_parquet(&only.join(format!("kpis/{name}.parquet")));
        assert_eq!(full.0, part.0, "{name} columns");
        assert_eq!(full.1, part.1, "{name} rows");
    }
    let m: serde_json::Value = read_manifest(&only);
    let tables: Vec<&str> = m["freshness"]
        .as_array()
        .expect("freshness")
        .iter()
        .filter_map(|f| f["table"].as_str())
        .collect();
    assert!(
        tables.contains(&"shipments"),
        "freshness is still checked: {tables:?}"
    );
    assert_eq!(m["kpis"].as_array().map(Vec::len), Some(2));
}
