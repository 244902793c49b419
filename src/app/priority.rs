//! `opintel evaluate-priority` and `opintel backtest-priority`: the count priority
//! (built-in or the user's override) against known wrong records, or against what the
//! days after the as-of date revealed (see `kpi::priority`).

use std::path::Path;

use chrono::NaiveDate;

use crate::config::Config;
use crate::engine::{Engine, EngineOptions, Params, ViewUse};
use crate::error::Result;
use crate::kpi::priority_fit::{self, WeightFit};
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
        ViewUse::ONCE,
    )?;
    Ok((engine, query, params))
}

/// The weights to rank with as of `params.as_of`: fitted on the lake's history up to
/// then (`priority_fit`), unless `fit` is false or the config turns fitting off.
fn weighted(
    engine: &Engine,
    config: &Config,
    query: &Query,
    params: &Params,
    fit: bool,
) -> Result<(Params, Option<WeightFit>)> {
    if !(fit && config.priority_fit) {
        return Ok((params.clone(), None));
    }
    let ctx = engine.ctx();
    let (fitted, _) = engine.run_queries(
        "the weight fit",
        priority_fit::fit(ctx, query, params, config.priority_backtest_days),
    )?;
    engine.block_on(crate::engine::bind_views(ctx, params, ViewUse::ONCE))?;
    Ok((
        priority_fit::with_weights(params, &fitted.weights),
        Some(fitted),
    ))
}

/// precision@k / recall@k of the ranking as of `as_of` against a CSV of wrong records
/// (with fitted weights when `fit`).
pub fn evaluate(
    config: &Config,
    as_of: NaiveDate,
    truth: &Path,
    fit: bool,
) -> Result<priority::Evaluation> {
    let (engine, query, params) = open(config, as_of)?;
    let (params, weights) = weighted(&engine, config, &query, &params, fit)?;
    let mut e = engine.run_queries(
        "the evaluation",
        priority::against_truth(engine.ctx(), &query, &params, truth),
    )?;
    e.weights = weights;
    Ok(e)
}

/// Rank as of `as_of`, score on the next `horizon` days (with weights fitted on data
/// up to `as_of` when `fit`).
pub fn backtest(
    config: &Config,
    as_of: NaiveDate,
    horizon: u32,
    fit: bool,
) -> Result<priority::Evaluation> {
    let (engine, query, params) = open(config, as_of)?;
    let (params, weights) = weighted(&engine, config, &query, &params, fit)?;
    let mut e = engine.run_queries(
        "the backtest",
        priority::backtest(engine.ctx(), &query, &params, horizon, None),
    )?;
    e.weights = weights;
    Ok(e)
}
