//! The executive report, as a reader and a browser see it: tiles equal to the KPI
//! tables, one self-contained file, hostile values shown as text, real charts, and a
//! clean load in headless Chromium (console, network, phone width, print).

use crate::common::*;

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

use scraper::{Html, Selector};

fn sel(s: &str) -> Selector {
    Selector::parse(s).expect("selector")
}

/// Generate a small operation with two windows of history and run it.
fn generated_report() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    opintel_ok(
        dir,
        &[
            "generate", "--out", "gen", "--scale", "0.1", "--days", "63", "--seed", "11",
        ],
    );
    opintel_ok(
        dir,
        &run_args("out", &["--config", "gen/opintel.toml", "gen/exports"]),
    );
    tmp
}

/// Σ of a numeric column of a KPI table.
fn col(rows: &[Vec<V>], names: &[String], name: &str) -> Vec<Option<f64>> {
    let i = names
        .iter()
        .position(|n| n == name)
        .unwrap_or_else(|| panic!("column {name}"));
    rows.iter()
        .map(|r| match &r[i] {
            V::F(x) => Some(*x),
            V::I(x) => Some(*x as f64),
            _ => None,
        })
        .collect()
}

fn sum(v: &[Option<f64>]) -> f64 {
    v.iter().flatten().sum()
}

fn weighted(v: &[Option<f64>], w: &[Option<f64>]) -> f64 {
    let (n, d) = v
        .iter()
        .zip(w)
        .filter_map(|(a, b)| Some((a.as_ref()? * b.as_ref()?, *b.as_ref()?)))
        .fold((0.0, 0.0), |s, x| (s.0 + x.0, s.1 + x.1));
    n / d
}

/// The tiles' values recomputed from the Parquet KPI tables, by the formulas the
/// report documents.
fn expected_tiles(kpis: &Path) -> HashMap<&'static str, f64> {
    let mut t = HashMap::new();
    let (n, r) = read_parquet(&kpis.join("fill_rate.parquet"));
    let lines = col(&r, &n, "lines");
    t.insert(
        "unit_fill_rate",
        sum(&col(&r, &n, "units_filled")) / sum(&col(&r, &n, "units_demanded")),
    );
    t.insert(
        "line_fill_rate",
        weighted(&col(&r, &n, "line_fill_rate"), &lines),
    );
    t.insert(
        "order_fill_rate",
        weighted(&col(&r, &n, "order_fill_rate"), &col(&r, &n, "orders")),
    );
    t.insert("otif_rate", weighted(&col(&r, &n, "otif_rate"), &lines));
    let (n, r) = read_parquet(&kpis.join("exception_aging.parquet"));
    t.insert("open_exceptions", sum(&col(&r, &n, "open_count")));
    t.insert("sla_breaches", sum(&col(&r, &n, "breached_count")));
    let (n, r) = read_parquet(&kpis.join("count_variance_by_zone.parquet"));
    t.insert(
        "record_accuracy",
        sum(&col(&r, &n, "accurate_counts")) / sum(&col(&r, &n, "counts")),
    );
    t.insert(
        "abs_variance_value",
        sum(&col(&r, &n, "abs_variance_value")),
    );
    let (n, r) = read_parquet(&kpis.join("supplier_receipt_accuracy.parquet"));
    t.insert(
        "receipt_accuracy",
        weighted(&col(&r, &n, "accuracy_rate"), &col(&r, &n, "receipt_lines")),
    );
    // Order cycle time: the network row (ALL).
    let (n, r) = read_parquet(&kpis.join("order_cycle_time.parquet"));
    let all = r
        .iter()
        .position(|row| row[0] == s("ALL"))
        .expect("ALL row of order_cycle_time");
    t.insert(
        "split_shipment_rate",
        col(&r, &n, "split_orders")[all].expect("split")
            / col(&r, &n, "complete_orders")[all].expect("complete"),
    );
    t.insert(
        "order_to_ship_p90_hours",
        col(&r, &n, "order_to_ship_hours_p90")[all].expect("p90"),
    );
    let (n, r) = read_parquet(&kpis.join("return_to_stock.parquet"));
    let all = r
        .iter()
        .position(|row| row[0] == s("ALL"))
        .expect("ALL row");
    t.insert(
        "return_to_stock_hours",
        col(&r, &n, "median_hours")[all].expect("median"),
    );
    t
}

