//! What the report needs beyond the run's KPI tables: the same KPIs for the previous
//! window (the tiles' "change"), for each of the last weeks (the tiles' trend line),
//! and the freshness of every feed. All computed by the same query files with other
//! parameter values, so a tile's trend means exactly what its value means.

use std::collections::{BTreeSet, HashMap};

use chrono::{Duration, NaiveDate};
use datafusion::prelude::SessionContext;

use super::frame::Frame;
use super::tiles::TILES;
use crate::config::Config;
use crate::contract::{PARTITION_COLUMN, TABLES};
use crate::engine::{Params, ViewUse, bind_views};
use crate::error::Result;
use crate::kpi::{Query, run_query};
use crate::manifest::{FeedState, Freshness};

/// The report's extra inputs.
#[derive(Debug, Default)]
pub struct Extras {
    /// Tile source KPIs over the previous window.
    pub previous: HashMap<String, Frame>,
    /// (week's last day, tile source KPIs over that week), oldest first. Fill rate is
    /// not among them: its weeks are cut from the run's daily `fill_rate` rows.
    pub weekly: Vec<(NaiveDate, HashMap<String, Frame>)>,
    pub freshness: Vec<Freshness>,
}

/// Run the tile source queries for the previous window and the last weeks, and
/// measure freshness. Leaves the views bound as they were (to `params`).
pub async fn gather(
    ctx: &SessionContext,
    queries: &[Query],
    config: &Config,
    params: &Params,
) -> Result<Extras> {
    let sources: BTreeSet<&str> = TILES.iter().map(|t| t.source).collect();
    let wanted: Vec<&Query> = queries
        .iter()
        .filter(|q| sources.contains(q.name.as_str()))
        .collect();
    // Only the KPIs `keep` accepts are run: a window its table does not cover would
    // be thrown away, so it is not computed either.
    let run_set = |p: Params, keep: &dyn Fn(&str) -> bool| {
        let chosen: Vec<&Query> = wanted.iter().copied().filter(|q| keep(&q.name)).collect();
        async move {
            if chosen.is_empty() {
                return Ok(HashMap::new());
            }
            // Another window: bound once, so the run's kept view stays held.
            bind_views(ctx, &p, ViewUse::Once).await?;
            let mut out = HashMap::new();
            for q in chosen {
                if let Ok((schema, batches)) = run_query(ctx, q, &p).await {
                    out.insert(q.name.clone(), Frame::new(&schema, &batches));
                }
            }
            Ok::<_, crate::error::Error>(out)
        }
    };
    let mut extras = Extras {
        freshness: freshness(ctx, config, params).await?,
        ..Extras::default()
    };
    // A KPI over a window that starts before its table's first data would compare a
    // full window with a partial one: leave it out.
    let oldest: HashMap<&str, Option<i64>> = extras
        .freshness
        .iter()
        .map(|f| (f.table.as_str(), f.oldest_us))
        .collect();
    let oldest = &oldest;
    let covered = |p: &Params| {
        let start = p.window_start_us() + 86_400_000_000;
        move |kpi: &str| {
            TILES
                .iter()
                .find(|t| t.source == kpi)
                .and_then(|t| oldest.get(t.table).copied().flatten())
                .is_some_and(|o| o <= start)
        }
    };
    let mut prev = params.clone();
    prev.as_of = params.as_of - Duration::days(i64::from(params.window_days));
    let ok = covered(&prev);
    extras.previous = run_set(prev, &ok).await?;
    for k in (0..config.report.trend_weeks).rev() {
        let mut week = params.clone();
        week.as_of = params.as_of - Duration::days(7 * i64::from(k));
        week.window_days = 7;
        let as_of = week.as_of;
        let ok = covered(&week);
        // Fill rates are per due date already: their weeks come from this run's table.
        let keep = |k: &str| k != "fill_rate" && ok(k);
        let set = run_set(week, &keep).await?;
        extras.weekly.push((as_of, set));
    }
    // Back to the run's own window (and its kept view, if it has one).
    bind_views(ctx, params, ViewUse::Once).await?;
    Ok(extras)
}

