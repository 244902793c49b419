//! The periods the tiles compare: the run's window (`current`), the window before it
//! (`previous`) and each of the last weeks (`week`). Every KPI that declares a tile is
//! computed for each period by its own query file with other parameter values, so a
//! tile's change and trend mean exactly what its value means. (A query whose header
//! says `-- trend: <date column>` has its weeks cut from the run's own rows by that
//! column instead: fill rate is per due date already.)
//!
//! The rows are registered as `periods.<kpi>` with two more columns, `period` and
//! `period_end`, beside `periods.calendar` (tile, period, period_end, covered): a
//! period is covered when the tile's feed has data from the period's start on (one day
//! of slack), so a full window is never compared with a partial one. `tiles::sql` reads
//! them; nothing here computes a tile.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{Duration, NaiveDate};
use datafusion::arrow::array::{
    Array, ArrayRef, BooleanArray, Date32Array, RecordBatch, StringArray,
};
use datafusion::arrow::compute::filter_record_batch;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::prelude::SessionContext;

use super::freshness::Freshness;
use super::tiles::TileDef;
use super::{KpiResult, Query, run_query};
use crate::engine::{Params, ViewUse, bind_views};
use crate::error::Result;

/// One period of the comparison.
#[derive(Debug, Clone)]
struct Period {
    name: &'static str,
    params: Params,
}

impl Period {
    fn end(&self) -> NaiveDate {
        self.params.as_of
    }
}