#[test]
fn tiles_equal_the_kpi_tables_and_the_page_is_self_contained() {
    let tmp = generated_report();
    let out = tmp.path().join("out");
    let html = std::fs::read_to_string(out.join("index.html")).expect("index.html");
    late_warehouses_are_named(tmp.path(), &html);
    let doc = Html::parse_document(&html);
    let expected = expected_tiles(&out.join("kpis"));
    let tiles: Vec<_> = doc.select(&sel(".tile")).collect();
    assert_eq!(tiles.len(), expected.len(), "one tile per headline figure");
    for tile in tiles {
        let key = tile.value().attr("data-tile").expect("data-tile");
        let value = tile.select(&sel(".t-value")).next().expect("value");
        let raw: f64 = value
            .value()
            .attr("data-value")
            .expect("data-value")
            .parse()
            .expect("number");
        let want = expected[key];
        assert!(
            (raw - want).abs() <= 1e-9 * want.abs().max(1.0),
            "{key}: page {raw}, tables {want}"
        );
        // The shown text is the same number, formatted for people.
        let shown: String = value.text().collect();
        let digits: String = shown
            .chars()
            .filter(|c| c.is_ascii_digit() || *c == '.')
            .collect();
        let as_number: f64 = digits.parse().unwrap_or(f64::NAN);
        let scale = if shown.ends_with('%') {
            100.0
        } else if shown.ends_with('k') {
            1e-3
        } else if shown.ends_with('M') {
            1e-6
        } else if shown.ends_with("days") {
            1.0 / 24.0
        } else {
            1.0
        };
        let tolerance = if shown.ends_with('k')
            || shown.ends_with('M')
            || shown.ends_with('%')
            || shown.ends_with("days")
            || shown.ends_with(" h")
        {
            0.051
        } else {
            0.51
        };
        assert!(
            (as_number - want * scale).abs() <= tolerance,
            "{key}: shows {shown:?} for {want}"
        );
        // A status in words, not colour alone.
        let badge: String = tile
            .select(&sel(".badge"))
            .next()
            .expect("badge")
            .text()
            .collect();
        assert!(
            ["On track", "Watch", "Act now", "No target", "No data"].contains(&badge.as_str()),
            "{badge}"
        );
    }

    // Nothing points outside the file: no src/href/xlink:href except in-page anchors
    // and data: URIs, no scripts, no stylesheets, no CSS url().
    for el in doc
        .root_element()
        .descendants()
        .filter_map(scraper::ElementRef::wrap)
    {
        for (name, value) in el.value().attrs() {
            if ["src", "href", "xlink:href", "srcset", "action", "poster"].contains(&name) {
                assert!(
                    value.starts_with('#') || value.starts_with("data:"),
                    "<{}> {name}={value}",
                    el.value().name()
                );
            }
        }
    }
    assert_eq!(doc.select(&sel("script")).count(), 0);
    assert_eq!(doc.select(&sel("link")).count(), 0);
    assert!(!html.contains("url("), "no CSS url()");
    assert!(html.contains("Content-Security-Policy"));
    // Charts are SVG images (data: URIs: nothing in a label can run); definitions
    // come from every query header, and every tile's from its declaration.
    let charts: Vec<_> = doc.select(&sel("figure img")).collect();
    assert!(charts.len() >= 5, "{} charts", charts.len());
    for c in &charts {
        let src = c.value().attr("src").expect("src");
        assert!(
            src.starts_with("data:image/svg+xml;base64,"),
            "{}",
            &src[..40.min(src.len())]
        );
        assert!(
            !c.value().attr("alt").unwrap_or("").is_empty(),
            "a chart needs alt text"
        );
    }
    let defs = doc.select(&sel("dl.defs dt code")).count();
    // One per published table: the KPI query files, the report's derived tables
    // (queries/report), the tiles, their drivers and the priority backtest.
    let tables = std::fs::read_dir(out.join("kpis"))
        .expect("kpis")
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "parquet"))
        .count();
    let count_sql = |dir: &str| {
        std::fs::read_dir(root().join(dir))
            .expect("queries")
            .flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == "sql"))
            .count()
    };
    assert_eq!(
        tables,
        count_sql("queries") + count_sql("queries/report") + 3,
        "every query file, the tiles, their drivers and the backtest publish a table"
    );
    assert_eq!(
        defs,
        tables + expected.len(),
        "one definition per KPI table and per tile"
    );

    // The tiles table holds exactly what the page shows, and each change is the
    // difference of the table's own current and previous values.
    let (n, rows) = read_parquet(&out.join("kpis/tiles.parquet"));
    let at = |c: &str| n.iter().position(|x| x == c).expect(c);
    let (ti, pi, vi, ci) = (at("tile"), at("period"), at("value"), at("change"));
    for (key, want) in &expected {
        let value_of = |period: &str| {
            rows.iter()
                .find(|r| r[ti] == s(key) && r[pi] == s(period))
                .map(|r| r[vi].clone())
        };
        match value_of("current") {
            Some(V::F(v)) => assert!(
                (v - want).abs() <= 1e-9 * want.abs().max(1.0),
                "{key}: {v} vs {want}"
            ),
            other => panic!("{key}: current value {other:?}"),
        }
        let current = rows
            .iter()
            .find(|r| r[ti] == s(key) && r[pi] == s("current"))
            .expect("row");
        match (value_of("previous"), &current[ci]) {
            (Some(V::F(p)), V::F(c)) => assert!(
                (want - p - c).abs() <= 1e-9 * want.abs().max(1.0),
                "{key}: change"
            ),
            (_, V::Null) => {}
            (p, c) => panic!("{key}: previous {p:?}, change {c:?}"),
        }
    }

    check_pngs(&out.join("charts"));
    check_in_browser(&out, &tmp.path().join("browser"));
}

