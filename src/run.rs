//! The nightly job, end to end: lock the lake, ingest what was given, compute every
//! KPI as of the date, write the report folder, publish it atomically.
//!
//! Outcomes map to exit codes in `cli` (see the README's "Operating opintel").

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use datafusion::arrow::datatypes::Schema;

use crate::config::Config;
use crate::engine::{self, EngineOptions, Params};
use crate::error::{Error, Result, io_at};
use crate::ingest::{self, FileStatus, IngestReport};
use crate::kpi::{self, KpiResult, Origin};
use crate::lake::{Lake, LakeLock};
use crate::manifest::{FeedState, KpiEntry, Manifest, Phase, RunStatus, now};
use crate::publish::{self, Staged};

/// What `opintel run` was asked to do, flags and config already merged.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub as_of: NaiveDate,
    /// The report folder to publish.
    pub out: PathBuf,
    /// Export files or folders to ingest first.
    pub inputs: Vec<PathBuf>,
    /// Wait this long for the lake's lock instead of failing at once.
    pub wait: Option<Duration>,
    pub progress: bool,
    /// Move `<out parent>/latest` to the new report.
    pub point_latest: bool,
    pub command: String,
    /// Compute only these KPIs (empty: all); the data checks are skipped then.
    pub only: Vec<String>,
    /// Write `index.html` and the charts (false: KPI tables and manifest only, and the
    /// report's comparison and trend queries are not run; freshness still is).
    pub report: bool,
}

/// What a run produced.
pub struct RunOutcome {
    pub manifest: Manifest,
    pub out: PathBuf,
    pub results: Vec<KpiResult>,
}

/// Yesterday, UTC: the default as-of date.
pub fn default_as_of() -> NaiveDate {
    (chrono::Utc::now() - chrono::Duration::days(1)).date_naive()
}

/// Ingest only (the `ingest` command).
pub fn ingest_only(
    config: &Config,
    inputs: &[PathBuf],
    wait: Option<Duration>,
    progress: bool,
) -> Result<IngestReport> {
    let lock = LakeLock::acquire(&config.lake, wait)?;
    let lake = Lake::open_for_write(&config.lake, &lock)?;
    ingest::ingest(config, &lake, inputs, progress)
}

