//! The order-line state every ingest keeps (`_state/order_lines`): after many nightly
//! ingests with late versions, late shipments (one moves its line into an earlier
//! month), shipments for lines nobody ordered, a re-sent file and repeated rows,
//!
//! 1. the state the ingests kept equals the one `opintel lake rebuild-state` computes
//!    from the event tables, row for row;
//! 2. at several as-of dates, old ones included, the views and KPIs read through the
//!    state equal those computed from the raw tables alone (the same lake without its
//!    state folder, which opintel then reads the way it did before the state existed).

use std::fmt::Write as _;
use std::path::Path;

use chrono::{Duration, NaiveDate};

use crate::common::*;

const LINES_HEADER: &str = "order_id,line_id,sku,channel,warehouse_id,ordered_at,promised_ship_at,qty_ordered,cancelled_qty,cancel_reason,updated_at\n";
const SHIPS_HEADER: &str = "event_id,shipment_id,order_id,line_id,sku,warehouse_id,location_id,qty_shipped,shipped_at,carrier\n";
const NIGHTS: i64 = 15;

fn day(n: i64) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 10, 25).expect("date") + Duration::days(n)
}

fn at(n: i64, hour: i64) -> String {
    format!("{}T{:02}:00:00Z", day(n), hour)
}

/// Night `n`'s exports: its orders (six, two lines each), the shipments of the
/// previous night's orders (odd orders short), a customer cancellation of an order of
/// two nights before, and the planted surprises of some nights.
fn night(n: i64) -> Vec<(String, String)> {
    let mut lines = String::from(LINES_HEADER);
    let mut ships = String::from(SHIPS_HEADER);
    for j in 0..6 {
        for l in 1..=2 {
            let sku = format!("SKU-{}", (j + l) % 4);
            let wh = if j % 2 == 0 { "WH1" } else { "WH2" };
            let channel = ["web", "marketplace", "b2b"][(j % 3) as usize];
            let qty = 2 + (j + l) % 3;
            let _ = writeln!(
                lines,
                "O{n}-{j},{l},{sku},{channel},{wh},{},{},{qty},,,{}",
                at(n, 8 + j),
                at(n + 1, 12),
                at(n, 8 + j)
            );
            if n > 0 {
                let p = n - 1;
                let pqty = 2 + (j + l) % 3;
                let shipped = if j % 2 == 1 { 1 } else { pqty };
                let _ = writeln!(
                    ships,
                    "e{n}-{j}-{l},SH{p}-{j}-{},O{p}-{j},{l},SKU-{},{},L1,{shipped},{},UPS",
                    l % 2,
                    (j + l) % 4,
                    if j % 2 == 0 { "WH1" } else { "WH2" },
                    at(n, 6 + j + l)
                );
            }
        }
        if n >= 2 && j == 3 {
            let p = n - 2;
            let _ = writeln!(
                lines,
                "O{p}-{j},1,SKU-0,b2b,WH2,{},{},2,1,customer,{}",
                at(p, 8 + j),
                at(p + 1, 12),
                at(n, 9)
            );
        }
    }
    let mut files = vec![
        (format!("order_lines-{n}.csv"), lines),
        (format!("shipments-{n}.csv"), ships),
    ];
    match n {
        // Late: a version of an order of night 1 dated night 2 (it wins: newer than its
        // first), one dated before its first (it loses), a late shipment of night 1's
        // order dated night 3, a shipment for a line nobody ordered dated night 0.
        9 => {
            files.push((
                "order_lines-late.csv".into(),
                format!(
                    "{LINES_HEADER}O1-0,2,SKU-2,web,WH1,{},{},5,2,stockout,{}\n\
                     O1-2,1,SKU-3,b2b,WH1,{},{},9,,,{}\n",
                    at(1, 8),
                    at(2, 12),
                    at(2, 7),
                    at(1, 10),
                    at(2, 12),
                    at(1, 5)
                ),
            ));
            files.push((
                "shipments-late.csv".into(),
                format!(
                    "{SHIPS_HEADER}late1,SHL,O1-1,1,SKU-2,WH2,L1,1,{},UPS\n\
                     late2,SHX,X-1,1,SKU-9,WH1,L1,3,{},DHL\n",
                    at(3, 10),
                    at(0, 10)
                ),
            ));
        }
        // Night 8's shipments sent again under another name (all duplicates), and a
        // shipment of night 12's order dated in October: its line's first date moves
        // into the month before.
        10 => {
            let again = night(8)
                .into_iter()
                .find(|(f, _)| f.starts_with("shipments"))
                .map(|(_, t)| t)
                .unwrap_or_default();
            files.push(("shipments-resent.csv".into(), again));
        }
        12 => {
            files.push((
                "shipments-early.csv".into(),
                format!(
                    "{SHIPS_HEADER}early1,SHE,O12-0,1,SKU-1,WH1,L1,1,{},UPS\n\
                     early1,SHE,O12-0,1,SKU-1,WH1,L1,1,{},UPS\n",
                    at(5, 10),
                    at(5, 10)
                ),
            ));
        }
        _ => {}
    }
    files
}

