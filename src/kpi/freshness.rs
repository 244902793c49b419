//! How recent each feed is at the end of the as-of date: the newest value of each
//! table's time column up to end(D), per table and per warehouse, against the
//! expected cadence (`[freshness]`), and the warehouses whose newest data trails the
//! others' (a 3PL that sends its batches late). Reads each table's first and last
//! partitions and the window's, not its whole history.

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

const DAY_US: i64 = 86_400_000_000;

/// `days` since the epoch as YYYY-MM-DD.
fn iso_day(days: i32) -> String {
    chrono::DateTime::from_timestamp(i64::from(days) * 86_400, 0)
        .map(|d| d.date_naive().to_string())
        .unwrap_or_default()
}

/// Newest event per table up to end(D), and per warehouse where the table has one.
pub async fn freshness(
    ctx: &SessionContext,
    config: &Config,
    params: &Params,
) -> Result<Vec<Freshness>> {
    // Per table, one row (`part` = 'table') with its newest and oldest event up to
    // end(D), and for tables with sites one row per warehouse with its newest event in
    // the window. Table and column names come from the contract.
    let end_day = params.window_end_us().div_euclid(DAY_US) as i32;
    let mut parts = Vec::new();
    for t in TABLES {
        let (name, col) = (t.name, t.time_column);
        // A row's partition is the UTC day of its time column, so the oldest event is
        // in the first partition and the newest up to end(D) in the last one up to
        // end(D)'s day or, when all of that one's rows are later than end(D), the one
        // before: three partitions instead of the whole history.
        // (No partition up to that day: no file to read either way. `WHERE FALSE`
        // would plan an empty relation that a cluster cannot decode.)
        let picked = crate::engine::partition_days(ctx, name)
            .await
            .map(|days| {
                let upto: Vec<i32> = days.into_iter().filter(|d| *d <= end_day).collect();
                let mut pick: Vec<i32> = upto.iter().rev().take(2).copied().collect();
                pick.extend(upto.first());
                pick.sort_unstable();
                pick.dedup();
                pick
            })
            .filter(|pick| !pick.is_empty());
        let days = match picked {
            Some(pick) => {
                let list: Vec<String> = pick
                    .iter()
                    .map(|d| format!("DATE '{}'", iso_day(*d)))
                    .collect();
                format!(" AND {PARTITION_COLUMN} IN ({})", list.join(", "))
            }
            None => format!(" AND {PARTITION_COLUMN} <= $partition_max"),
        };
        parts.push(format!(
            "SELECT '{name}' AS t, 'table' AS part, CAST(NULL AS VARCHAR) AS warehouse_id, \
             CAST(max({col}) AS BIGINT) AS newest, CAST(min({col}) AS BIGINT) AS oldest \
             FROM {name} WHERE {col} <= $window_end{days}"
        ));
        if t.kind != crate::contract::TableKind::Master && t.field("warehouse_id").is_some() {
            // A warehouse takes part in the lag check when it has data in the window.
            parts.push(format!(
                "SELECT '{name}' AS t, 'site' AS part, warehouse_id, \
                 CAST(max({col}) AS BIGINT) AS newest, CAST(NULL AS BIGINT) AS oldest \
                 FROM {name} WHERE {col} >= $window_start AND {col} <= $window_end \
                 AND {PARTITION_COLUMN} >= $partition_min AND {PARTITION_COLUMN} <= $partition_max \
                 GROUP BY warehouse_id"
            ));
        }
    }
    let sql = parts.join(" UNION ALL ");
    let df = ctx.sql(&sql).await?.with_param_values(params.values())?;
    let schema = std::sync::Arc::clone(df.schema().inner());
    let batches = df.collect().await?;
    let f = Frame::new(&schema, &batches);
    let (t, part, w, hi, lo) = (
        f.text("t"),
        f.text("part"),
        f.text("warehouse_id"),
        f.num("newest"),
        f.num("oldest"),
    );
    let mut newest: HashMap<String, Option<i64>> = HashMap::new();
    let mut oldest: HashMap<String, Option<i64>> = HashMap::new();
    let mut by_warehouse: HashMap<String, std::collections::BTreeMap<String, Option<i64>>> =
        HashMap::new();
    for i in 0..f.rows() {
        let Some(t) = &t[i] else { continue };
        let (n, o) = (hi[i].map(|v| v as i64), lo[i].map(|v| v as i64));
        if part[i].as_deref() == Some("table") {
            newest.insert(t.clone(), n);
            oldest.insert(t.clone(), o);
        } else if let (Some(w), Some(n)) = (&w[i], n) {
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