/// The nightly run.
pub fn run(config: &Config, opts: &RunOptions) -> Result<RunOutcome> {
    let started_at = now();
    let mut phases = Vec::new();
    let mut warnings = Vec::new();
    let lock = LakeLock::acquire(&config.lake, opts.wait)?;
    let lake = Lake::open_for_write(&config.lake, &lock)?;

    let mut ingest_report = None;
    if !opts.inputs.is_empty() {
        let t = Instant::now();
        let report = ingest::ingest(config, &lake, &opts.inputs, opts.progress)?;
        phases.push(Phase {
            name: "ingest".into(),
            seconds: t.elapsed().as_secs_f64(),
        });
        warnings.extend(ingest_warnings(&report));
        ingest_report = Some(report);
    }
    crate::fault::point("run.after_ingest");

    let t = Instant::now();
    let mut queries = kpi::catalogue(config.queries.as_deref())?;
    if !opts.only.is_empty() {
        if let Some(unknown) = opts
            .only
            .iter()
            .find(|n| !queries.iter().any(|q| &q.name == *n))
        {
            return Err(Error::Config(format!(
                "--kpis: no KPI named {unknown:?} (known: {})",
                queries
                    .iter()
                    .map(|q| q.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        queries.retain(|q| opts.only.contains(&q.name));
    }
    let params = Params::new(config, opts.as_of);
    // The data checks run with the full set of KPIs (they read `kpi.<name>` tables).
    let checks = if opts.only.is_empty() {
        crate::sql::checks::catalogue(config.queries.as_deref())?
    } else {
        Vec::new()
    };
    // Keep the shared per-line view in memory only if several of these queries read it.
    let reads = engine::ViewUse::of(queries.iter().chain(&checks).map(|q| q.sql.as_str()));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(Error::PlainIo)?;
    // The query phase, timed step by step for the manifest.
    let (results, extras, checks, steps) = runtime.block_on(async {
        let mut steps: Vec<Phase> = Vec::new();
        let mut step = |name: &str, since: Instant| {
            steps.push(Phase {
                name: name.into(),
                seconds: since.elapsed().as_secs_f64(),
            })
        };
        let s = Instant::now();
        let ctx = engine::session(&EngineOptions::default())?;
        engine::register_local_date(&ctx, params.tz);
        engine::register_lake(&ctx, &lake, &params, reads).await?;
        step("queries.register_lake", s);
        let s = Instant::now();
        let mut results = kpi::run_all(&ctx, &queries, &params).await;
        step("queries.kpis", s);
        let s = Instant::now();
        let extras = if opts.report {
            crate::report::gather(&ctx, &queries, config, &params).await?
        } else {
            crate::report::Extras {
                freshness: crate::report::gather::freshness(&ctx, config, &params).await?,
                ..Default::default()
            }
        };
        step("queries.report_inputs", s);
        let s = Instant::now();
        if let Some(r) = priority_backtest(&ctx, &queries, &results, config, &params).await {
            results.push(r);
            step("queries.priority_backtest", s);
        }
        // The data checks read the lake and this run's KPI tables (`kpi.<name>`).
        let s = Instant::now();
        let checks = if opts.only.is_empty() {
            crate::sql::checks::register_results(&ctx, &results)?;
            let checks = crate::sql::checks::run_checks(&ctx, &checks, &params).await;
            step("queries.checks", s);
            checks
        } else {
            Vec::new()
        };
        Ok::<_, Error>((results, extras, checks, steps))
    })?;
    phases.push(Phase {
        name: "queries".into(),
        seconds: t.elapsed().as_secs_f64(),
    });
    phases.extend(steps);
    for f in &extras.freshness {
        match f.state {
            FeedState::Stale => warnings.push(format!(
                "feed {} is stale: newest data {} is {:.0} h before the end of the as-of date (expected within {:.0} h)",
                f.table,
                f.newest.clone().unwrap_or_default(),
                f.age_hours.unwrap_or(0.0),
                f.max_age_hours.unwrap_or(0.0)
            )),
            FeedState::Missing => warnings.push(format!("feed {} has no data up to the as-of date", f.table)),
            _ => {}
        }
        for l in &f.lagging {
            warnings.push(format!(
                "warehouse {} is late in {}: its newest data ({}) trails the others' by {:.0} h; its latest days are provisional",
                l.warehouse_id,
                f.table,
                l.newest.clone().unwrap_or_default(),
                l.behind_hours.unwrap_or(0.0)
            ));
        }
    }

    let t = Instant::now();
    let staged = Staged::new(&opts.out)?;
    let kpi_dir = staged.dir.join("kpis");
    std::fs::create_dir_all(&kpi_dir).map_err(io_at(&kpi_dir))?;
    let mut entries = Vec::new();
    for r in &results {
        let mut entry = KpiEntry {
            name: r.query.name.clone(),
            title: r.query.header.title.clone(),
            origin: match &r.query.origin {
                Origin::BuiltIn => "built-in".into(),
                Origin::User(p) => p.display().to_string(),
            },
            rows: r.rows(),
            seconds: r.seconds,
            parquet: None,
            csv: None,
            error: None,
        };
        match &r.outcome {
            Ok(batches) => {
                let schema = r.schema.clone();
                let pq = kpi_dir.join(format!("{}.parquet", r.query.name));
                let csv = kpi_dir.join(format!("{}.csv", r.query.name));
                kpi::output::write_parquet(&pq, schema.clone(), batches)?;
                kpi::output::write_csv(&csv, &schema, batches)?;
                entry.parquet = Some(format!("kpis/{}.parquet", r.query.name));
                entry.csv = Some(format!("kpis/{}.csv", r.query.name));
            }
            Err(e) => {
                warnings.push(format!("KPI {} failed: {e}", r.query.name));
                entry.error = Some(e.clone());
            }
        }
        entries.push(entry);
    }
    for c in &checks {
        match (&c.error, c.violations) {
            (Some(e), _) => warnings.push(format!("check {} could not run: {e}", c.name)),
            (None, 0) => {}
            (None, n) => warnings.push(format!("check {} found {n} rows: {}", c.name, c.title)),
        }
    }
    let failed_files = ingest_report.as_ref().map_or(0, |r| r.failed().count());
    let failed_kpis = entries.iter().filter(|e| e.error.is_some()).count();
    let mut manifest = Manifest {
        opintel_version: env!("CARGO_PKG_VERSION").into(),
        datafusion_version: datafusion::DATAFUSION_VERSION.into(),
        command: opts.command.clone(),
        started_at,
        finished_at: String::new(),
        status: if failed_files + failed_kpis == 0 {
            RunStatus::Ok
        } else {
            RunStatus::Partial
        },
        as_of: opts.as_of.to_string(),
        window_days: params.window_days,
        window_start: params.window_start_date().to_string(),
        window_end: opts.as_of.to_string(),
        reporting_time_zone: config.reporting_time_zone.clone(),
        parameters: crate::manifest::Parameters {
            count_tolerance: config.count_tolerance,
            sla_hours: config.sla_hours.clone(),
            history_days: config.history_days,
            priority_backtest_days: config.priority_backtest_days,
            params: config.params.clone(),
        },
        lake: lake.root().display().to_string(),
        phases,
        ingest: ingest_report,
        freshness: extras.freshness.clone(),
        kpis: entries,
        checks,
        warnings,
    };
    crate::fault::point("run.report");
    if opts.report {
        crate::report::write(
            &staged.dir,
            &crate::report::Page {
                manifest: &manifest,
                results: &results,
                extras: &extras,
                config,
            },
        )?;
    }
    manifest.phases.push(Phase {
        name: "report".into(),
        seconds: t.elapsed().as_secs_f64(),
    });
    manifest.finished_at = now();
    let path = staged.dir.join("manifest.json");
    std::fs::write(&path, serde_json::to_string_pretty(&manifest)?).map_err(io_at(&path))?;
    let out = staged.publish()?;
    crate::fault::point("publish.after_swap");
    if opts.point_latest {
        publish::point_latest(&out)?;
    }
    drop(lock);
    Ok(RunOutcome {
        manifest,
        out,
        results,
    })
}

/// Backtest the priority list as of `priority_backtest_days` before the as-of date
/// (when the list itself was computed), as the `count_priority_backtest` table. A
/// failure is that table's error; the views are left bound to `params`.
async fn priority_backtest(
    ctx: &datafusion::prelude::SessionContext,
    queries: &[kpi::Query],
    results: &[KpiResult],
    config: &Config,
    params: &Params,
) -> Option<KpiResult> {
    use crate::priority;
    let horizon = config.priority_backtest_days;
    let query = queries.iter().find(|q| q.name == priority::QUERY)?;
    if horizon == 0
        || !results
            .iter()
            .any(|r| r.query.name == priority::QUERY && r.outcome.is_ok())
    {
        return None;
    }
    let started = Instant::now();
    let mut earlier = params.clone();
    earlier.as_of = params.as_of - chrono::Duration::days(i64::from(horizon));
    let outcome = priority::backtest_in(ctx, query, &earlier, horizon).await;
    // Back to the run's own as-of (and its kept view, if it has one).
    let rebound = engine::bind_views(ctx, params, engine::ViewUse::Once).await;
    let (schema, outcome) = match (outcome, rebound) {
        (Ok(e), Ok(())) => match e.to_batch() {
            Ok((schema, batch)) => (schema, Ok(vec![batch])),
            Err(err) => (Arc::new(Schema::empty()), Err(err.to_string())),
        },
        (Err(err), _) | (_, Err(err)) => (Arc::new(Schema::empty()), Err(err.to_string())),
    };
    if let Err(e) = &outcome {
        tracing::error!(query = priority::BACKTEST_TABLE, error = %e, "backtest failed");
    }
    Some(KpiResult {
        query: kpi::Query::parse(
            priority::BACKTEST_TABLE,
            priority::BACKTEST_HEADER,
            Origin::BuiltIn,
        ),
        schema,
        outcome,
        seconds: started.elapsed().as_secs_f64(),
    })
}

fn ingest_warnings(report: &IngestReport) -> Vec<String> {
    report
        .files
        .iter()
        .filter_map(|f| match f.status {
            FileStatus::Failed => Some(format!("file {} was not ingested: {}", f.path, f.message)),
            FileStatus::Partial => Some(format!(
                "file {} was read only in part: {}",
                f.path, f.message
            )),
            _ => None,
        })
        .collect()
}