fn sql(dir: &Path, lake: &str, as_of: &str, query: &[&str]) -> String {
    let mut args = vec!["sql", "--lake", lake, "--as-of", as_of, "--format", "csv"];
    args.extend_from_slice(query);
    String::from_utf8(opintel_ok(dir, &args).stdout)
        .expect("utf8")
        .replace("\r\n", "\n")
}

/// The header, then the rows in text order (a KPI's own order may leave ties).
fn sorted(csv: &str) -> Vec<String> {
    let mut lines: Vec<String> = csv.lines().map(str::to_string).collect();
    if lines.len() > 1 {
        lines[1..].sort();
    }
    lines
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read dir").flatten() {
        let target = to.join(e.file_name());
        if e.file_type().expect("type").is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).expect("copy");
        }
    }
}

#[test]
fn the_state_kept_by_nightly_ingests_equals_a_rebuild_and_the_raw_tables() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    for n in 0..NIGHTS {
        let inbox = dir.join(format!("night-{n}"));
        std::fs::create_dir_all(&inbox).expect("mkdir");
        for (name, text) in night(n) {
            std::fs::write(inbox.join(name), text).expect("write");
        }
        let inbox = inbox.to_string_lossy().into_owned();
        opintel_ok(dir, &["ingest", "--lake", "lake", &inbox]);
    }
    // The planted rows landed: the re-sent file and the repeated row added nothing.
    let count = |lake: &str, q: &str| sql(dir, lake, "2026-11-30", &[q]);
    assert_eq!(
        count("lake", "SELECT count(*) AS n FROM shipments"),
        format!("n\n{}\n", 14 * 12 + 2 + 1)
    );

    // 1. Kept == rebuilt, every column of every line.
    copy_dir(&dir.join("lake"), &dir.join("rebuilt"));
    let out = opintel_ok(dir, &["lake", "rebuild-state", "--lake", "rebuilt"]);
    let lines = 15 * 12 + 1;
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&format!("{lines} lines")),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let state = "SELECT * FROM order_line_state ORDER BY order_id, line_id";
    let kept = count("lake", state);
    assert_eq!(kept.lines().count(), lines + 1, "{kept}");
    assert_eq!(kept, count("rebuilt", state));
    // A whole build in many passes (groups of order ids) computes the same rows.
    copy_dir(&dir.join("lake"), &dir.join("passes"));
    opintel_env_ok(
        dir,
        &["lake", "rebuild-state", "--lake", "passes"],
        &[("OPINTEL_STATE_PASS_ROWS", "40".to_string())],
    );
    assert_eq!(kept, count("passes", state));
    // The line whose shipment predates it moved into October's partition.
    let moved = count(
        "lake",
        "SELECT CAST(first_date AS VARCHAR) AS f, CAST(event_date AS VARCHAR) AS p \
         FROM order_line_state WHERE order_id = 'O12-0' AND line_id = '1'",
    );
    assert_eq!(moved, "f,p\n2026-10-30,2026-10-01\n");

    // 2. Through the state == from the raw tables, at old and new as-of dates.
    copy_dir(&dir.join("lake"), &dir.join("raw"));
    std::fs::remove_dir_all(dir.join("raw/_state")).expect("drop the state");
    let queries: Vec<String> = [
        "SELECT * FROM order_line_fulfilment ORDER BY order_id, line_id",
        "SELECT * FROM order_lines_current ORDER BY order_id, line_id",
    ]
    .iter()
    .map(|q| (*q).to_string())
    .collect();
    let kpis = ["fill_rate", "backorders", "order_flow", "order_cycle_time"];
    for as_of in [
        "2026-10-25",
        "2026-10-27",
        "2026-10-31",
        "2026-11-03",
        "2026-11-08",
        "2026-11-20",
    ] {
        for q in &queries {
            let through_state = sql(dir, "lake", as_of, &[q]);
            assert!(through_state.lines().count() > 1 || as_of == "2026-10-25");
            assert_eq!(
                through_state,
                sql(dir, "raw", as_of, &[q]),
                "{q} as of {as_of}"
            );
        }
        for k in kpis {
            let file = root().join("queries").join(format!("{k}.sql"));
            let file = file.to_string_lossy().into_owned();
            let args = ["--file", file.as_str()];
            let through_state = sorted(&sql(dir, "lake", as_of, &args));
            assert_eq!(
                through_state,
                sorted(&sql(dir, "raw", as_of, &args)),
                "{k} as of {as_of}"
            );
        }
    }
}
