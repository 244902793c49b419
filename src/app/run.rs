//! The nightly job, stage by stage, as the README describes it:
//!
//! 1. **ingest** — the given exports into the lake, in one transaction;
//! 2. **compute** — every KPI as of the date, the feeds' freshness, the tiles and the
//!    report's derived tables, the priority backtest and the data checks, in one
//!    session over the lake;
//! 3. **outputs** — `kpis/<name>.parquet|csv`, `index.html` and `charts/` into a
//!    staging folder next to the report folder;
//! 4. **manifest** — `manifest.json`, the record of all of it, written last;
//! 5. **publish** — the staging folder swapped into place atomically, then `latest`.
//!
//! The lake's lock is held from the first stage to the last. Each stage hands the next
//! a typed value; outcomes map to exit codes in the binary (README, "Operating
//! opintel").

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use datafusion::arrow::datatypes::Schema;

use crate::config::Config;
use crate::engine::{Engine, EngineOptions, Params, ViewUse};
use crate::error::{Error, Result, io_at};
use crate::ingest::{FileStatus, IngestReport};
use crate::kpi::checks::{self, CheckResult};
use crate::kpi::freshness::{self, FeedState, Freshness};
use crate::kpi::priority::Ranked;
use crate::kpi::priority_fit::{self, WeightFit};
use crate::kpi::tiles::{self, TileDef};
use crate::kpi::{self, KpiResult, Origin, Query, periods, priority};
use crate::lake::{Lake, LakeLock};
use crate::progress::Shared;
use crate::publish::manifest::{KpiEntry, Manifest, Parameters, Phase, RunStatus, now};
use crate::publish::{self, Staged};
use crate::report;

/// What `opintel run` was asked to do, flags and config already merged.
#[derive(Debug, Clone)]
pub struct RunRequest {
    pub as_of: NaiveDate,
    /// The report folder to publish.
    pub out: PathBuf,
    /// Export files or folders to ingest first.
    pub inputs: Vec<PathBuf>,
    /// Wait this long for the lake's lock instead of failing at once.
    pub wait: Option<Duration>,
    /// Move `<out parent>/latest` to the new report.
    pub point_latest: bool,
    /// The command line, for the manifest.
    pub command: String,
    /// Compute only these KPIs (empty: all); the data checks are skipped then.
    pub only: Vec<String>,
    /// Write `index.html` and the charts (false: KPI tables and manifest only, and
    /// the tiles' comparison windows are not computed; freshness still is).
    pub report: bool,
    /// Read each lake table at this Delta version (a report reproduced from its
    /// manifest) instead of its latest.
    pub pinned: Option<crate::engine::Versions>,
    /// Rank the count priority with these weights instead of fitting them (a report
    /// reproduced from its manifest).
    pub weights: Option<WeightFit>,
}

/// The request that recomputes the report `manifest` describes: its as-of date,
/// window, parameters and reporting time zone over `config`, and the lake tables at
/// the Delta versions it read. The report goes to `out`, else `<reports>/<as-of>-reproduced`.
pub fn reproduce(
    mut config: Config,
    manifest: &std::path::Path,
    out: Option<PathBuf>,
) -> Result<(Config, RunRequest)> {
    let bad = |m: String| Error::input(manifest, m);
    let text = std::fs::read_to_string(manifest).map_err(io_at(manifest))?;
    let m: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| bad(format!("not a run manifest: {e}")))?;
    let as_of = m["as_of"]
        .as_str()
        .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
        .ok_or_else(|| bad("it has no as_of date".into()))?;
    let versions: crate::engine::Versions = serde_json::from_value(m["lake_versions"].clone())
        .map_err(|_| {
            bad("it records no lake_versions (written before the lake was Delta Lake?)".into())
        })?;
    if let Some(w) = m["window_days"].as_u64() {
        config.window_days = w as u32;
    }
    if let Some(tz) = m["reporting_time_zone"].as_str() {
        config.reporting_time_zone = tz.to_string();
    }
    let p = &m["parameters"];
    if let Some(t) = p["count_tolerance"].as_f64() {
        config.count_tolerance = t;
    }
    if let Ok(sla) = serde_json::from_value(p["sla_hours"].clone()) {
        config.sla_hours = sla;
    }
    if let Some(h) = p["history_days"].as_u64() {
        config.history_days = h as u32;
    }
    if let Some(h) = p["priority_backtest_days"].as_u64() {
        config.priority_backtest_days = h as u32;
    }
    if let Ok(params) = serde_json::from_value(p["params"].clone()) {
        config.params = params;
    }
    let weights = serde_json::from_value(m["priority_weights"].clone()).ok();
    config.validate()?;
    let out = out.unwrap_or_else(|| config.reports.join(format!("{as_of}-reproduced")));
    Ok((
        config,
        RunRequest {
            as_of,
            out,
            inputs: Vec::new(),
            wait: None,
            point_latest: false,
            command: format!("opintel run --reproduce {}", manifest.display()),
            only: Vec::new(),
            report: true,
            pinned: Some(versions),
            weights,
        },
    ))
}