/// Compute every tile source for every period and register `periods.*` in `ctx`.
/// `results` are the run's KPI tables (the current period); `trend_weeks` weekly
/// periods end on the as-of date and the 7·k days before it. Leaves the views bound
/// to `params` as they were.
pub async fn register(
    ctx: &SessionContext,
    queries: &[Query],
    tiles: &[TileDef],
    results: &[KpiResult],
    freshness: &[Freshness],
    params: &Params,
    trend_weeks: u32,
) -> Result<()> {
    let mut periods = vec![Period {
        name: "previous",
        params: Params {
            as_of: params.as_of - Duration::days(i64::from(params.window_days)),
            ..params.clone()
        },
    }];
    for k in (0..trend_weeks).rev() {
        periods.push(Period {
            name: "week",
            params: Params {
                as_of: params.as_of - Duration::days(7 * i64::from(k)),
                window_days: 7,
                ..params.clone()
            },
        });
    }
    // Oldest data of each feed: a period starting before it (plus a day) is partial.
    let oldest: BTreeMap<&str, Option<i64>> = freshness
        .iter()
        .map(|f| (f.table.as_str(), f.oldest_us))
        .collect();
    let covered = |feed: &str, p: &Params| {
        let start = p.window_start_us() + 86_400_000_000;
        oldest
            .get(feed)
            .copied()
            .flatten()
            .is_some_and(|o| o <= start)
    };
    let has_data = |feed: &str| freshness.iter().any(|f| f.table == feed && f.has_data());

    // The sources and their current rows.
    let mut tables: BTreeMap<String, Source> = BTreeMap::new();
    for t in tiles {
        if tables.contains_key(&t.source) {
            continue;
        }
        let Some(r) = results.iter().find(|r| r.query.name == t.source) else {
            continue;
        };
        let (Ok(batches), Some(query)) = (&r.outcome, queries.iter().find(|q| q.name == t.source))
        else {
            continue;
        };
        let mut src = Source::new(query.clone(), Arc::clone(&r.schema));
        src.add("current", params.as_of, batches);
        tables.insert(t.source.clone(), src);
    }
    // A source is run for a period when one of its tiles' feeds covers that period.
    let wanted = |source: &str, p: &Params| {
        tiles
            .iter()
            .any(|t| t.source == source && covered(&t.feed, p))
    };
    let mut done: BTreeMap<(String, &'static str, NaiveDate), bool> = BTreeMap::new();
    for p in &periods {
        let to_run: Vec<String> = tables
            .iter()
            .filter(|(name, src)| {
                wanted(name, &p.params)
                    && !(p.name == "week" && src.query.header.trend_by.is_some())
            })
            .map(|(name, _)| name.clone())
            .collect();
        let started = std::time::Instant::now();
        if !to_run.is_empty() {
            // Another window: bound once, so the run's kept view stays held.
            bind_views(ctx, &p.params, ViewUse::ONCE).await?;
        }
        let bind_seconds = started.elapsed().as_secs_f64();
        let queries: Vec<(String, Query)> = to_run
            .iter()
            .filter_map(|name| Some((name.clone(), tables.get(name)?.query.clone())))
            .collect();
        let mut results: BTreeMap<String, _> = crate::kpi::at_once(queries, |(name, q)| {
            let (ctx, params) = (ctx.clone(), p.params.clone());
            let (period, end) = (p.name, p.end());
            async move {
                let query_started = std::time::Instant::now();
                let result = run_query(&ctx, &q, &params).await;
                tracing::debug!(
                    kpi = %name,
                    period,
                    end = %end,
                    seconds = query_started.elapsed().as_secs_f64(),
                    "period query done"
                );
                (name, result)
            }
        })
        .await
        .into_iter()
        .collect();
        for name in tables.keys().cloned().collect::<Vec<_>>() {
            let Some(src) = tables.get_mut(&name) else {
                continue;
            };
            let ok = if let Some(result) = results.remove(&name) {
                match result {
                    Ok((_, batches)) => src.add(p.name, p.end(), &batches),
                    Err(e) => {
                        tracing::warn!(kpi = %name, period = p.name, error = %e, "period not computed");
                        false
                    }
                }
            } else if p.name == "week" && wanted(&name, &p.params) {
                match src.query.header.trend_by.clone() {
                    Some(column) => src.cut_week(&column, p.end()),
                    None => false,
                }
            } else {
                false
            };
            done.insert((name, p.name, p.end()), ok);
        }
        if !to_run.is_empty() {
            tracing::info!(
                period = p.name,
                end = %p.end(),
                queries = to_run.len(),
                bind_seconds,
                seconds = started.elapsed().as_secs_f64(),
                "period done"
            );
        }
    }
    // Back to the run's own window (and its kept view, if it has one).
    bind_views(ctx, params, ViewUse::ONCE).await?;

    let mut calendar: (Vec<String>, Vec<String>, Vec<i32>, Vec<bool>) = Default::default();
    let mut push = |tile: &str, period: &str, end: NaiveDate, ok: bool| {
        calendar.0.push(tile.to_string());
        calendar.1.push(period.to_string());
        calendar.2.push(days(end));
        calendar.3.push(ok);
    };
    for t in tiles {
        let source_ok = tables.contains_key(&t.source);
        push(
            &t.key,
            "current",
            params.as_of,
            source_ok && has_data(&t.feed),
        );
        for p in &periods {
            let ok = done
                .get(&(t.source.clone(), p.name, p.end()))
                .copied()
                .unwrap_or(false);
            push(&t.key, p.name, p.end(), ok && covered(&t.feed, &p.params));
        }
    }
    let schema = Arc::new(Schema::new(vec![
        Field::new("tile", DataType::Utf8, false),
        Field::new("period", DataType::Utf8, false),
        Field::new("period_end", DataType::Date32, false),
        Field::new("covered", DataType::Boolean, false),
    ]));
    let batch = RecordBatch::try_new(
        Arc::clone(&schema),
        vec![
            Arc::new(StringArray::from(calendar.0)),
            Arc::new(StringArray::from(calendar.1)),
            Arc::new(Date32Array::from(calendar.2)),
            Arc::new(BooleanArray::from(calendar.3)),
        ],
    )?;
    let mut registered = vec![("calendar".to_string(), schema, vec![batch])];
    for (name, src) in tables {
        registered.push((name, src.schema, src.batches));
    }
    crate::engine::register_batches(ctx, "periods", &registered)
}

/// One tile source's rows over all periods.
struct Source {
    query: Query,
    /// The KPI's own schema.
    kpi_schema: SchemaRef,
    /// With `period` and `period_end`.
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
    /// The current period's rows (for weeks cut by a date column).
    current: Vec<RecordBatch>,
}

impl Source {
    fn new(query: Query, kpi_schema: SchemaRef) -> Source {
        let mut fields: Vec<Field> = kpi_schema
            .fields()
            .iter()
            .map(|f| f.as_ref().clone())
            .collect();
        fields.push(Field::new("period", DataType::Utf8, false));
        fields.push(Field::new("period_end", DataType::Date32, false));
        Source {
            query,
            kpi_schema,
            schema: Arc::new(Schema::new(fields)),
            batches: Vec::new(),
            current: Vec::new(),
        }
    }

    /// Add a period's rows; false when they do not fit the KPI's schema.
    fn add(&mut self, period: &str, end: NaiveDate, batches: &[RecordBatch]) -> bool {
        if period == "current" {
            self.current = batches.to_vec();
        }
        for b in batches {
            let n = b.num_rows();
            let mut cols: Vec<ArrayRef> = b.columns().to_vec();
            cols.push(Arc::new(StringArray::from(vec![period; n])));
            cols.push(Arc::new(Date32Array::from(vec![days(end); n])));
            match RecordBatch::try_new(Arc::clone(&self.schema), cols) {
                Ok(tagged) => self.batches.push(tagged),
                Err(e) => {
                    tracing::warn!(kpi = %self.query.name, period, error = %e, "period rows do not fit");
                    return false;
                }
            }
        }
        true
    }

    /// The week ending on `end`, cut from the current rows by a date column.
    fn cut_week(&mut self, column: &str, end: NaiveDate) -> bool {
        let Ok(i) = self.kpi_schema.index_of(column) else {
            tracing::warn!(kpi = %self.query.name, column, "trend column not in the table");
            return false;
        };
        let (first, last) = (days(end - Duration::days(6)), days(end));
        let mut week = Vec::new();
        for b in &self.current {
            let Some(dates) = b.column(i).as_any().downcast_ref::<Date32Array>() else {
                return false;
            };
            let keep: BooleanArray = (0..dates.len())
                .map(|r| {
                    Some(dates.is_valid(r) && dates.value(r) >= first && dates.value(r) <= last)
                })
                .collect();
            match filter_record_batch(b, &keep) {
                Ok(part) => week.push(part),
                Err(_) => return false,
            }
        }
        self.add("week", end, &week)
    }
}

fn days(d: NaiveDate) -> i32 {
    (d - NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default()).num_days() as i32
}
