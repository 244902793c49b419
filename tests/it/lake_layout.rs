//! How ingest lays rows out in the lake: one file per UTC date of the time column,
//! row groups of at most 256 Ki rows, every row kept, when one export's rows are mostly
//! on one date with a tail on others (the rows wait per date and reach the Parquet
//! writer one whole row group at a time).

use crate::common::*;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use datafusion::parquet::file::reader::{FileReader, SerializedFileReader};

const ROW_GROUP: usize = 256 * 1024;

/// (file, row counts of its row groups) for every Parquet file under `dir`.
fn row_groups(dir: &Path) -> Vec<(String, Vec<usize>)> {
    let mut out = Vec::new();
    for part in std::fs::read_dir(dir).expect("table dir").flatten() {
        for f in std::fs::read_dir(part.path()).expect("partition").flatten() {
            let p = f.path();
            if p.extension().is_none_or(|x| x != "parquet") {
                continue;
            }
            let reader =
                SerializedFileReader::new(std::fs::File::open(&p).expect("open")).expect("parquet");
            let groups = reader
                .metadata()
                .row_groups()
                .iter()
                .map(|g| g.num_rows() as usize)
                .collect();
            let part = part.file_name().to_string_lossy().into_owned();
            out.push((part, groups));
        }
    }
    out.sort();
    out
}

#[test]
fn rows_are_split_by_date_into_full_row_groups() {
    let tmp = tempfile::tempdir().expect("tmp");
    let inbox = tmp.path().join("in");
    std::fs::create_dir_all(&inbox).expect("mkdir");
    // 300,000 lines updated on 2026-11-10, and every 100th line also has a twin
    // order updated on 11-09 or 11-11 (alternating): 3,000 lines spread over two
    // other dates, interleaved with the big one.
    let big = 300_000;
    let mut csv = String::from(
        "order_id,line_id,sku,channel,warehouse_id,ordered_at,promised_ship_at,qty_ordered,cancelled_qty,cancel_reason,updated_at\n",
    );
    let mut expected: BTreeMap<&str, usize> = BTreeMap::new();
    for i in 0..big {
        let _ = writeln!(
            csv,
            "O{i},1,SKU-{},web,WH1,2026-11-09T08:00:00Z,2026-11-12T08:00:00Z,2,0,,2026-11-10T{:02}:00:00Z",
            i % 97,
            i % 24
        );
        *expected.entry("event_date=2026-11-10").or_default() += 1;
        if i % 100 == 0 {
            let (day, date) = if (i / 100) % 2 == 0 {
                ("09", "event_date=2026-11-09")
            } else {
                ("11", "event_date=2026-11-11")
            };
            let _ = writeln!(
                csv,
                "T{i},1,SKU-1,web,WH1,2026-11-09T08:00:00Z,2026-11-12T08:00:00Z,1,0,,2026-11-{day}T12:00:00Z"
            );
            *expected.entry(date).or_default() += 1;
        }
    }
    std::fs::write(inbox.join("order_lines-2026-11-10.csv"), csv).expect("write");
    opintel_ok(tmp.path(), &["ingest", "--lake", "lake", "in"]);

    let layout = row_groups(&tmp.path().join("lake/order_lines"));
    let per_date: BTreeMap<&str, usize> = layout
        .iter()
        .map(|(d, g)| (d.as_str(), g.iter().sum()))
        .collect();
    assert_eq!(per_date, expected, "rows per date: {layout:?}");
    // One file per date; the big date is one full row group and the rest.
    assert_eq!(layout.len(), 3, "{layout:?}");
    let big_file = layout
        .iter()
        .find(|(d, _)| d == "event_date=2026-11-10")
        .expect("big date");
    assert_eq!(big_file.1, vec![ROW_GROUP, big - ROW_GROUP], "{layout:?}");
    for (_, groups) in &layout {
        assert!(
            groups.iter().all(|&n| n > 0 && n <= ROW_GROUP),
            "{layout:?}"
        );
    }
    // Every line is there once, with its own key.
    let rows = read_parquet_dir(&tmp.path().join("lake/order_lines"));
    let mut ids: Vec<String> = rows
        .iter()
        .map(|r| match &r[0] {
            V::S(s) => s.clone(),
            other => panic!("order_id {other:?}"),
        })
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), big + big / 100);
}
