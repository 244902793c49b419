//! What each command prints. The library returns values; this module decides how a
//! person (or a pipe) sees them.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, DurationMicrosecondArray, Float64Array, StringArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::util::pretty::pretty_format_batches;
use opintel::app::demo::DemoOutcome;
use opintel::app::generate::GenerateSummary;
use opintel::app::run::RunOutcome;
use opintel::app::sql::{Analyst, AsOf};
use opintel::error::{Error, Result, io_at};
use opintel::kpi::checks::CheckResult;
use opintel::kpi::freshness::FeedState;
use opintel::kpi::output;
use opintel::kpi::priority::Evaluation;
use opintel::publish::manifest::Manifest;

use crate::cli::SqlFormat;

pub fn generated(summary: &GenerateSummary, out: &Path) {
    println!(
        "generated {} rows in {} files into {} ({} planted stock-record errors)",
        opintel::ingest::group(summary.rows_total),
        summary.files.len(),
        out.display(),
        summary.planted_errors
    );
}

pub fn demo(o: &DemoOutcome) {
    println!(
        "generated a sample operation: {} rows in {} export files ({})",
        opintel::ingest::group(o.generated.rows_total),
        o.generated.files.len(),
        o.sample.display()
    );
    run(&o.run);
    if let Some(c) = &o.wrote_config {
        println!(
            "wrote {}: the commands below now use the demo's lake ({})",
            c.display(),
            o.run.manifest.lake
        );
    }
    let lake = if o.config_points_here {
        String::new()
    } else {
        format!(" --lake {}", o.run.manifest.lake)
    };
    println!("\nnext:");
    println!("  open {}/index.html", o.run.out.display());
    println!("  opintel tables{lake}");
    println!(
        "  opintel sql{lake} \"SELECT channel, sum(units_filled) / sum(units_demanded) AS unit_fill FROM kpi.fill_rate GROUP BY 1\""
    );
    println!("  opintel check{lake}");
}

/// The end-of-run summary.
pub fn run(outcome: &RunOutcome) {
    let m = &outcome.manifest;
    if let Some(r) = &m.ingest {
        print!("{}", r.summary());
    }
    println!(
        "KPIs as of {} (window {} – {}):",
        m.as_of, m.window_start, m.window_end
    );
    for k in &m.kpis {
        match &k.error {
            None => println!("  {:<30} {:>8} rows", k.name, k.rows),
            Some(e) => println!(
                "  {:<30} FAILED: {}",
                k.name,
                e.lines().next().unwrap_or("")
            ),
        }
    }
    for w in &m.warnings {
        println!("warning: {w}");
    }
    let page = outcome.out.join("index.html");
    if page.exists() {
        println!("report: {}", page.display());
    } else {
        println!("KPI tables: {}", outcome.out.join("kpis").display());
    }
}

pub fn stale_feeds(m: &Manifest) -> Vec<String> {
    m.freshness
        .iter()
        .filter(|f| matches!(f.state, FeedState::Stale | FeedState::Missing))
        .map(|f| f.table.clone())
        .collect()
}

pub fn json_file(path: &Path, value: &impl serde::Serialize) -> Result<()> {
    std::fs::write(path, serde_json::to_string_pretty(value)? + "\n").map_err(io_at(path))
}

/// Which date the session's views and parameters are bound to (on stderr).
pub fn session_note(s: &Analyst) {
    let why = match s.as_of {
        AsOf::Given(_) => return,
        AsOf::Report(_) => format!(
            "the as-of date of the report in {}",
            s.report
                .as_deref()
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        ),
        AsOf::LatestData(_) => "the lake's latest data date".to_string(),
    };
    eprintln!(
        "as of {}, {why} ($as_of, $window_start … and the _current views; --as-of to change)",
        s.as_of.date()
    );
}

/// Print or write a query result.
pub fn result(
    format: SqlFormat,
    out: Option<&Path>,
    schema: &SchemaRef,
    batches: &[RecordBatch],
) -> Result<()> {
    match format {
        SqlFormat::Parquet => {
            let path = out.ok_or_else(|| Error::setting("--format parquet", "needs --out FILE"))?;
            output::write_parquet(path, Arc::clone(schema), batches)
        }
        SqlFormat::Csv => match out {
            Some(p) => output::write_csv(p, schema, batches),
            None => {
                let mut w = std::io::stdout().lock();
                output::write_csv_to(&mut w, schema, batches).map_err(io_at("standard output"))
            }
        },
        SqlFormat::Json => {
            let mut buf = Vec::new();
            {
                let mut w = datafusion::arrow::json::ArrayWriter::new(&mut buf);
                let refs: Vec<_> = batches.iter().collect();
                w.write_batches(&refs)?;
                w.finish()?;
            }
            if buf.is_empty() {
                buf.extend_from_slice(b"[]");
            }
            buf.push(b'\n');
            emit(out, &buf)
        }
        SqlFormat::Table => {
            let text = if batches.iter().all(|b| b.num_rows() == 0) {
                let cols: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
                format!("(no rows; columns: {})\n", cols.join(", "))
            } else {
                let readable: Vec<RecordBatch> =
                    batches.iter().map(for_people).collect::<Result<_>>()?;
                format!("{}\n", pretty_format_batches(&readable)?)
            };
            emit(out, text.as_bytes())
        }
    }
}

