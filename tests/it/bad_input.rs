//! Every kind of bad input from the nightly-job issue, in one inbox next to a good
//! file: each gets a precise message naming the file (and the line where there is
//! one), is skipped or quarantined, and the good file's rows all land.

use crate::common::*;

use std::io::Write;
use std::path::Path;

const HEADER: &str = "event_id,shipment_id,order_id,line_id,sku,warehouse_id,location_id,qty_shipped,shipped_at,carrier";

fn row(id: &str, qty: &str, at: &str) -> String {
    format!("{id},SH,O-{id},1,SKU-1,WH1,L1,{qty},{at},UPS\n")
}

fn write(dir: &Path, name: &str, bytes: &[u8]) {
    std::fs::write(dir.join(name), bytes).expect("write");
}

#[test]
fn each_bad_input_is_named_and_the_good_rows_land() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    let inbox = dir.join("inbox");
    std::fs::create_dir_all(&inbox).expect("dir");
    let ok_at = "2026-11-19T12:00:00Z";
    // The good file: 50 rows that must all be in the lake.
    let mut good = format!("{HEADER}\n");
    for i in 0..50 {
        good.push_str(&row(&format!("g{i}"), "1", ok_at));
    }
    write(&inbox, "shipments-good.csv", good.as_bytes());
    write(&inbox, "shipments-empty.csv", b"");
    write(
        &inbox,
        "shipments-header-only.csv",
        format!("{HEADER}\n").as_bytes(),
    );
    write(
        &inbox,
        "parcels.csv",
        format!("{HEADER}\n{}", row("u1", "1", ok_at)).as_bytes(),
    );
    write(
        &inbox,
        "shipments-missing.csv",
        b"event_id,shipment_id,order_id\na,b,c\n",
    );
    write(
        &inbox,
        "shipments-dupcol.csv",
        format!("{HEADER},sku\n").as_bytes(),
    );
    write(
        &inbox,
        "shipments-semicolon.csv",
        HEADER.replace(',', ";").as_bytes(),
    );
    let mut mixed = format!("{HEADER}\n");
    mixed.push_str(&row("m1", "1", ok_at));
    mixed.push_str("m2,SH,O,1,SKU-1,WH1,L1,1\n"); // line 3: too few fields
    mixed.push_str("m3,SH,O,1,SKU-\u{e9},WH1,L1,1,2026-11-19T12:00:00Z,UPS\n"); // valid UTF-8 é: fine
    mixed.push_str(&row("m4", "1", "2126-01-01T00:00:00Z")); // line 5: far future
    mixed.push_str(&row("m5", "1", "1999-12-31T23:59:59Z")); // line 6: before 2000
    mixed.push_str(&row("m6", "-2", ok_at)); // line 7: negative
    mixed.push_str(&row("m7", "NaN", ok_at)); // line 8: NaN
    let mut bytes = mixed.into_bytes();
    bytes.extend_from_slice(b"m8,SH,O,1,SKU-\xff\xfe,WH1,L1,1,2026-11-19T12:00:00Z,UPS\n"); // line 9: not UTF-8
    let big = "x".repeat(10 << 20);
    bytes.extend_from_slice(format!("m9,SH,O,1,SKU-1,WH1,L1,1,{ok_at},{big}\n").as_bytes()); // line 10: 10 MB field
    bytes.extend_from_slice(row("m10", "2", ok_at).as_bytes()); // line 11: fine
    // Line 12: each field is invalid UTF-8 although the record's bytes without the
    // delimiter are valid (D0 89 is "Љ"); found by the fuzzer.
    bytes.extend_from_slice(b"m11,SH,O,1,SKU-\xd0,\x89,L1,1,2026-11-19T12:00:00Z,UPS\n");
    write(&inbox, "shipments-mixed.csv", &bytes);
    // Binary garbage under a CSV name, and under a Parquet name.
    let garbage: Vec<u8> = (0..200_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    write(&inbox, "shipments-garbage.csv", &garbage);
    write(
        &inbox,
        "shipments-corrupt.parquet",
        &[b"PAR1".as_slice(), &garbage[..5000], b"PAR1"].concat(),
    );
    // Truncated gzip and zstd.
    let mut many = format!("{HEADER}\n");
    for i in 0..30_000 {
        many.push_str(&row(&format!("t{i}"), "1", ok_at));
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(many.as_bytes()).expect("gz");
    let gz = gz.finish().expect("gz");
    write(&inbox, "shipments-cut.csv.gz", &gz[..gz.len() * 2 / 3]);
    let mut many_z = format!("{HEADER}\n");
    for i in 0..30_000 {
        many_z.push_str(&row(&format!("z{i}"), "1", ok_at));
    }
    let zst = zstd::encode_all(many_z.as_bytes(), 1).expect("zst");
    write(&inbox, "shipments-cut.csv.zst", &zst[..zst.len() * 2 / 3]);
    // A file that cannot be read (a link to nowhere).
    #[cfg(unix)]
    std::os::unix::fs::symlink(
        dir.join("nowhere.csv"),
        inbox.join("shipments-unreadable.csv"),
    )
    .expect("symlink");

    let out = opintel(
        dir,
        &["ingest", "--lake", "lake", "--report", "r.json", "inbox"],
    );
    assert_eq!(
        out.status.code(),
        Some(3),
        "some files failed: partial-success exit"
    );
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("r.json")).expect("r"))
            .expect("json");
    let f = |name: &str| {
        r["files"]
            .as_array()
            .and_then(|a| {
                a.iter()
                    .find(|f| f["path"].as_str().is_some_and(|p| p.ends_with(name)))
            })
            .cloned()
            .unwrap_or_else(|| panic!("{name} missing from the report"))
    };
    let status = |name: &str| f(name)["status"].as_str().unwrap_or("").to_string();
    let message = |name: &str| f(name)["message"].as_str().unwrap_or("").to_string();
    assert_eq!(f("shipments-good.csv")["accepted"], 50);
    assert_eq!(status("shipments-empty.csv"), "empty");
    assert_eq!(status("shipments-header-only.csv"), "empty");
    assert!(message("shipments-header-only.csv").contains("header but no rows"));
    assert_eq!(status("parcels.csv"), "failed");
    assert!(message("parcels.csv").contains("cannot tell which table"));
    assert_eq!(status("shipments-missing.csv"), "failed");
    assert!(
        message("shipments-missing.csv").contains(
            "missing required columns line_id, sku, warehouse_id, qty_shipped, shipped_at"
        ),
        "{}",
        message("shipments-missing.csv")
    );
    assert!(message("shipments-missing.csv").starts_with("line 1:"));
    assert_eq!(status("shipments-dupcol.csv"), "failed");
    assert!(message("shipments-dupcol.csv").contains("names column \"sku\" twice"));
    assert_eq!(status("shipments-semicolon.csv"), "failed");
    assert!(message("shipments-semicolon.csv").contains("is the delimiter ';'"));
    assert_eq!(status("shipments-garbage.csv"), "failed");
    assert!(
        message("shipments-garbage.csv").contains("UTF-8")
            || message("shipments-garbage.csv").contains("header")
    );
    assert_eq!(status("shipments-corrupt.parquet"), "failed");
    assert!(message("shipments-corrupt.parquet").contains("not a readable Parquet file"));
    for cut in ["shipments-cut.csv.gz", "shipments-cut.csv.zst"] {
        assert_eq!(status(cut), "partial", "{cut}");
        assert!(
            message(cut).contains("rows before it were kept"),
            "{}",
            message(cut)
        );
        let accepted = f(cut)["accepted"].as_u64().unwrap_or(0);
        assert!(accepted > 1000 && accepted < 30_000, "{cut}: {accepted}");
    }
    #[cfg(unix)]
    {
        assert_eq!(status("shipments-unreadable.csv"), "failed");
        assert!(
            message("shipments-unreadable.csv").contains("cannot open"),
            "{}",
            message("shipments-unreadable.csv")
        );
    }
    // The mixed file: every bad row quarantined with its line and reason, good rows kept.
    let mixed = f("shipments-mixed.csv");
    assert_eq!(
        (
            mixed["rows_read"].as_u64(),
            mixed["accepted"].as_u64(),
            mixed["rejected"].as_u64()
        ),
        (Some(11), Some(3), Some(8))
    );
    let rejects = read_parquet_dir(&dir.join("lake/_rejects/shipments"));
    let mut by_line: Vec<(i64, String)> = rejects
        .iter()
        .filter(|r| matches!(&r[0], V::S(p) if p.ends_with("shipments-mixed.csv")))
        .map(|r| match (&r[1], &r[3]) {
            (V::I(l), V::S(m)) => (*l, m.clone()),
            other => panic!("{other:?}"),
        })
        .collect();
    by_line.sort();
    let lines: Vec<i64> = by_line.iter().map(|x| x.0).collect();
    assert_eq!(lines, vec![3, 5, 6, 7, 8, 9, 10, 12]);
    assert!(by_line[0].1.contains("8 fields but the header has 10"));
    assert!(by_line[1].1.contains("is on or after 2100-01-01"));
    assert!(by_line[2].1.contains("is before 2000-01-01"));
    assert!(by_line[3].1.contains("qty_shipped: \"-2\" must be > 0"));
    assert!(
        by_line[4]
            .1
            .contains("qty_shipped: \"NaN\" is not a finite number")
    );
    assert!(by_line[5].1.contains("not valid UTF-8"));
    assert!(by_line[6].1.contains("bytes long"));
    assert!(by_line[7].1.contains("not valid UTF-8"), "{}", by_line[7].1);
    // The lake has exactly the good rows: 50 + 3 + the rows before each cut.
    let cut_rows: u64 = ["shipments-cut.csv.gz", "shipments-cut.csv.zst"]
        .iter()
        .map(|c| f(c)["accepted"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(
        read_parquet_dir(&dir.join("lake/shipments")).len() as u64,
        53 + cut_rows
    );
    // Every message names its file in the summary.
    let stdout = String::from_utf8_lossy(&out.stdout);
    for name in [
        "parcels.csv",
        "shipments-missing.csv",
        "shipments-corrupt.parquet",
        "shipments-cut.csv.gz",
    ] {
        assert!(stdout.contains(name), "summary names {name}:\n{stdout}");
    }
    // --strict turns rejects into a failing exit even when every file was read.
    let strict = dir.join("strict");
    std::fs::create_dir_all(&strict).expect("dir");
    std::fs::write(
        strict.join("shipments.csv"),
        format!(
            "{HEADER}\n{}{}",
            row("s1", "1", ok_at),
            row("s2", "x", ok_at)
        ),
    )
    .expect("w");
    assert_eq!(
        opintel(dir, &["ingest", "--lake", "lake2", "strict"])
            .status
            .code(),
        Some(0)
    );
    std::fs::remove_dir_all(dir.join("lake2")).expect("rm");
    assert_eq!(
        opintel(dir, &["ingest", "--lake", "lake2", "--strict", "strict"])
            .status
            .code(),
        Some(3)
    );
}
