//! `opintel check`: the data checks (`queries/checks`) over the lake and a report's
//! KPI tables, without a run.

use std::path::Path;

use chrono::NaiveDate;

use crate::config::Config;
use crate::engine::{Engine, EngineOptions, Params, ViewUse, register_parquet_folder};
use crate::error::Result;
use crate::kpi::checks::{self, CheckResult};

/// Run every check as of `as_of`. The lake must exist; the checks that read `kpi.*`
/// read `report` (else `<reports>/latest`).
pub fn check(config: &Config, as_of: NaiveDate, report: Option<&Path>) -> Result<Vec<CheckResult>> {
    let lake = super::existing_lake(config)?;
    let report = super::report_folder(config, report)?;
    let params = Params::new(config, as_of);
    let list = checks::catalogue(config.queries.as_deref())?;
    let engine = Engine::open(
        &EngineOptions::from_config(config),
        &lake,
        &params,
        ViewUse::ONCE,
    )?;
    let ctx = engine.ctx();
    let in_memory = engine.on_cluster();
    engine.run_queries("the checks", async {
        if let Some(dir) = &report {
            register_parquet_folder(ctx, "kpi", &dir.join("kpis"), in_memory).await?;
        }
        Ok(checks::run_checks(ctx, &list, &params).await)
    })
}
