//! `opintel evaluate-priority` and `opintel backtest-priority`: the count priority
//! (built-in or the user's override) against known wrong records, or against what the
//! days after the as-of date revealed (see `kpi::priority`).

use std::path::Path;

use chrono::NaiveDate;

use crate::config::Config;
use crate::engine::{Engine, EngineOptions, Params, ViewUse};
use crate::error::Result;
use crate::kpi::{self, Query, priority};

/// A session over the lake bound to `as_of`, and the priority query to evaluate.
fn open(config: &Config, as_of: NaiveDate) -> Result<(Engine, Query, Params)> {
    let lake = super::existing_lake(config)?;
    let query = priority::priority_query(&kpi::catalogue(config.queries.as_deref())?)?;
    let params = Params::new(config, as_of);
    let engine = Engine::open(
        &EngineOptions::from_config(config),
        &lake,
        &params,
        ViewUse::Once,
    )?;
    Ok((engine, query, params))
}

/// precision@k / recall@k of the ranking as of `as_of` against a CSV of wrong records.
pub fn evaluate(config: &Config, as_of: NaiveDate, truth: &Path) -> Result<priority::Evaluation> {
    let (engine, query, params) = open(config, as_of)?;
    engine.run_queries(
        "the evaluation",
        priority::against_truth(engine.ctx(), &query, &params, truth),
    )
}

/// Rank as of `as_of`, score on the next `horizon` days.
pub fn backtest(config: &Config, as_of: NaiveDate, horizon: u32) -> Result<priority::Evaluation> {
    let (engine, query, params) = open(config, as_of)?;
    engine.run_queries(
        "the backtest",
        priority::backtest(engine.ctx(), &query, &params, horizon),
    )
}