/// Every chart PNG decodes, is drawn at 2× its page size and is not blank.
fn check_pngs(dir: &Path) {
    let mut seen = 0;
    for e in std::fs::read_dir(dir).expect("charts").flatten() {
        let p = e.path();
        assert_eq!(
            p.extension().and_then(|x| x.to_str()),
            Some("png"),
            "only PNGs in charts/: {}",
            p.display()
        );
        let decoder = png::Decoder::new(std::io::BufReader::new(
            std::fs::File::open(&p).expect("open"),
        ));
        let mut reader = decoder.read_info().expect("png header");
        let mut buf = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut buf).expect("png data");
        assert!(
            info.width >= 800 && info.height >= 600,
            "{}: {}x{} is not 2x",
            p.display(),
            info.width,
            info.height
        );
        assert_eq!(info.width % 2, 0);
        let px = info.color_type.samples();
        let pixels = buf[..info.buffer_size()].chunks(px);
        let (mut ink, mut total) = (0usize, 0usize);
        let mut colours = std::collections::HashSet::new();
        for p in pixels {
            total += 1;
            if p.iter().take(3).any(|&c| c < 235) {
                ink += 1;
            }
            if colours.len() < 64 {
                colours.insert(p.to_vec());
            }
        }
        assert!(
            ink * 100 > total,
            "{}: {ink} of {total} pixels drawn",
            p.display()
        );
        assert!(
            colours.len() > 8,
            "{}: only {} colours",
            p.display(),
            colours.len()
        );
        seen += 1;
    }
    assert!(seen >= 5, "{seen} charts");
}

/// Load the page in headless Chromium (tests/browser/check.mjs): no console error,
/// no request beyond the file, no horizontal scroll on a phone, prints to A4 and Letter.
fn check_in_browser(report: &Path, out: &Path) {
    let script = root().join("tests/browser/check.mjs");
    assert!(
        root()
            .join("tests/browser/node_modules/playwright-core")
            .is_dir(),
        "playwright-core is missing: run .ci/run, or `npm ci --prefix tests/browser` (and install Debian's chromium)"
    );
    let result = Command::new("node")
        .arg(&script)
        .arg(report)
        .arg(out)
        .output()
        .expect("node must be installed");
    let stdout = String::from_utf8_lossy(&result.stdout);
    assert!(
        result.status.success(),
        "browser check failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&result.stderr)
    );
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).expect("json");
    assert_eq!(v["problems"].as_array().map(|a| a.len()), Some(0), "{v:#}");
    assert_eq!(v["results"]["desktop"]["tiles"], 12);
    assert!(out.join("desktop.png").is_file() && out.join("phone.png").is_file());
    assert!(v["results"]["pdf_A4_bytes"].as_u64().unwrap_or(0) > 10_000);
    assert!(v["results"]["pdf_Letter_bytes"].as_u64().unwrap_or(0) > 10_000);
}