/// What a run produced.
pub struct RunOutcome {
    pub manifest: Manifest,
    pub out: PathBuf,
    pub results: Vec<KpiResult>,
}

/// Phases and warnings, as the stages go.
#[derive(Default)]
struct Log {
    phases: Vec<Phase>,
    warnings: Vec<String>,
}

impl Log {
    fn phase(&mut self, name: &str, since: Instant) {
        self.phases.push(Phase {
            name: name.into(),
            seconds: since.elapsed().as_secs_f64(),
        });
    }
}

/// What the compute stage hands on.
struct Computed {
    params: Params,
    /// The Delta version of every lake table the run read.
    versions: crate::engine::Versions,
    tiles: Vec<TileDef>,
    /// KPIs, then `tiles`, the report's tables and the backtest.
    results: Vec<KpiResult>,
    /// The count priority's weights (None: no priority list in this run).
    weights: Option<WeightFit>,
    freshness: Vec<Freshness>,
    checks: Vec<CheckResult>,
}

/// The nightly run.
pub fn run(config: &Config, req: &RunRequest, progress: &Shared) -> Result<RunOutcome> {
    let started_at = now();
    let mut log = Log::default();
    let lock = LakeLock::acquire(&config.lake, req.wait)?;
    let lake = Lake::open_for_write(&config.lake, &lock)?;

    let ingested = stage_ingest(config, &lake, req, progress, &mut log)?;
    crate::fault::point("run.after_ingest");
    let computed = stage_compute(config, &lake, req, &mut log)?;
    let staged = Staged::new(&req.out)?;
    stage_outputs(
        &staged,
        config,
        req,
        &computed,
        ingested.as_ref(),
        &started_at,
        &mut log,
    )?;
    let manifest = stage_manifest(
        &staged, config, req, &lake, started_at, ingested, &computed, log,
    )?;
    let out = stage_publish(staged, req)?;
    let manifest = stage_alerts(config, &out, &computed, manifest)?;
    drop(lock);
    Ok(RunOutcome {
        manifest,
        out,
        results: computed.results,
    })
}

/// After publishing: evaluate the alert rules, deliver what fired (once per rule,
/// destination and as-of date) and the owners' digests, and add what happened to the
/// published manifest (replaced by an atomic rename). A failed delivery leaves the
/// report as published.
fn stage_alerts(
    config: &Config,
    out: &Path,
    computed: &Computed,
    mut manifest: Manifest,
) -> Result<Manifest> {
    if config.alerts.is_empty() && config.alerting.owners.is_empty() {
        return Ok(manifest);
    }
    let facts = crate::alert::gather(
        &computed.results,
        &computed.tiles,
        &manifest,
        &out.join("index.html"),
    );
    let reports = out.parent().unwrap_or(Path::new("."));
    let report = crate::alert::evaluate_and_send(config, reports, &facts)?;
    if report.failed() {
        manifest
            .warnings
            .push("an alert could not be delivered: see alerts in the manifest".into());
    }
    manifest.alerts = Some(serde_json::to_value(&report)?);
    let path = out.join("manifest.json");
    let tmp = out.join(".manifest.json.tmp");
    std::fs::write(&tmp, serde_json::to_string_pretty(&manifest)? + "\n").map_err(io_at(&tmp))?;
    std::fs::rename(&tmp, &path).map_err(io_at(&path))?;
    Ok(manifest)
}

