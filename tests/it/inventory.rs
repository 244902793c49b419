//! The optional inventory feed and the two KPIs built on it (`inventory_position`,
//! `receiving_to_available`), on the hand-made operation in `data/fixtures/stock`,
//! against values computed by hand (the arithmetic is in the comments). As of
//! 2026-11-20, window 28 days: 2026-10-24 00:00Z … end(D) = 2026-11-20 23:59:59.999999Z.

use crate::common::*;

fn ts(text: &str) -> V {
    let t = chrono::DateTime::parse_from_rfc3339(text).expect("rfc3339");
    V::T(t.timestamp_micros())
}

#[test]
fn inventory_position_and_receiving_time_match_hand_computation() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    let fx = fixture("stock");
    let night1 = fx.join("night1");
    let night2 = fx.join("night2");
    opintel_ok(
        dir,
        &["ingest", "--lake", "lake", night1.to_str().expect("utf8")],
    );
    // The second night re-sends three snapshot rows, one with another quantity: the same
    // identity (snapshot_at, warehouse, location, sku, status) is a duplicate, so the
    // first stays. The feeds this operation lacks (items, counts, …) are warned about;
    // the run still writes every table.
    opintel_ok(dir, &run_args("out", &[night2.to_str().expect("utf8")]));
    let m = read_manifest(&dir.join("out"));
    let resent = m["ingest"]["files"]
        .as_array()
        .expect("files")
        .iter()
        .find(|f| {
            f["path"]
                .as_str()
                .is_some_and(|p| p.ends_with("resent.csv"))
        })
        .expect("the re-sent file in the manifest");
    assert_eq!(
        (resent["rows_read"].as_u64(), resent["duplicates"].as_u64()),
        (Some(3), Some(3)),
        "{resent}"
    );

    // Snapshot rows up to end(D): WH1's latest is 11-20 22:00 (the 11-19 snapshot and
    // the 11-21 01:00 row are not read); WH2's is 11-20 06:00. Rejected at ingest: the
    // status `lost` and the quantity −2.
    // Open demand (current version as of end(D), ordered ≤ end(D), demand > 0, shipped
    // by end(D) < demand):
    //   A/1 WH1 SKU-1: 20 (the customer cancel is dated 11-21), shipped 6 → 14.
    //   A/2: cancelled 5 of 5 by the customer → demand 0, left out.
    //   B/1: 3 shipped 3 → not open.
    //   C/1 WH1 SKU-1: 4 cancelled for a stockout (demand stays 4), none shipped → 4.
    //   D/1: ordered 11-21 → left out.
    //   E/1 WH1 SKU-1: 2, its shipment is dated 11-21 → 2.
    //   F/1 WH1 SKU-2: 1. G/1 WH2 SKU-1: 5. H/1 WH1 SKU-3: 9, but SKU-3 is in no
    //   snapshot, so it has no row.
    // WH1 SKU-1: available 10 (L1) + 5 (L2; the re-sent 6 is a duplicate) = 15,
    //   reserved 4, quarantined 3 → on hand 22; open 14 + 4 + 2 = 20;
    //   ATP = 15 − max(0, 20 − 4) = −1.
    // WH1 SKU-2: available 2, damaged 1, in transit 7 (not on hand) → on hand 3; open 1;
    //   ATP = 2 − max(0, 1 − 0) = 1.
    // WH2 SKU-1: available 0, on hold 2 → on hand 2; open 5; ATP = 0 − 5 = −5.
    let (cols, rows) = read_parquet(&dir.join("out/kpis/inventory_position.parquet"));
    assert_eq!(
        cols,
        [
            "snapshot_at",
            "warehouse_id",
            "sku",
            "available",
            "reserved",
            "quarantined",
            "damaged",
            "in_transit",
            "on_hold",
            "on_hand",
            "open_demand",
            "available_to_promise"
        ]
    );
    let wh1 = "2026-11-20T22:00:00Z";
    let row = |at: &str, w: &str, sku: &str, q: [f64; 9]| {
        let mut r = vec![ts(at), s(w), s(sku)];
        r.extend(q.iter().map(|&v| V::F(v)));
        r
    };
    assert_rows(
        "inventory_position",
        &rows,
        &[
            row(
                wh1,
                "WH1",
                "SKU-1",
                [15.0, 4.0, 3.0, 0.0, 0.0, 0.0, 22.0, 20.0, -1.0],
            ),
            row(
                wh1,
                "WH1",
                "SKU-2",
                [2.0, 0.0, 0.0, 1.0, 7.0, 0.0, 3.0, 1.0, 1.0],
            ),
            row(
                "2026-11-20T06:00:00Z",
                "WH2",
                "SKU-1",
                [0.0, 0.0, 0.0, 0.0, 0.0, 2.0, 2.0, 5.0, -5.0],
            ),
        ],
    );

    // Receipt lines available in the window with available_at ≥ received_at:
    //   WH1: r1 2.5 h, r2 4 h, r3 1 h (r4 is available after end(D), r5 before it was
    //   received, r6 has no available_at) → median 2.5, p90 = the ⌈0.9 × 3⌉ = 3rd = 4.
    //   WH2: r7 10-20 08:00 → 10-24 02:00 = 90 h (r8 became available before the window).
    let (cols, rows) = read_parquet(&dir.join("out/kpis/receiving_to_available.parquet"));
    assert_eq!(
        cols,
        ["warehouse_id", "receipt_lines", "hours_median", "hours_p90"]
    );
    assert_rows(
        "receiving_to_available",
        &rows,
        &[
            vec![s("WH1"), V::I(3), V::F(2.5), V::F(4.0)],
            vec![s("WH2"), V::I(1), V::F(90.0), V::F(90.0)],
        ],
    );

    // The page shows the section, the chart of held stock and the SKUs below zero.
    let page = std::fs::read_to_string(dir.join("out/index.html")).expect("page");
    assert!(page.contains("Can we promise what we hold?"));
    assert!(dir.join("out/charts/stock_on_hold.png").exists());
    let feeds = m["freshness"].as_array().expect("freshness");
    let state = |t: &str| {
        feeds
            .iter()
            .find(|f| f["table"] == t)
            .map(|f| f["state"].as_str().unwrap_or_default().to_string())
    };
    assert_eq!(state("inventory_snapshots").as_deref(), Some("fresh"));
}

/// A lake that never received the optional feed is complete: no warning, exit 0, an
/// empty position table and a page that says how to get one.
#[test]
fn a_lake_without_snapshots_is_not_incomplete() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    let fx = fixture("tiny");
    let out = opintel_ok(dir, &run_args("out", &[fx.to_str().expect("utf8")]));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("inventory_snapshots"), "{stderr}");
    let m = read_manifest(&dir.join("out"));
    let feed = m["freshness"]
        .as_array()
        .expect("freshness")
        .iter()
        .find(|f| f["table"] == "inventory_snapshots")
        .cloned()
        .expect("the optional feed is listed");
    assert_eq!(feed["state"], "not_sent");
    let (_, rows) = read_parquet(&dir.join("out/kpis/inventory_position.parquet"));
    assert!(rows.is_empty());
    let page = std::fs::read_to_string(dir.join("out/index.html")).expect("page");
    assert!(page.contains("send the optional inventory_snapshots feed"));
}
