//! Data checks, dbt-style: each `queries/checks/<name>.sql` returns the rows that break
//! a rule (none = pass). Built-in checks are compiled in; a user's `<queries>/checks/`
//! adds or overrides by name. `opintel check` runs them and exits non-zero on any
//! violation; the nightly run records them in the manifest and the report.

use std::path::Path;
use std::time::Instant;

use chrono::NaiveDate;
use datafusion::arrow::json::ArrayWriter;
use datafusion::prelude::SessionContext;
use serde::Serialize;

use crate::config::Config;
use crate::engine::Params;
use crate::error::{Error, Result, io_at};
use crate::kpi::{Origin, Query, parse_header};
use crate::lake::Lake;

/// Rows of a failing check kept as examples.
const SAMPLE_ROWS: usize = 5;

/// One check's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct CheckResult {
    pub name: String,
    pub title: String,
    pub description: String,
    /// Rows that break the rule (0 = pass).
    pub violations: usize,
    /// The first few of them, as JSON objects.
    pub sample: Vec<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub seconds: f64,
}

impl CheckResult {
    pub fn passed(&self) -> bool {
        self.violations == 0 && self.error.is_none()
    }
}

/// The built-in checks plus `<queries>/checks/*.sql`.
pub fn catalogue(user_queries: Option<&Path>) -> Result<Vec<Query>> {
    let mut checks: Vec<Query> = crate::kpi::builtin_checks()
        .iter()
        .map(|(name, sql)| Query::parse(name, sql, Origin::BuiltIn))
        .collect();
    if let Some(dir) = user_queries.map(|q| q.join("checks"))
        && dir.is_dir()
    {
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .map_err(io_at(&dir))?
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "sql"))
            .collect();
        files.sort();
        for path in files {
            let sql = std::fs::read_to_string(&path).map_err(io_at(&path))?;
            let name = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            let q = Query::parse(&name, &sql, Origin::User(path));
            match checks.iter_mut().find(|c| c.name == name) {
                Some(slot) => *slot = q,
                None => checks.push(q),
            }
        }
    }
    checks.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(checks)
}

/// Register a run's KPI results (in memory) as `kpi.<name>`, so checks can read them.
pub fn register_results(ctx: &SessionContext, results: &[crate::kpi::KpiResult]) -> Result<()> {
    let schema = std::sync::Arc::new(datafusion::catalog::MemorySchemaProvider::new());
    for r in results {
        if let Ok(batches) = &r.outcome {
            let table =
                datafusion::datasource::MemTable::try_new(r.schema.clone(), vec![batches.clone()])?;
            datafusion::catalog::SchemaProvider::register_table(
                schema.as_ref(),
                r.query.name.clone(),
                std::sync::Arc::new(table),
            )?;
        }
    }
    if let Some(catalog) = ctx.catalog("datafusion") {
        catalog.register_schema("kpi", schema)?;
    }
    Ok(())
}

/// Run every check in `ctx` (which has the lake, the views and `kpi.*`).
pub async fn run_checks(
    ctx: &SessionContext,
    checks: &[Query],
    params: &Params,
) -> Vec<CheckResult> {
    let mut out = Vec::new();
    for c in checks {
        let started = Instant::now();
        let header = parse_header(&c.sql);
        let mut r = CheckResult {
            name: c.name.clone(),
            title: header.title.clone(),
            description: header.description.clone(),
            violations: 0,
            sample: Vec::new(),
            error: None,
            seconds: 0.0,
        };
        match super::query(ctx, &c.sql, &params.with_defaults(&header.params)).await {
            Ok((_, batches)) => {
                r.violations = batches.iter().map(|b| b.num_rows()).sum();
                let mut buf = Vec::new();
                {
                    let mut w = ArrayWriter::new(&mut buf);
                    let mut left = SAMPLE_ROWS;
                    for b in &batches {
                        if left == 0 {
                            break;
                        }
                        let part = b.slice(0, b.num_rows().min(left));
                        left -= part.num_rows();
                        let _ = w.write(&part);
                    }
                    let _ = w.finish();
                }
                r.sample = serde_json::from_slice(&buf).unwrap_or_default();
            }
            Err(Error::Query { message, .. }) => r.error = Some(message),
            Err(e) => r.error = Some(e.to_string()),
        }
        r.seconds = started.elapsed().as_secs_f64();
        out.push(r);
    }
    out
}

/// `opintel check`: print every check; true when any found violations or failed.
pub fn check_command(config: &Config, as_of: NaiveDate, report: Option<&Path>) -> Result<bool> {
    let lake = Lake::at(&config.lake);
    let params = Params::new(config, as_of);
    let report = report
        .map(Path::to_path_buf)
        .or_else(|| super::latest_report(config));
    let checks = catalogue(config.queries.as_deref())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(Error::PlainIo)?;
    let results = runtime.block_on(async {
        let ctx = super::session(config, &lake, &params, report.as_deref()).await?;
        Ok::<_, Error>(run_checks(&ctx, &checks, &params).await)
    })?;
    let mut failed = false;
    for r in &results {
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
    Ok(failed)
}