fn stage_ingest(
    config: &Config,
    lake: &Lake,
    req: &RunRequest,
    progress: &Shared,
    log: &mut Log,
) -> Result<Option<IngestReport>> {
    if req.inputs.is_empty() {
        return Ok(None);
    }
    let t = Instant::now();
    let report = super::ingest::ingest(config, lake, &req.inputs, progress)?;
    log.phase("ingest", t);
    for f in &report.files {
        match f.status {
            FileStatus::Failed => log
                .warnings
                .push(format!("file {} was not ingested: {}", f.path, f.message)),
            FileStatus::Partial => log.warnings.push(format!(
                "file {} was read only in part: {}",
                f.path, f.message
            )),
            _ => {}
        }
    }
    Ok(Some(report))
}

fn stage_compute(
    config: &Config,
    lake: &Lake,
    req: &RunRequest,
    log: &mut Log,
) -> Result<Computed> {
    let t = Instant::now();
    let all = kpi::catalogue(config.queries.as_deref())?;
    let checks = if req.only.is_empty() {
        checks::catalogue(config.queries.as_deref())?
    } else {
        Vec::new()
    };
    let report_queries = kpi::report_queries(config.queries.as_deref())?;
    // The config's names of parameters and tiles are checked against everything that
    // declares them, whatever this run computes.
    let declared: Vec<&Query> = all.iter().chain(&checks).chain(&report_queries).collect();
    kpi::check_config(config, &declared, &tiles::declared(&all)?)?;
    let queries = only(all, &req.only)?;
    let tiles = if req.report {
        tiles::declared(&queries)?
    } else {
        Vec::new()
    };
    let params = Params::new(config, req.as_of);
    // Keep the shared per-line view in memory only if several of these queries read it.
    let reads = ViewUse::of(queries.iter().chain(&checks).map(|q| q.sql.as_str()));
    let engine = Engine::open_at(
        &EngineOptions::from_config(config),
        lake,
        &params,
        reads,
        req.pinned.as_ref(),
    )?;
    log.phase("queries.register_lake", t);
    log.warnings.extend(engine.warnings().iter().cloned());
    let scheduler = engine.scheduler().map(str::to_string);
    let ctx = engine.ctx();
    let (results, freshness, checks, weights) =
        engine.run_queries("this run's queries", async {
            let s = Instant::now();
            let (weights, backtest_ranked) =
                priority_weights(ctx, &queries, config, &params, req).await?;
            if weights.is_some() {
                log.phase("queries.priority_weights", s);
            }
            let s = Instant::now();
            let kpi_params = match &weights {
                Some(w) => priority_fit::with_weights(&params, &w.weights),
                None => params.clone(),
            };
            let mut results = kpi::run_all(ctx, &queries, &kpi_params).await;
            // What only the KPIs read is not kept past them: the report's periods
            // bind other windows and free it (the window's 6.2 M orders at 16×);
            // the data checks come back to this binding for what they read.
            crate::engine::forget_kept_unread(ctx, checks.iter().map(|q| q.sql.as_str()));
            log.phase("queries.kpis", s);
            let s = Instant::now();
            let freshness = freshness::freshness(ctx, config, &params).await?;
            log.phase("queries.freshness", s);
            checks::register_results(ctx, &results)?;
            if req.report {
                let s = Instant::now();
                periods::register(
                    ctx,
                    &queries,
                    &tiles,
                    &results,
                    &freshness,
                    &params,
                    config.report.trend_weeks,
                )
                .await?;
                if let Some(sql) = tiles::sql(&tiles) {
                    let q = Query::parse(tiles::TABLE, tiles::HEADER, Origin::BuiltIn);
                    results.push(kpi::run_one(ctx, &q, &sql, &params).await);
                    let s = Instant::now();
                    results.push(kpi::drivers::compute(ctx, &tiles, &results, &params).await);
                    log.phase("queries.drivers", s);
                }
                // The report's derived tables read this run's KPI tables (`kpi.*`).
                let present: Vec<&str> = results
                    .iter()
                    .filter(|r| r.outcome.is_ok())
                    .map(|r| r.query.name.as_str())
                    .collect();
                let ready: Vec<Query> = report_queries
                    .iter()
                    .filter(|q| {
                        kpi::kpi_tables_read(&q.sql)
                            .iter()
                            .all(|t| present.contains(&t.as_str()))
                    })
                    .cloned()
                    .collect();
                results.extend(kpi::run_all(ctx, &ready, &params).await);
                log.phase("queries.report_inputs", s);
            }
            let s = Instant::now();
            let backtest_params = match &weights {
                Some(w) => priority_fit::with_weights(&params, &w.backtest_weights),
                None => params.clone(),
            };
            if let Some(r) = priority_backtest(
                ctx,
                &queries,
                &results,
                config,
                &backtest_params,
                &params,
                backtest_ranked,
            )
            .await
            {
                results.push(r);
                log.phase("queries.priority_backtest", s);
            }
            // The data checks read the lake and this run's tables (`kpi.<name>`).
            let s = Instant::now();
            let checks = if checks.is_empty() {
                Vec::new()
            } else {
                checks::register_results(ctx, &results)?;
                let done = checks::run_checks(ctx, &checks, &params).await;
                log.phase("queries.checks", s);
                done
            };
            Ok::<_, Error>((results, freshness, checks, weights))
        })?;
    log.phase("queries", t);
    if let Some(scheduler) = scheduler.as_ref() {
        // On a cluster a lost executor and a query's own error look alike from here;
        // a report with a KPI missing for either reason would be a partial answer.
        let failed = results
            .iter()
            .filter_map(|r| Some((r.query.name.clone(), r.outcome.as_ref().err()?.clone())))
            .chain(
                checks
                    .iter()
                    .filter_map(|c| Some((c.name.clone(), c.error.clone()?))),
            )
            .next();
        if let Some((name, message)) = failed {
            return Err(Error::Cluster {
                scheduler: scheduler.clone(),
                name,
                message,
            });
        }
    }
    for f in &freshness {
        match f.state {
            FeedState::Stale => log.warnings.push(format!(
                "feed {} is stale: newest data {} is {:.0} h before the end of the as-of date (expected within {:.0} h)",
                f.table,
                f.newest.clone().unwrap_or_default(),
                f.age_hours.unwrap_or(0.0),
                f.max_age_hours.unwrap_or(0.0)
            )),
            FeedState::Missing => log
                .warnings
                .push(format!("feed {} has no data up to the as-of date", f.table)),
            _ => {}
        }
        for l in &f.lagging {
            log.warnings.push(format!(
                "warehouse {} is late in {}: its newest data ({}) trails the others' by {:.0} h; its latest days are provisional",
                l.warehouse_id,
                f.table,
                l.newest.clone().unwrap_or_default(),
                l.behind_hours.unwrap_or(0.0)
            ));
        }
    }
    Ok(Computed {
        versions: engine.versions().clone(),
        params,
        tiles,
        results,
        freshness,
        checks,
        weights,
    })
}

