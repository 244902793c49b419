//! Exports in their own shapes, mapped without a script (`[sources.derive]`): a
//! Shopify-style orders export and a WMS shipment export with no event id (fill rate
//! computed by hand), and the TPC-H `lineitem` table under its own column names
//! (fill rate computed independently by DuckDB from the same file).

use crate::common::*;

use std::process::Command;

/// The expected rows of `fill_rate` for the byod fixture as of 2026-11-20, by hand
/// (times in UTC; the shop's are at −05:00, the WMS's naive New York times):
/// - due 11-18 (order #1001, promised 11-16 14:12Z + 2 days): MUG-01 2 units shipped
///   11-17 15:00Z (on time), CAP-02 1 unit shipped 11-18 16:30Z (after 14:12Z: late).
///   2 lines, 1 order, 3 units due, 3 filled; line fill 1, order fill 1, OTIF 1/2.
/// - due 11-19 (#1002, promised 11-19 19:40Z): MUG-01 3 shipped 11-18 21:00Z (on
///   time; the re-sent WMS row is the same record, a duplicate), SHELL-9 1 unit not
///   shipped. 2 lines, 1 order, 4 due, 3 filled; line fill 1/2, order fill 0, OTIF 1/2.
/// - #1003 was cancelled by the customer (no demand left); #1004 is due 11-22.
#[test]
fn a_shop_export_and_a_wms_export_without_ids_map_without_a_script() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    for f in ["opintel.toml", "orders_export.csv", "wms_shipments.csv"] {
        std::fs::copy(fixture("byod").join(f), dir.join(f)).expect("copy");
    }
    std::fs::create_dir_all(dir.join("inbox")).expect("dir");
    for f in ["orders_export.csv", "wms_shipments.csv"] {
        std::fs::rename(dir.join(f), dir.join("inbox").join(f)).expect("mv");
    }
    let out = opintel_ok(
        dir,
        &["run", "--as-of", "2026-11-20", "--out", "out", "inbox"],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let m = read_manifest(&dir.join("out"));
    let files = m["ingest"]["files"].as_array().expect("files");
    let file = |name: &str| {
        files
            .iter()
            .find(|f| f["path"].as_str().is_some_and(|p| p.ends_with(name)))
            .unwrap_or_else(|| panic!("{name} in the manifest: {stdout}"))
    };
    let orders = file("orders_export.csv");
    assert_eq!(orders["status"], "ingested", "{orders}");
    assert_eq!(
        (orders["rows_read"].as_u64(), orders["accepted"].as_u64()),
        (Some(6), Some(6)),
        "{orders}"
    );
    let ships = file("wms_shipments.csv");
    assert_eq!(
        (
            ships["rows_read"].as_u64(),
            ships["accepted"].as_u64(),
            ships["duplicates"].as_u64()
        ),
        (Some(4), Some(3), Some(1)),
        "the re-sent WMS row hashes like the first: {ships}"
    );
    let (cols, rows) = read_parquet(&dir.join("out/kpis/fill_rate.parquet"));
    assert_eq!(cols, FILL_RATE_COLUMNS);
    let expected = vec![
        vec![
            d("2026-11-18"),
            s("web"),
            s("DC-EAST"),
            V::I(2),
            V::I(1),
            V::F(3.0),
            V::F(3.0),
            V::F(1.0),
            V::F(1.0),
            V::F(1.0),
            V::F(0.5),
        ],
        vec![
            d("2026-11-19"),
            s("web"),
            s("DC-EAST"),
            V::I(2),
            V::I(1),
            V::F(4.0),
            V::F(3.0),
            V::F(0.75),
            V::F(0.5),
            V::F(0.0),
            V::F(0.5),
        ],
    ];
    assert_rows("byod fill_rate", &rows, &expected);
    // The derived values landed as the contract's types: the cancellation as a
    // customer cancellation of the whole line, its version time the cancellation's.
    let o = opintel_ok(
        dir,
        &[
            "sql",
            "--format",
            "csv",
            "SELECT order_id, line_id, cancelled_qty = 1 AS whole_line, cancel_reason, updated_at = TIMESTAMP '2026-11-18T15:00:00Z' AS at_cancel FROM order_lines WHERE order_id = '#1003'",
        ],
    );
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("#1003,SHELL-9,true,customer,true"), "{text}");
}

/// A derived field whose expression cannot be planned names the mapping, the field
/// and the expression; a required field that is neither mapped nor derived lists
/// every candidate column.
#[test]
fn a_bad_derive_expression_is_named() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    std::fs::create_dir_all(dir.join("inbox")).expect("dir");
    std::fs::copy(
        fixture("byod/wms_shipments.csv"),
        dir.join("inbox/wms_shipments.csv"),
    )
    .expect("copy");
    let config = std::fs::read_to_string(fixture("byod/opintel.toml"))
        .expect("config")
        .replace(
            "event_id = \"row_hash()\"",
            "event_id = \"concat('E', no_such_column)\"",
        );
    std::fs::write(dir.join("opintel.toml"), config).expect("write");
    let out = opintel(dir, &["ingest", "inbox"]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "a file that cannot be read is a partial ingest"
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("wms-shipments")
            && text.contains("event_id")
            && text.contains("no_such_column"),
        "{text}"
    );
}