/// Newest event per table up to end(D), and per warehouse where the table has one.
pub async fn freshness(
    ctx: &SessionContext,
    config: &Config,
    params: &Params,
) -> Result<Vec<Freshness>> {
    // One grouped pass per table gives both the table's newest and oldest event and
    // each warehouse's newest. Table and column names come from the contract.
    let sql = TABLES
        .iter()
        .map(|t| {
            let per_site = t.kind != crate::contract::TableKind::Master
                && t.field("warehouse_id").is_some();
            let (site, group) = if per_site {
                ("warehouse_id", " GROUP BY warehouse_id")
            } else {
                ("CAST(NULL AS VARCHAR)", "")
            };
            format!(
                "SELECT '{name}' AS t, {site} AS warehouse_id, \
                 CAST(max({col}) AS BIGINT) AS newest, CAST(min({col}) AS BIGINT) AS oldest \
                 FROM {name} WHERE {col} <= $window_end AND {PARTITION_COLUMN} <= $partition_max{group}",
                name = t.name,
                col = t.time_column
            )
        })
        .collect::<Vec<_>>()
        .join(" UNION ALL ");
    let df = ctx.sql(&sql).await?.with_param_values(params.values())?;
    let schema = std::sync::Arc::clone(df.schema().inner());
    let batches = df.collect().await?;
    let f = Frame::new(&schema, &batches);
    let (t, w, hi, lo) = (
        f.text("t"),
        f.text("warehouse_id"),
        f.num("newest"),
        f.num("oldest"),
    );
    let mut newest: HashMap<String, Option<i64>> = HashMap::new();
    let mut oldest: HashMap<String, Option<i64>> = HashMap::new();
    // A warehouse takes part in the lag check when it has data in the window: its
    // newest event up to end(D) is then its newest in the window.
    let mut by_warehouse: HashMap<String, std::collections::BTreeMap<String, Option<i64>>> =
        HashMap::new();
    let start = params.window_start_us();
    for i in 0..f.rows() {
        let Some(t) = &t[i] else { continue };
        let (n, o) = (hi[i].map(|v| v as i64), lo[i].map(|v| v as i64));
        let top = newest.entry(t.clone()).or_default();
        *top = (*top).max(n);
        let bottom = oldest.entry(t.clone()).or_default();
        *bottom = match (*bottom, o) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if let (Some(w), Some(n)) = (&w[i], n)
            && n >= start
        {
            by_warehouse
                .entry(t.clone())
                .or_default()
                .insert(w.clone(), Some(n));
        }
    }
    let rfc = |v: Option<i64>| {
        v.and_then(chrono::DateTime::from_timestamp_micros)
            .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
    };
    let lag_limit = config.warehouse_lag_hours;
    let end = params.window_end_us();
    Ok(TABLES
        .iter()
        .map(|t| {
            let n = newest.get(t.name).copied().flatten();
            let age = n.map(|v| (end - v) as f64 / 3.6e9);
            let limit = config.freshness_hours(t.name);
            let state = match (n, age, limit) {
                (None, _, _) => FeedState::Missing,
                (_, Some(a), Some(l)) if a > l => FeedState::Stale,
                (_, _, Some(_)) => FeedState::Fresh,
                _ => FeedState::Unchecked,
            };
            let o = oldest.get(t.name).copied().flatten();
            let mut lagging = Vec::new();
            if let Some(sites) = by_warehouse.get(t.name)
                && lag_limit > 0.0
                && sites.len() > 1
            {
                let top = sites.values().flatten().copied().max();
                for (w, v) in sites {
                    let behind = top.zip(*v).map(|(a, b)| (a - b) as f64 / 3.6e9);
                    if behind.is_none_or(|h| h > lag_limit) {
                        lagging.push(crate::manifest::Lagging {
                            warehouse_id: w.clone(),
                            newest: rfc(*v),
                            behind_hours: behind,
                        });
                    }
                }
            }
            Freshness {
                table: t.name.to_string(),
                newest: rfc(n),
                oldest: rfc(o),
                oldest_us: o,
                age_hours: age,
                max_age_hours: limit,
                state,
                lagging,
            }
        })
        .collect())
}
