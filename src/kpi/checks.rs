//! Data checks, dbt-style: each `queries/checks/<name>.sql` returns the rows that break
//! a rule (none = pass). Built-in checks are compiled in; a user's `<queries>/checks/`
//! adds or overrides by name. `opintel check` runs them and exits non-zero on any
//! violation; the nightly run records them in the manifest and the report.
//! Checks and KPI files are both `kpi::Query`s; only their folder differs.

use std::path::Path;
use std::time::Instant;

use datafusion::arrow::json::ArrayWriter;
use datafusion::prelude::SessionContext;
use serde::Serialize;

use crate::engine::Params;
use crate::error::{Error, Result};
use crate::kpi::{KpiResult, Query, parse_header};

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
    crate::kpi::load(
        crate::kpi::builtin_checks(),
        user_queries.map(|q| q.join("checks")).as_deref(),
    )
}

/// Register a run's KPI results (in memory) as `kpi.<name>`, so checks and the report's
/// derived tables can read them.
pub fn register_results(ctx: &SessionContext, results: &[KpiResult]) -> Result<()> {
    let tables: Vec<_> = results
        .iter()
        .filter_map(|r| {
            r.outcome
                .as_ref()
                .ok()
                .map(|b| (r.query.name.clone(), r.schema.clone(), b.clone()))
        })
        .collect();
    crate::engine::register_batches(ctx, "kpi", &tables)
}

/// Run every check in `ctx` (which has the lake, the views and `kpi.*`).
pub async fn run_checks(
    ctx: &SessionContext,
    checks: &[Query],
    params: &Params,
) -> Vec<CheckResult> {
    super::at_once(checks, |c| {
        let (ctx, c, params) = (ctx.clone(), c.clone(), params.clone());
        async move { run_check(&ctx, &c, &params).await }
    })
    .await
}

/// Run one check: its violations and a sample of them, or its error.
async fn run_check(ctx: &SessionContext, c: &Query, params: &Params) -> CheckResult {
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
    match super::run_sql(ctx, &c.name, &c.sql, &params.with_defaults(&header.params)).await {
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
    r
}
