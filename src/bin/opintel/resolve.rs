//! Flags become settings in one step: the config file (`--config`, else
//! `opintel.toml` when present) with the command's flags over it, and the command's
//! request for the library. Nothing after this sees a flag.

use std::time::Duration;

use chrono::NaiveDate;
use opintel::app::demo::DemoRequest;
use opintel::app::generate::GenerateOptions;
use opintel::app::run::RunRequest;
use opintel::app::sql::SessionRequest;
use opintel::config::Config;
use opintel::error::Result;
use opintel::lake::Lake;

use crate::cli::{
    AsOfOpt, Cli, DemoArgs, GenerateArgs, LakeOpt, QueriesOpt, ReportOpt, RunArgs, WriteOpt,
};

/// The config file with `--lake` (and `--queries`) over it.
pub fn config(cli: &Cli, lake: &LakeOpt, queries: Option<&QueriesOpt>) -> Result<Config> {
    let mut config = Config::load(cli.config.as_deref())?;
    if let Some(l) = &lake.lake {
        config.lake.root = l.clone();
    }
    if let Some(c) = &lake.cluster {
        config.cluster.scheduler = Some(c.clone());
    }
    if let Some(q) = queries.and_then(|q| q.queries.clone()) {
        config.queries = Some(q);
    }
    Ok(config)
}

pub fn wait(w: &WriteOpt) -> Option<Duration> {
    w.wait.map(Duration::from_secs)
}

pub fn run(cli: &Cli, a: &RunArgs) -> Result<(Config, RunRequest)> {
    let mut config = config(cli, &a.lake, Some(&a.queries))?;
    if let Some(manifest) = &a.reproduce {
        if !a.paths.is_empty() {
            return Err(opintel::Error::setting(
                "--reproduce",
                "a reproduced report reads the lake as it was: give no export PATH",
            ));
        }
        return opintel::app::run::reproduce(config, manifest, a.out.clone());
    }
    if let Some(w) = a.window_days {
        config.window_days = w;
        config.validate()?;
    }
    let as_of = a.as_of.unwrap_or_else(opintel::app::default_as_of);
    let req = RunRequest {
        as_of,
        out: a
            .out
            .clone()
            .unwrap_or_else(|| config.reports.join(as_of.to_string())),
        inputs: a.paths.clone(),
        wait: wait(&a.write),
        point_latest: a.out.is_none(),
        command: std::env::args().collect::<Vec<_>>().join(" "),
        only: a.kpis.clone(),
        report: !a.no_report,
        pinned: None,
        weights: None,
    };
    Ok((config, req))
}

pub fn demo(a: &DemoArgs) -> DemoRequest {
    DemoRequest {
        out: a.out.clone(),
        data: a.data.clone(),
        scale: a.scale,
        seed: a.seed,
    }
}

pub fn generate(a: &GenerateArgs) -> GenerateOptions {
    GenerateOptions {
        out: a.out.clone(),
        seed: a.seed,
        days: a.days,
        scale: a.scale,
        end: a.end,
    }
}

/// An analyst session's request; `text` is the query (its `-- param:` defaults).
pub fn session(
    as_of: &AsOfOpt,
    report: &ReportOpt,
    params: &[String],
    text: &str,
) -> SessionRequest {
    SessionRequest {
        as_of: as_of.as_of,
        params: params.to_vec(),
        report: report.report.clone(),
        defaults: opintel::kpi::parse_header(text).params,
    }
}

/// `--as-of`, else the as-of date of the report (`report`, else `<reports>/latest`),
/// else the lake's latest data date, else yesterday.
pub fn as_of_or_latest(config: &Config, as_of: &AsOfOpt, report: Option<&ReportOpt>) -> NaiveDate {
    let report = opintel::app::report_folder(config, report.and_then(|r| r.report.as_deref()))
        .ok()
        .flatten();
    match Lake::open(&config.lake) {
        Ok(lake) => opintel::app::sql::default_as_of(as_of.as_of, report.as_deref(), &lake).date(),
        Err(_) => as_of.as_of.unwrap_or_else(opintel::app::default_as_of),
    }
}