/// TPC-H `lineitem` under its own column names, mapped onto order lines and (a copy
/// named for the second mapping) shipments; the fill rate equals DuckDB's, computed
/// from the same file by the contract's definition.
#[test]
fn tpch_lineitem_maps_onto_order_lines_and_shipments() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    let made = Command::new("tpchgen-cli")
        .args([
            "csv",
            "-s",
            "0.01",
            "--tables",
            "lineitem",
            "--output-dir",
            "tpch",
        ])
        .current_dir(dir)
        .output()
        .expect("tpchgen-cli (pip install -r tests/requirements.txt)");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    std::fs::create_dir_all(dir.join("inbox")).expect("dir");
    std::fs::copy(
        dir.join("tpch/lineitem.csv"),
        dir.join("inbox/lineitem.csv"),
    )
    .expect("copy");
    std::fs::copy(
        dir.join("tpch/lineitem.csv"),
        dir.join("inbox/shipped_lineitem.csv"),
    )
    .expect("copy");
    std::fs::write(
        dir.join("opintel.toml"),
        r#"
[ingest]
min_timestamp = "1990-01-01"

[[sources]]
name = "tpch-order-lines"
pattern = "lineitem*.csv"
table = "order_lines"
[sources.columns]
l_orderkey = "order_id"
l_linenumber = "line_id"
l_partkey = "sku"
l_quantity = "qty_ordered"
l_commitdate = "promised_ship_at"
l_shipmode = "channel"
[sources.derive]
warehouse_id = "'DC-1'"
ordered_at = "promised_ship_at - INTERVAL '30 days'"
updated_at = "promised_ship_at"

[[sources]]
name = "tpch-shipments"
pattern = "shipped_lineitem*.csv"
table = "shipments"
[sources.columns]
l_orderkey = "order_id"
l_linenumber = "line_id"
l_partkey = "sku"
l_quantity = "qty_shipped"
l_shipdate = "shipped_at"
[sources.derive]
event_id = "concat('L', l_orderkey, '-', l_linenumber)"
shipment_id = "concat('S', l_orderkey)"
warehouse_id = "'DC-1'"
"#,
    )
    .expect("config");
    opintel_ok(
        dir,
        &[
            "run",
            "--as-of",
            "1995-06-30",
            "--out",
            "out",
            "--kpis",
            "fill_rate",
            "--no-report",
            "inbox",
        ],
    );
    let check = r#"
import sys, duckdb, pyarrow.parquet as pq
lineitem, ours = sys.argv[1], sys.argv[2]
con = duckdb.connect()
want = con.sql(f"""
WITH l AS (SELECT * FROM read_csv('{lineitem}', header = true)),
due AS (
  -- due in the 28 days ending 1995-06-30; shipped by the end of that day; on time
  -- when shipped (midnight of l_shipdate) by the promise (midnight of l_commitdate)
  SELECT l_commitdate AS due_date, l_shipmode AS channel, l_orderkey AS order_id,
         CAST(l_quantity AS DOUBLE) AS demand,
         CASE WHEN l_shipdate <= DATE '1995-06-30' THEN CAST(l_quantity AS DOUBLE) ELSE 0 END AS shipped,
         CASE WHEN l_shipdate <= l_commitdate THEN CAST(l_quantity AS DOUBLE) ELSE 0 END AS on_time
  FROM l WHERE l_commitdate BETWEEN DATE '1995-06-03' AND DATE '1995-06-30'),
per_order AS (
  SELECT due_date, channel, order_id, bool_and(shipped >= demand) AS complete
  FROM due GROUP BY ALL)
SELECT d.due_date, d.channel, count(*) AS lines, count(DISTINCT d.order_id) AS orders,
       sum(demand) AS units_demanded, sum(least(shipped, demand)) AS units_filled,
       sum(least(shipped, demand)) / sum(demand) AS unit_fill_rate,
       avg(CASE WHEN shipped >= demand THEN 1.0 ELSE 0.0 END) AS line_fill_rate,
       (SELECT avg(CASE WHEN complete THEN 1.0 ELSE 0.0 END) FROM per_order p
        WHERE p.due_date = d.due_date AND p.channel = d.channel) AS order_fill_rate,
       avg(CASE WHEN on_time >= demand THEN 1.0 ELSE 0.0 END) AS otif_rate
FROM due d GROUP BY d.due_date, d.channel ORDER BY 1, 2""").fetchall()
got = pq.read_table(ours).to_pylist()
got = sorted(got, key=lambda r: (r["due_date"], r["channel"]))
assert len(got) == len(want) > 20, (len(got), len(want))
for g, w in zip(got, want):
    assert g["due_date"] == w[0] and g["channel"] == w[1] and g["warehouse_id"] == "DC-1", (g, w)
    assert (g["lines"], g["orders"]) == (w[2], w[3]), (g, w)
    for k, v in zip(["units_demanded", "units_filled", "unit_fill_rate", "line_fill_rate", "order_fill_rate", "otif_rate"], w[4:]):
        assert abs(g[k] - float(v)) <= 1e-9 * max(1.0, abs(float(v))), (k, g, w)
print(len(got), "rows match")
"#;
    let lineitem = dir.join("tpch/lineitem.csv");
    let ours = dir.join("out/kpis/fill_rate.parquet");
    python3(
        dir,
        &[
            std::ffi::OsStr::new("-c"),
            std::ffi::OsStr::new(check),
            lineitem.as_os_str(),
            ours.as_os_str(),
        ],
    );
}
