//! How recent each feed is at the end of the as-of date: the newest value of each
//! table's time column up to end(D), per table and per warehouse, against the
//! expected cadence (`[freshness]`), and the warehouses whose newest data trails the
//! others' (a 3PL that sends its batches late). One grouped pass over every table.

use std::collections::HashMap;

use datafusion::prelude::SessionContext;
use serde::Serialize;

use super::frame::Frame;
use crate::config::Config;
use crate::contract::{PARTITION_COLUMN, TABLES};
use crate::engine::Params;
use crate::error::Result;

/// How recent a table's data is at the end of the as-of date.
#[derive(Debug, Clone, Serialize)]
pub struct Freshness {
    pub table: String,
    /// Newest value of the table's time column up to end(D), RFC 3339.
    pub newest: Option<String>,
    /// Oldest value of the table's time column, RFC 3339.
    pub oldest: Option<String>,
    /// The same in µs (for coverage checks; not written).
    #[serde(skip)]
    pub oldest_us: Option<i64>,
    /// Hours from that value to end(D).
    pub age_hours: Option<f64>,
    /// Hours after which the feed counts as stale (none: not checked).
    pub max_age_hours: Option<f64>,
    pub state: FeedState,
    /// Warehouses whose newest data in the window trails the table's newest by more
    /// than `warehouse_lag_hours` (a late site: its latest days are provisional).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub lagging: Vec<Lagging>,
    /// The first date (reporting time zone) whose data from this feed is incomplete:
    /// the day of its newest data when it is stale; for a late warehouse, the day that
    /// many hours before its newest data (the hours it trails the others by). Time
    /// charts draw days from here on as provisional.
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "iso_date")]
    pub provisional_from: Option<chrono::NaiveDate>,
}

fn iso_date<S: serde::Serializer>(
    d: &Option<chrono::NaiveDate>,
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_str(&d.to_string()),
        None => s.serialize_none(),
    }
}

impl Freshness {
    /// Whether the feed has any data up to end(D).
    pub fn has_data(&self) -> bool {
        !matches!(self.state, FeedState::Missing | FeedState::NotSent)
    }
}

/// The first provisional day among `feeds` (see [`Freshness::provisional_from`]).
pub fn provisional_from(freshness: &[Freshness], feeds: &[String]) -> Option<chrono::NaiveDate> {
    freshness
        .iter()
        .filter(|f| feeds.iter().any(|t| t == &f.table))
        .filter_map(|f| f.provisional_from)
        .min()
}

/// A warehouse behind the rest in one table.
#[derive(Debug, Clone, Serialize)]
pub struct Lagging {
    pub warehouse_id: String,
    /// Its newest value in the window (RFC 3339).
    pub newest: Option<String>,
    /// Hours behind the table's newest value.
    pub behind_hours: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FeedState {
    Fresh,
    Stale,
    /// No rows at all up to end(D).
    Missing,
    /// An optional feed (inventory snapshots) this lake has never received: not a
    /// problem, and the KPIs that need it are empty.
    NotSent,
    /// No expectation configured (and rows exist).
    Unchecked,
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
                (None, _, _) if t.optional() => FeedState::NotSent,
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
                        lagging.push(Lagging {
                            warehouse_id: w.clone(),
                            newest: rfc(*v),
                            behind_hours: behind,
                        });
                    }
                }
            }
            let day = |us: i64| {
                chrono::DateTime::from_timestamp_micros(us)
                    .map(|d| d.with_timezone(&params.tz).date_naive())
            };
            let mut provisional: Option<chrono::NaiveDate> = None;
            if state == FeedState::Stale {
                provisional = n.and_then(day);
            }
            // A late site's data thins out over the hours it trails by before its
            // newest row (batches still in flight): from there on its days are partial.
            if let Some(sites) = by_warehouse.get(t.name) {
                for l in &lagging {
                    let behind_us = (l.behind_hours.unwrap_or(0.0) * 3.6e9) as i64;
                    if let Some(d) = sites
                        .get(&l.warehouse_id)
                        .copied()
                        .flatten()
                        .and_then(|n| day(n - behind_us))
                    {
                        provisional = Some(provisional.map_or(d, |p| p.min(d)));
                    }
                }
            }
            Freshness {
                table: t.name.to_string(),
                provisional_from: provisional,
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
