//! What analysts rely on: read-only SQL (every kind of write or outside read refused),
//! query errors with their position, output formats, `opintel tables`, their own KPI
//! files (with a chart, and a broken one that fails alone), data checks, and the
//! notebooks run top to bottom on the demo output.

use crate::common::*;

use std::path::Path;

/// The tiny fixture ingested into `lake`, and a run with a user queries folder.
fn setup(tmp: &Path) {
    let q = tmp.join("my-queries");
    std::fs::create_dir_all(q.join("checks")).expect("mkdir");
    std::fs::write(
        q.join("units_by_warehouse.sql"),
        "-- title: Units shipped by warehouse\n\
         -- description: Σ qty_shipped up to the end of the as-of date.\n\
         -- grain: warehouse_id\n\
         -- columns:\n\
         --   warehouse_id: shipping warehouse\n\
         --   units: units shipped\n\
         -- chart: bar x=warehouse_id y=units\n\
         SELECT warehouse_id, sum(qty_shipped) AS units FROM shipments\n\
         WHERE shipped_at <= $window_end GROUP BY warehouse_id ORDER BY warehouse_id\n",
    )
    .expect("write");
    std::fs::write(
        q.join("broken_kpi.sql"),
        "-- title: Broken on purpose\nSELECT nonexistent_column FROM shipments\n",
    )
    .expect("write");
    std::fs::write(
        q.join("checks/no_ups_shipments.sql"),
        "-- title: Nothing ships with UPS\n-- description: A rule the fixture breaks.\n\
         SELECT event_id FROM shipments WHERE carrier = 'UPS' AND shipped_at <= $window_end ORDER BY event_id\n",
    )
    .expect("write");
    let fx = fixture("tiny");
    let out = opintel(
        tmp,
        &run_args(
            "out",
            &["--queries", "my-queries", fx.to_str().expect("utf8")],
        ),
    );
    // A broken user KPI fails alone: the run publishes with exit 3 (partial).
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn sql(tmp: &Path, args: &[&str]) -> std::process::Output {
    let mut all = vec!["sql", "--lake", "lake"];
    all.extend_from_slice(args);
    opintel(tmp, &all)
}

#[test]
fn analysts_sql_kpis_and_checks() {
    let tmp = tempfile::tempdir().expect("tmp");
    let tmp = tmp.path();
    setup(tmp);

    // The user's KPI landed with its rows: shipments in the fixture up to end(11-20):
    // WH1 s1 6 + s2 4 + s3 5 + s4 5 + s5 2 (its duplicate skipped; s7 is after end(D),
    // s8 rejected) = 22; WH2 s6 3.
    let (cols, rows) = read_parquet(&tmp.join("out/kpis/units_by_warehouse.parquet"));
    assert_eq!(cols, ["warehouse_id", "units"]);
    assert_eq!(
        rows,
        vec![vec![s("WH1"), V::F(22.0)], vec![s("WH2"), V::F(3.0)]]
    );
    let png = tmp.join("out/charts/kpi_units_by_warehouse.png");
    assert!(png.is_file(), "the -- chart: line draws a PNG");
    let html = std::fs::read_to_string(tmp.join("out/index.html")).expect("html");
    assert!(html.contains("Units shipped by warehouse"));
    assert!(
        html.contains("id=\"chart-kpi_units_by_warehouse\""),
        "chart embedded in the page"
    );
    // The broken KPI is reported in the manifest and the page; built-ins still publish.
    let manifest: serde_json::Value = read_manifest(&tmp.join("out"));
    let kpis = manifest["kpis"].as_array().expect("kpis");
    let broken = kpis
        .iter()
        .find(|k| k["name"] == "broken_kpi")
        .expect("broken_kpi entry");
    assert!(
        broken["error"]
            .as_str()
            .unwrap_or("")
            .contains("nonexistent_column")
    );
    assert!(html.contains("broken_kpi"));
    assert!(tmp.join("out/kpis/fill_rate.parquet").is_file());
    // UPS shipments up to end(D): s1, s2, s3 (s7 ships after it).
    let check = manifest["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .find(|c| c["name"] == "no_ups_shipments")
        .expect("user check ran");
    assert_eq!(check["violations"], 3);
    assert!(html.contains("Nothing ships with UPS"));

    // opintel check: exits 3 on violations and names them.
    let out = opintel(
        tmp,
        &[
            "check",
            "--lake",
            "lake",
            "--as-of",
            "2026-11-20",
            "--report",
            "out",
            "--queries",
            "my-queries",
        ],
    );
    assert_eq!(out.status.code(), Some(3));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("FAIL  no_ups_shipments"), "{text}");
    assert!(text.contains("ok    fill_rates_within_0_1"), "{text}");

    // Queries: CSV, JSON, Parquet; the KPI tables of a report as kpi.<name>.
    let out = sql(
        tmp,
        &["--format", "csv", "SELECT count(*) AS n FROM shipments"],
    );
    assert!(out.status.success());
    // s1–s7 accepted once each (s5's duplicate skipped, s8 rejected).
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "n\r\n7");
    let out = sql(
        tmp,
        &[
            "--format",
            "json",
            "--param",
            "as_of=2026-11-19",
            "SELECT count(*) AS n FROM shipments WHERE shipped_at <= $window_end",
        ],
    );
    // Up to end(11-19): s1, s3, s6.
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "[{\"n\":3}]");
    let out = sql(
        tmp,
        &[
            "--report",
            "out",
            "--format",
            "parquet",
            "--out",
            "units.parquet",
            "SELECT * FROM kpi.units_by_warehouse ORDER BY units",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (_, rows) = read_parquet(&tmp.join("units.parquet"));
    assert_eq!(rows[0], vec![s("WH2"), V::F(3.0)]);

    // Read-only: every statement that writes, creates, sets or reads outside is refused.
    let outside = tmp.join("outside.csv");
    std::fs::write(&outside, "a\n1\n").expect("write");
    let copy_to = tmp.join("copied.csv");
    let refused = [
        "CREATE TABLE t AS SELECT 1".to_string(),
        "CREATE VIEW v AS SELECT 1".to_string(),
        "DROP TABLE shipments".to_string(),
        "INSERT INTO shipments SELECT * FROM shipments".to_string(),
        "DELETE FROM shipments".to_string(),
        "UPDATE shipments SET carrier = 'x'".to_string(),
        format!("COPY (SELECT 1) TO '{}'", copy_to.display()),
        format!(
            "CREATE EXTERNAL TABLE x STORED AS CSV LOCATION '{}'",
            outside.display()
        ),
        "SET datafusion.execution.batch_size = 1".to_string(),
    ];
    for q in &refused {
        let out = sql(tmp, &[q.as_str()]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{q} must fail: {err}");
        assert!(err.contains("read-only"), "{q}: {err}");
    }
    assert!(!copy_to.exists(), "COPY wrote a file");
    // A file path as a table is not a table.
    let out = sql(tmp, &[&format!("SELECT * FROM '{}'", outside.display())]);
    assert!(!out.status.success());
    // The lake is untouched: still 7 shipments.
    let out = sql(
        tmp,
        &["--format", "csv", "SELECT count(*) AS n FROM shipments"],
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "n\r\n7");

    // A syntax error shows DataFusion's message with its position.
    let out = sql(tmp, &["SELECT *\nFRM shipments"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("Line: 2"), "{err}");

    // opintel tables: contract columns with their meaning, views, KPI tables.
    let out = opintel_ok(tmp, &["tables", "--lake", "lake", "--report", "out"]);
    let text = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "shipments",
        "qty_shipped",
        "units shipped",
        "order_lines_current",
        "order_line_fulfilment (view",
        "order_totals (view",
        "exception_state (view",
        "latest_at",
        "return_state (view",
        "dispositioned_at",
        "exception_state_kept",
        "return_state_kept",
        "_rejects_shipments",
        "kpi.fill_rate",
        "kpi.units_by_warehouse",
    ] {
        assert!(text.contains(needle), "tables lacks {needle}:\n{text}");
    }
}

#[test]
fn notebooks_run_top_to_bottom_on_the_demo_output() {
    let tmp = tempfile::tempdir().expect("tmp");
    let tmp = tmp.path();
    opintel_ok(tmp, &["-q", "demo", "--out", "report", "--data", "data"]);
    let runner = root().join("tests/notebooks/run_notebooks.py");
    let runner = runner.to_string_lossy();
    python3(
        tmp,
        &[runner.as_ref(), "--lake", "data/lake", "--report", "report"],
    );
}

/// DataFusion's own environment variables reach the engine: a setting opintel chooses
/// reads back as the variable's value, and a value the engine cannot take stops the
/// command with the variable's name and value.
#[test]
fn datafusion_environment_variables_override_engine_settings() {
    let tmp = tempfile::tempdir().expect("tmp");
    let tmp = tmp.path();
    let fx = fixture("tiny");
    opintel_ok(
        tmp,
        &["ingest", "--lake", "lake", fx.to_str().expect("utf8")],
    );
    let q = "SELECT value FROM information_schema.df_settings \
             WHERE name = 'datafusion.execution.batch_size'";
    let args = ["sql", "--lake", "lake", "--format", "csv", q];
    let var = "DATAFUSION_EXECUTION_BATCH_SIZE";
    let out = opintel_env_ok(tmp, &args, &[(var, "1234".into())]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.lines().collect::<Vec<_>>(), ["value", "1234"]);
    let out = opintel_env(tmp, &args, &[(var, "many".into())]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains(var) && err.contains("\"many\""), "{err}");
}