/// A batch as a person reads it: floats to at most six decimals, durations in days,
/// hours, minutes and seconds. (CSV, JSON and Parquet keep full precision.)
fn for_people(b: &RecordBatch) -> Result<RecordBatch> {
    let mut fields = Vec::new();
    let mut cols: Vec<ArrayRef> = Vec::new();
    for (f, c) in b.schema().fields().iter().zip(b.columns()) {
        let text: Option<StringArray> = match f.data_type() {
            DataType::Float64 | DataType::Float32 => {
                let a = datafusion::arrow::compute::cast(c, &DataType::Float64)?;
                a.as_any()
                    .downcast_ref::<Float64Array>()
                    .map(|a| a.iter().map(|v| v.map(short_float)).collect())
            }
            DataType::Duration(_) => {
                let a = datafusion::arrow::compute::cast(
                    c,
                    &DataType::Duration(TimeUnit::Microsecond),
                )?;
                a.as_any()
                    .downcast_ref::<DurationMicrosecondArray>()
                    .map(|a| a.iter().map(|v| v.map(duration)).collect())
            }
            _ => None,
        };
        match text {
            Some(t) => {
                fields.push(Field::new(f.name(), DataType::Utf8, true));
                cols.push(Arc::new(t));
            }
            None => {
                fields.push(f.as_ref().clone());
                cols.push(Arc::clone(c));
            }
        }
    }
    Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), cols)?)
}

fn short_float(v: f64) -> String {
    if !v.is_finite() || v.fract() == 0.0 && v.abs() < 1e15 {
        return format!("{v}");
    }
    let s = format!("{v:.6}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn duration(us: i64) -> String {
    let sign = if us < 0 { "-" } else { "" };
    let s = us.unsigned_abs() / 1_000_000;
    let (d, h, m, sec) = (s / 86_400, s % 86_400 / 3600, s % 3600 / 60, s % 60);
    if d > 0 {
        format!("{sign}{d}d {h:02}:{m:02}:{sec:02}")
    } else {
        format!("{sign}{h:02}:{m:02}:{sec:02}")
    }
}

fn emit(out: Option<&Path>, bytes: &[u8]) -> Result<()> {
    match out {
        Some(p) => std::fs::write(p, bytes).map_err(io_at(p)),
        None => std::io::stdout()
            .write_all(bytes)
            .map_err(io_at("standard output")),
    }
}

/// Every check; true when any found violations or failed.
pub fn checks(results: &[CheckResult], as_of: chrono::NaiveDate) -> bool {
    println!("data checks as of {as_of}:");
    let mut failed = false;
    for r in results {
        match (&r.error, r.violations) {
            (Some(e), _) => {
                failed = true;
                println!("ERROR {:<40} {}", r.name, e.lines().next().unwrap_or(""));
            }
            (None, 0) => println!("ok    {:<40} {}", r.name, r.title),
            (None, n) => {
                failed = true;
                println!("FAIL  {:<40} {n} rows break it: {}", r.name, r.title);
                for s in &r.sample {
                    println!("        {s}");
                }
            }
        }
    }
    failed
}

pub fn maintenance(what: &str, tables: &[opintel::app::lake::TableMaintenance]) {
    if tables.is_empty() {
        println!("{what}: the lake has no tables yet");
    }
    for t in tables {
        match what {
            "vacuum" => println!("{:<34} {:>6} files deleted", t.table, t.removed),
            _ => println!(
                "{:<34} {:>6} files → {:>6} ({} removed, {} added)",
                t.table, t.files_before, t.files_after, t.removed, t.added
            ),
        }
    }
}

pub fn state_rebuilt(
    changes: &[(
        &opintel::engine::state::Kind,
        opintel::engine::state::StateChange,
    )],
) {
    for (kind, c) in changes {
        println!(
            "{} rebuilt: {} {} in {} month partitions ({:.1} s)",
            kind.rel,
            c.rows_written,
            kind.unit,
            c.partitions,
            c.took.as_secs_f64()
        );
    }
}

pub fn migrated(tables: &[opintel::app::lake::Migrated], new: &Path) {
    println!("migrated into {}:", new.display());
    for t in tables {
        println!(
            "  {:<34} {:>12} rows (before: {})",
            t.table, t.rows_after, t.rows_before
        );
    }
}

pub fn evaluation(e: &Evaluation, out: Option<&Path>) -> Result<()> {
    let what = match e.horizon_days {
        Some(h) => format!(
            "backtest as of {}: {} SKU-locations ranked from data up to {}; {} showed a count variance or an unexplained adjustment in the next {h} days",
            e.as_of, e.candidates, e.as_of, e.positives
        ),
        None => format!(
            "ground truth as of {}: {} SKU-locations ranked; {} known wrong records",
            e.as_of, e.candidates, e.positives
        ),
    };
    println!("{what}\n");
    print!("{}", e.markdown());
    if let (Some(p), Some((name, best))) = (e.precision("score", 50), e.best_baseline(50)) {
        let ratio = if best > 0.0 {
            format!("{:.1}×", p / best)
        } else {
            "∞".into()
        };
        println!("\nprecision@50: score {p:.2}, best baseline {name} {best:.2} ({ratio})");
    }
    if let Some(w) = &e.weights {
        let list = w
            .weights
            .iter()
            .map(|(k, v)| format!("{k} {v:.2}"))
            .collect::<Vec<_>>()
            .join(", ");
        println!("weights: {} ({}): {list}", w.status, w.reason);
    }
    for w in &e.warnings {
        eprintln!("warning: {w}");
    }
    if let Some(path) = out {
        json_file(path, e)?;
    }
    Ok(())
}
