//! What the report needs beyond the run's KPI tables: the same KPIs for the previous
//! window (the tiles' "change"), for each of the last weeks (the tiles' trend line),
//! and the freshness of every feed. All computed by the same query files with other
//! parameter values, so a tile's trend means exactly what its value means.

use std::collections::{BTreeSet, HashMap};

use chrono::{Duration, NaiveDate};
use datafusion::arrow::array::{Array, StringArray, TimestampMicrosecondArray};
use datafusion::prelude::SessionContext;

use super::frame::Frame;
use super::tiles::TILES;
use crate::config::Config;
use crate::contract::{PARTITION_COLUMN, TABLES};
use crate::engine::{Params, bind_views};
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
/// measure freshness. Leaves the views bound to `params` again.
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
    let run_set = |p: Params, skip: Option<&'static str>| {
        let wanted = &wanted;
        async move {
            bind_views(ctx, &p).await?;
            let mut out = HashMap::new();
            for q in wanted.iter().filter(|q| Some(q.name.as_str()) != skip) {
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
    extras.previous = run_set(prev, None).await?;
    extras.previous.retain(|k, _| ok(k));
    for k in (0..config.report.trend_weeks).rev() {
        let mut week = params.clone();
        week.as_of = params.as_of - Duration::days(7 * i64::from(k));
        week.window_days = 7;
        let as_of = week.as_of;
        let ok = covered(&week);
        // Fill rates are per due date already: their weeks come from this run's table.
        let mut set = run_set(week, Some("fill_rate")).await?;
        set.retain(|k, _| ok(k));
        extras.weekly.push((as_of, set));
    }
    bind_views(ctx, params).await?;
    Ok(extras)
}

/// Newest event per table up to end(D).
pub async fn freshness(
    ctx: &SessionContext,
    config: &Config,
    params: &Params,
) -> Result<Vec<Freshness>> {
    // Table and column names come from the contract, not from users.
    let sql = TABLES
        .iter()
        .map(|t| {
            format!(
                "SELECT '{name}' AS t, max({col}) AS newest, min({col}) AS oldest FROM {name} \
                 WHERE {col} <= $window_end AND {PARTITION_COLUMN} <= $partition_max",
                name = t.name,
                col = t.time_column
            )
        })
        .collect::<Vec<_>>()
        .join(" UNION ALL ");
    let batches = ctx
        .sql(&sql)
        .await?
        .with_param_values(params.values())?
        .collect()
        .await?;
    let mut newest: HashMap<String, Option<i64>> = HashMap::new();
    let mut oldest: HashMap<String, Option<i64>> = HashMap::new();
    for b in &batches {
        let (Some(names), Some(hi), Some(lo)) = (
            b.column(0).as_any().downcast_ref::<StringArray>(),
            b.column(1)
                .as_any()
                .downcast_ref::<TimestampMicrosecondArray>(),
            b.column(2)
                .as_any()
                .downcast_ref::<TimestampMicrosecondArray>(),
        ) else {
            continue;
        };
        for i in 0..b.num_rows() {
            newest.insert(
                names.value(i).to_string(),
                hi.is_valid(i).then(|| hi.value(i)),
            );
            oldest.insert(
                names.value(i).to_string(),
                lo.is_valid(i).then(|| lo.value(i)),
            );
        }
    }
    let rfc = |v: Option<i64>| {
        v.and_then(chrono::DateTime::from_timestamp_micros)
            .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
    };
    let by_warehouse = newest_by_warehouse(ctx, params).await?;
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

/// Newest event per warehouse in the window, for every table with a warehouse_id.
async fn newest_by_warehouse(
    ctx: &SessionContext,
    params: &Params,
) -> Result<HashMap<String, std::collections::BTreeMap<String, Option<i64>>>> {
    let sql = TABLES
        .iter()
        .filter(|t| t.kind != crate::contract::TableKind::Master && t.field("warehouse_id").is_some())
        .map(|t| {
            format!(
                "SELECT '{name}' AS t, warehouse_id, CAST(max({col}) AS BIGINT) AS newest FROM {name} \
                 WHERE {col} >= $window_start AND {col} <= $window_end \
                 AND {PARTITION_COLUMN} >= $partition_min AND {PARTITION_COLUMN} <= $partition_max \
                 AND warehouse_id IS NOT NULL \
                 GROUP BY warehouse_id",
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
    let (t, w, n) = (f.text("t"), f.text("warehouse_id"), f.num("newest"));
    let mut out: HashMap<String, std::collections::BTreeMap<String, Option<i64>>> = HashMap::new();
    for i in 0..f.rows() {
        if let (Some(t), Some(w)) = (&t[i], &w[i]) {
            out.entry(t.clone())
                .or_default()
                .insert(w.clone(), n[i].map(|v| v as i64));
        }
    }
    Ok(out)
}