/// Only the KPIs named (all when none is).
fn only(mut queries: Vec<Query>, names: &[String]) -> Result<Vec<Query>> {
    if names.is_empty() {
        return Ok(queries);
    }
    if let Some(unknown) = names
        .iter()
        .find(|n| !queries.iter().any(|q| &q.name == *n))
    {
        return Err(Error::setting(
            "--kpis",
            format!(
                "no KPI is called {unknown:?}{}; KPIs: {}",
                crate::config::did_you_mean(unknown, queries.iter().map(|q| q.name.as_str())),
                queries
                    .iter()
                    .map(|q| q.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    queries.retain(|q| names.contains(&q.name));
    Ok(queries)
}

/// The count priority's weights for this run, when it ranks the priority list: the
/// request's (a reproduced report), the documented defaults (`priority_fit = false`), or
/// fitted on the lake's history (`kpi::priority_fit`). A fit that cannot run keeps the
/// defaults and says why; the views are bound back to the run's own as-of date.
async fn priority_weights(
    ctx: &datafusion::prelude::SessionContext,
    queries: &[Query],
    config: &Config,
    params: &Params,
    req: &RunRequest,
) -> Result<(Option<WeightFit>, Option<(chrono::NaiveDate, Ranked)>)> {
    let Some(query) = queries.iter().find(|q| q.name == priority::QUERY) else {
        return Ok((None, None));
    };
    if let Some(w) = &req.weights {
        return Ok((Some(w.clone()), None));
    }
    let horizon = config.priority_backtest_days;
    let defaults = priority_fit::defaults(query, params);
    let kept = |reason: String| WeightFit::documented(&defaults, horizon, reason);
    if !config.priority_fit {
        return Ok((
            Some(kept("priority_fit = false in the config".into())),
            None,
        ));
    }
    let fitted = priority_fit::fit(ctx, query, params, horizon).await;
    crate::engine::bind_views(ctx, params, ViewUse::ONCE).await?;
    Ok(match fitted {
        // Ranked now for the backtest (its weights are the fit's to decide), so the
        // night holds six top-200 lists, not every SKU-location's evidence.
        Ok((fit, evidence)) => {
            let ranked = evidence.map(|e| (e.as_of, e.ranked(&fit.backtest_weights)));
            (Some(fit), ranked)
        }
        Err(e) => {
            tracing::warn!(error = %e, "the count priority's weights could not be fitted");
            (Some(kept(format!("the fit failed: {e}"))), None)
        }
    })
}

/// Backtest the priority list as of `priority_backtest_days` before the as-of date
/// (when the list itself was computed), as the `count_priority_backtest` table.
/// `ranked`: the weight fit's evidence of that date ranked with the backtest's weights,
/// when the fit had it; it stands in for a run of the query. A failure is that table's
/// error; the views are left bound to `params`.
async fn priority_backtest(
    ctx: &datafusion::prelude::SessionContext,
    queries: &[Query],
    results: &[KpiResult],
    config: &Config,
    params: &Params,
    run_params: &Params,
    ranked: Option<(chrono::NaiveDate, Ranked)>,
) -> Option<KpiResult> {
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
    let ranked = ranked
        .filter(|(as_of, _)| *as_of == earlier.as_of)
        .map(|(_, r)| r);
    let outcome = priority::backtest(ctx, query, &earlier, horizon, ranked).await;
    // Back to the run's own as-of (and its kept view, if it has one).
    let rebound = crate::engine::bind_views(ctx, run_params, ViewUse::ONCE).await;
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
        query: Query::parse(
            priority::BACKTEST_TABLE,
            priority::BACKTEST_HEADER,
            Origin::BuiltIn,
        ),
        schema,
        outcome,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// KPI tables as Parquet and CSV, then the page and its charts.
fn stage_outputs(
    staged: &Staged,
    config: &Config,
    req: &RunRequest,
    computed: &Computed,
    ingested: Option<&IngestReport>,
    started_at: &str,
    log: &mut Log,
) -> Result<()> {
    let t = Instant::now();
    let kpi_dir = staged.dir.join("kpis");
    std::fs::create_dir_all(&kpi_dir).map_err(io_at(&kpi_dir))?;
    for r in &computed.results {
        match &r.outcome {
            Ok(batches) => {
                kpi::output::write_parquet(
                    &kpi_dir.join(format!("{}.parquet", r.query.name)),
                    r.schema.clone(),
                    batches,
                )?;
                kpi::output::write_csv(
                    &kpi_dir.join(format!("{}.csv", r.query.name)),
                    &r.schema,
                    batches,
                )?;
            }
            Err(e) => log
                .warnings
                .push(format!("KPI {} failed: {e}", r.query.name)),
        }
    }
    for c in &computed.checks {
        match (&c.error, c.violations) {
            (Some(e), _) => log
                .warnings
                .push(format!("check {} could not run: {e}", c.name)),
            (None, 0) => {}
            (None, n) => log
                .warnings
                .push(format!("check {} found {n} rows: {}", c.name, c.title)),
        }
    }
    crate::fault::point("run.report");
    if req.report {
        let p = &computed.params;
        report::write(
            &staged.dir,
            &report::Inputs {
                run: report::RunFacts {
                    as_of: p.as_of.to_string(),
                    window_start: p.window_start_date().to_string(),
                    window_days: p.window_days,
                    time_zone: config.reporting_time_zone.clone(),
                    started_at: started_at.to_string(),
                    opintel_version: env!("CARGO_PKG_VERSION").into(),
                    datafusion_version: datafusion::DATAFUSION_VERSION.into(),
                },
                results: &computed.results,
                tiles: &computed.tiles,
                freshness: &computed.freshness,
                ingest: ingested,
                checks: &computed.checks,
                config,
                weights: computed.weights.as_ref(),
            },
        )?;
    }
    log.phase("report", t);
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn stage_manifest(
    staged: &Staged,
    config: &Config,
    req: &RunRequest,
    lake: &Lake,
    started_at: String,
    ingested: Option<IngestReport>,
    computed: &Computed,
    log: Log,
) -> Result<Manifest> {
    let kpis: Vec<KpiEntry> = computed
        .results
        .iter()
        .map(|r| KpiEntry {
            name: r.query.name.clone(),
            title: r.query.header.title.clone(),
            origin: match &r.query.origin {
                Origin::BuiltIn => "built-in".into(),
                Origin::User(p) => p.display().to_string(),
            },
            rows: r.rows(),
            seconds: r.seconds,
            parquet: r
                .outcome
                .is_ok()
                .then(|| format!("kpis/{}.parquet", r.query.name)),
            csv: r
                .outcome
                .is_ok()
                .then(|| format!("kpis/{}.csv", r.query.name)),
            error: r.outcome.as_ref().err().cloned(),
        })
        .collect();
    let failed_files = ingested.as_ref().map_or(0, |r| r.failed().count());
    let failed_kpis = kpis.iter().filter(|e| e.error.is_some()).count();
    let p = &computed.params;
    let manifest = Manifest {
        opintel_version: env!("CARGO_PKG_VERSION").into(),
        datafusion_version: datafusion::DATAFUSION_VERSION.into(),
        command: req.command.clone(),
        started_at,
        finished_at: now(),
        status: if failed_files + failed_kpis == 0 {
            RunStatus::Ok
        } else {
            RunStatus::Partial
        },
        as_of: req.as_of.to_string(),
        window_days: p.window_days,
        window_start: p.window_start_date().to_string(),
        window_end: req.as_of.to_string(),
        reporting_time_zone: config.reporting_time_zone.clone(),
        parameters: Parameters {
            count_tolerance: config.count_tolerance,
            sla_hours: config.sla_hours.clone(),
            history_days: config.history_days,
            priority_backtest_days: config.priority_backtest_days,
            params: config.params.clone(),
        },
        lake: lake.display(),
        lake_versions: computed.versions.clone(),
        phases: log.phases,
        ingest: ingested,
        freshness: computed.freshness.clone(),
        kpis,
        checks: computed.checks.clone(),
        warnings: log.warnings,
        alerts: None,
        priority_weights: computed.weights.clone(),
    };
    let path = staged.dir.join("manifest.json");
    std::fs::write(&path, serde_json::to_string_pretty(&manifest)? + "\n").map_err(io_at(&path))?;
    Ok(manifest)
}

fn stage_publish(staged: Staged, req: &RunRequest) -> Result<PathBuf> {
    let out = staged.publish()?;
    crate::fault::point("publish.after_swap");
    if req.point_latest {
        publish::point_latest(&out)?;
    }
    Ok(out)
}