#[test]
fn hostile_values_show_as_text_and_csv_cells_cannot_run_formulas() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    let fx = dir.join("fx");
    std::fs::create_dir_all(&fx).expect("dir");
    for e in std::fs::read_dir(fixture("tiny"))
        .expect("fixture")
        .flatten()
    {
        std::fs::copy(e.path(), fx.join(e.file_name())).expect("copy");
    }
    let evil = "<script>alert(1)</script>";
    let suppliers = std::fs::read_to_string(fx.join("suppliers.csv"))
        .expect("read")
        .replace("Acme", evil);
    std::fs::write(fx.join("suppliers.csv"), suppliers).expect("write");
    // A supplier id that a spreadsheet would run, short on its receipt.
    let mut receipts = std::fs::read_to_string(fx.join("receipts.csv")).expect("read");
    receipts.push_str("r3,PO3,1,=2+3,SKU-1,WH1,L1,10,5,0,2026-11-08,2026-11-08T10:00:00Z\n");
    std::fs::write(fx.join("receipts.csv"), receipts).expect("write");
    let locations = std::fs::read_to_string(fx.join("locations.csv"))
        .expect("read")
        .replace("L1,WH1,A,", "L1,WH1,<b>A&amp;</b>,");
    std::fs::write(fx.join("locations.csv"), locations).expect("write");
    opintel_ok(dir, &run_args("out", &["fx"]));
    let html = std::fs::read_to_string(dir.join("out/index.html")).expect("html");
    let doc = Html::parse_document(&html);
    assert_eq!(
        doc.select(&sel("script")).count(),
        0,
        "no script element made it into the page"
    );
    assert_eq!(doc.select(&sel("b")).count(), 0);
    let text: String = doc.root_element().text().collect();
    assert!(text.contains(evil), "the name is shown as text");
    assert!(text.contains("<b>A&amp;</b>"), "the zone is shown as text");
    // CSV: the formula is neutralised; Parquet keeps the value as it was.
    let csv =
        std::fs::read_to_string(dir.join("out/kpis/supplier_receipt_accuracy.csv")).expect("csv");
    assert!(csv.lines().any(|l| l.starts_with("'=2+3,")), "{csv}");
    assert!(!csv.lines().any(|l| l.starts_with("=2+3")));
    let pq = read_parquet(&dir.join("out/kpis/supplier_receipt_accuracy.parquet")).1;
    assert!(pq.iter().any(|r| r[0] == s("=2+3")));
    assert!(pq.iter().any(|r| r[1] == s(evil)));
    // Negative numbers stay numbers in the CSV.
    let zone =
        std::fs::read_to_string(dir.join("out/kpis/count_variance_by_zone.csv")).expect("csv");
    assert!(zone.contains(",-2,2,-5,5"), "{zone}");
}

/// The generator's 3PL sends its exports a day or two late. Recompute from the lake's
/// shipments which warehouses trail the newest shipment in the window by more than 12 h
/// (the default `warehouse_lag_hours`): exactly those are named in the manifest and on
/// the page. The manifest's newest and oldest shipment up to end(D) are the files'.
fn late_warehouses_are_named(dir: &Path, html: &str) {
    let start = 1_792_800_000_000_000_i64; // 2026-10-24T00:00:00Z
    let end = 1_795_219_200_000_000_i64 - 1; // 2026-11-21T00:00:00Z − 1 µs
    let mut newest: HashMap<String, i64> = HashMap::new();
    // The table's newest and oldest shipment up to end(D), over its whole history.
    let (mut last, mut first) = (i64::MIN, i64::MAX);
    let mut stack = vec![dir.join("lake/shipments")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("dir").flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "parquet") {
                let (cols, rows) = read_parquet(&p);
                let w = cols
                    .iter()
                    .position(|c| c == "warehouse_id")
                    .expect("warehouse_id");
                let t = cols
                    .iter()
                    .position(|c| c == "shipped_at")
                    .expect("shipped_at");
                for r in rows {
                    if let V::T(t) = &r[t]
                        && *t <= end
                    {
                        (last, first) = (last.max(*t), first.min(*t));
                    }
                    if let (V::S(w), V::T(t)) = (&r[w], &r[t])
                        && (start..=end).contains(t)
                    {
                        let n = newest.entry(w.clone()).or_insert(*t);
                        *n = (*n).max(*t);
                    }
                }
            }
        }
    }
    let top = newest
        .values()
        .copied()
        .max()
        .expect("shipments in the window");
    let mut late: Vec<String> = newest
        .iter()
        .filter(|(_, t)| (top - **t) as f64 / 3.6e9 > 12.0)
        .map(|(w, _)| w.clone())
        .collect();
    late.sort();
    assert!(!late.is_empty(), "the generated 3PL is late: {newest:?}");
    let m: serde_json::Value = read_manifest(&dir.join("out"));
    let shipments = m["freshness"]
        .as_array()
        .expect("freshness")
        .iter()
        .find(|f| f["table"] == "shipments")
        .expect("shipments freshness");
    let secs = |v: &serde_json::Value| {
        chrono::DateTime::parse_from_rfc3339(v.as_str().expect("an RFC 3339 time"))
            .expect("RFC 3339")
            .timestamp()
    };
    assert_eq!(secs(&shipments["newest"]), last.div_euclid(1_000_000));
    assert_eq!(secs(&shipments["oldest"]), first.div_euclid(1_000_000));
    let mut named: Vec<String> = shipments["lagging"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|l| l["warehouse_id"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    named.sort();
    assert_eq!(named, late);
    for w in &late {
        assert!(
            html.contains(&format!("<strong>{w}</strong> is late")),
            "{w} not named on the page"
        );
    }
}
