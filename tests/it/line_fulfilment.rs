//! The `order_line_fulfilment` view and the two data checks that read it, on the tiny
//! fixture plus shipments planted for lines that do not exist (or not yet as of the
//! as-of date) and one over-shipment. Every expected value is worked out by hand below.

use crate::common::*;

/// Shipments added to the fixture's, and an order line that only exists after D.
const EXTRA_SHIPMENTS: &str = "\
u1,SH8,O99,1,SKU-1,WH1,L1,2,2026-11-20T08:00:00Z,UPS
u2,SH9,O99,1,SKU-1,WH1,L1,1,2026-11-21T02:00:00Z,UPS
u3,SH10,O1,3,SKU-1,WH1,L1,1,2026-11-19T08:00:00Z,UPS
u4,SH11,O8,1,SKU-1,WH1,L1,1,2026-11-20T20:00:00Z,UPS
o1,SH12,O4,1,SKU-1,WH2,L3,1,2026-11-20T12:00:00Z,FedEx
";
const LATE_LINE: &str =
    "O8,1,SKU-1,web,WH1,2026-11-20T19:00:00Z,2026-11-22T10:00:00Z,1,,,2026-11-21T05:00:00Z\n";

fn run_planted() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().expect("tmp");
    let inbox = tmp.path().join("in");
    std::fs::create_dir_all(&inbox).expect("mkdir");
    for e in std::fs::read_dir(fixture("tiny"))
        .expect("fixture")
        .flatten()
    {
        std::fs::copy(e.path(), inbox.join(e.file_name())).expect("copy");
    }
    for (file, extra) in [
        ("shipments.csv", EXTRA_SHIPMENTS),
        ("order_lines.csv", LATE_LINE),
    ] {
        let path = inbox.join(file);
        let mut text = std::fs::read_to_string(&path).expect("read");
        if !text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str(extra);
        std::fs::write(&path, text).expect("write");
    }
    opintel_ok(tmp.path(), &run_args("out", &["in"]));
    tmp
}

fn check<'a>(manifest: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    manifest["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("check {name} ran"))
}

#[test]
fn line_fulfilment_view_and_its_checks_match_hand_computation() {
    let tmp = run_planted();
    let out = opintel_ok(
        tmp.path(),
        &[
            "sql",
            "--lake",
            "lake",
            "--as-of",
            "2026-11-20",
            "--format",
            "csv",
            "SELECT order_id, line_id, known_line, CAST(units_shipped AS DOUBLE) AS shipped, \
             CAST(units_shipped_by_promise AS DOUBLE) AS by_promise \
             FROM order_line_fulfilment ORDER BY order_id, line_id",
        ],
    );
    let text = String::from_utf8(out.stdout).expect("utf8");
    let rows: Vec<(String, String, bool, f64, f64)> = text
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (
                f[0].to_string(),
                f[1].to_string(),
                f[2] == "true",
                f[3].parse().expect("shipped"),
                f[4].parse().expect("by promise"),
            )
        })
        .collect();
    // Lines known as of end(2026-11-20): O1-1, O1-2, O2-1, O3-1, O3-2, O4-1, O5-1, O6-1
    // (O7-1 is rejected: qty −3; O8-1's only version is from 11-21). Shipments up to
    // end(D): s1–s6 (s5 once, s7 ships 11-21, s8 is rejected), u1, u3, u4, o1.
    // O1-1: s1 6 by its 11-19 16:00 promise + s2 4 after it. O4-1: s6 3 on time + o1 1
    // late. Unknown pairs: O1-3 (u3), O8-1 (u4: its line comes later), O99-1 (u1; u2
    // ships after D); nothing of theirs counts as by a promise.
    let expected = [
        ("O1", "1", true, 10.0, 6.0),
        ("O1", "2", true, 5.0, 5.0),
        ("O1", "3", false, 1.0, 0.0),
        ("O2", "1", true, 0.0, 0.0),
        ("O3", "1", true, 5.0, 5.0),
        ("O3", "2", true, 2.0, 2.0),
        ("O4", "1", true, 4.0, 3.0),
        ("O5", "1", true, 0.0, 0.0),
        ("O6", "1", true, 0.0, 0.0),
        ("O8", "1", false, 1.0, 0.0),
        ("O99", "1", false, 2.0, 0.0),
    ];
    let expected: Vec<(String, String, bool, f64, f64)> = expected
        .iter()
        .map(|&(o, l, k, s, p)| (o.to_string(), l.to_string(), k, s, p))
        .collect();
    assert_eq!(
        rows, expected,
        "order_line_fulfilment as of 2026-11-20:\n{text}"
    );

    let manifest: serde_json::Value = read_manifest(&tmp.path().join("out"));
    let unknown = check(&manifest, "shipments_for_unknown_order_lines");
    assert_eq!(unknown["violations"], 3, "{unknown}");
    let events: Vec<&str> = unknown["sample"]
        .as_array()
        .expect("sample")
        .iter()
        .filter_map(|r| r["event_id"].as_str())
        .collect();
    assert_eq!(events, ["u3", "u1", "u4"], "ordered by shipped_at");

    // O4-1: 3 ordered, 3 + 1 shipped by end(D). O1-2 ships 5 of 5 by D (s7 is later).
    let over = check(&manifest, "shipped_more_than_ordered");
    assert_eq!(over["violations"], 1, "{over}");
    let row = &over["sample"][0];
    assert_eq!(
        (row["order_id"].as_str(), row["line_id"].as_str()),
        (Some("O4"), Some("1"))
    );

    // The KPIs that read the view still ignore the unknown pairs: O4-1 is due 11-19
    // (promise 10:00) with demand 3 − 1 customer-cancelled = 2, and 3 units by then.
    let (cols, fill) = read_parquet(&tmp.path().join("out/kpis/fill_rate.parquet"));
    let col = |n: &str| cols.iter().position(|c| c == n).expect("column");
    let wh2 = fill
        .iter()
        .find(|r| r[col("warehouse_id")] == s("WH2"))
        .expect("WH2 row");
    assert_eq!(wh2[col("due_date")], d("2026-11-19"));
    assert_eq!(wh2[col("lines")], V::I(1));
    assert_eq!(wh2[col("unit_fill_rate")], V::F(1.0));

    // A run of fill_rate alone reads the view as a plain (inlined, filtered) view; the
    // nightly run above kept it in memory for its four readers. Same table either way.
    opintel_ok(
        tmp.path(),
        &run_args("alone", &["--kpis", "fill_rate", "--no-report"]),
    );
    let (alone_cols, alone) = read_parquet(&tmp.path().join("alone/kpis/fill_rate.parquet"));
    assert_eq!(alone_cols, cols);
    assert_rows("fill_rate read through the plain view", &alone, &fill);
}
