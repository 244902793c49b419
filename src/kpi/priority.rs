//! Does the cycle-count priority list earn its keep? Two ways to check it, each
//! comparing the `count_priority` query (built-in or the user's override) with the
//! baselines a warehouse would otherwise use, ranked by the same harness over the same
//! SKU-locations:
//!
//! - [`against_truth`]: precision@k and recall@k against a known list of wrong records
//!   (the generator's `ground_truth/record_errors.csv`, or any CSV with `warehouse_id`,
//!   `location_id`, `sku` columns);
//! - [`backtest`]: a time split that needs no labels: rank as of D from data ≤ end(D)
//!   only, then look at what the following H days revealed. A SKU-location is a hit when
//!   a cycle count found it off by more than `count_tolerance`, or an adjustment that
//!   only a wrong record explains (`count_correction`, `shrink`, `found`, `other`) was
//!   booked there in (end(D), end(D + H)].
//!
//! Baselines: `random` (a fixed hash of the key), `abc_overdue` (never counted first,
//! then days since counted ÷ ABC cycle of 90 / 180 / 365 days), `rule_ladder` (negative
//! stock on record → never counted or overdue, A before B before C → the rest by
//! overdue-ness), `largest_last_variance` (|counted − system| at the last count),
//! `most_exceptions` (pick shortages and bin mismatches in the history, raw counts).
//!
//! This module ranks and scores; it does not decide what to count (that is the query).

use std::cmp::Ordering;
use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

use chrono::{Duration, NaiveDate};
use datafusion::arrow::array::{ArrayRef, Date32Array, Float64Array, Int64Array, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::prelude::{CsvReadOptions, SessionContext};
use serde::Serialize;

use crate::engine::{self, Params};
use crate::error::{Error, Result};
use crate::kpi::frame::Frame;
use crate::kpi::{self, Query};

/// The k of precision@k and recall@k.
pub const KS: [usize; 4] = [25, 50, 100, 200];

/// The name of the priority query in the catalogue.
pub const QUERY: &str = "count_priority";

/// The nightly backtest's KPI table: its header (no SQL: the rows come from
/// [`backtest`] and [`Evaluation::to_batch`]).
pub const BACKTEST_TABLE: &str = "count_priority_backtest";
pub const BACKTEST_HEADER: &str = "-- title: Cycle-count priority backtest
-- description: Does the priority list earn its keep? The list is ranked again as of
--   priority_backtest_days before the as-of date, from the data up to then only, and
--   compared with what the following days revealed: a SKU-location is a hit when a
--   cycle count found it off by more than count_tolerance or a count_correction,
--   shrink, found or other adjustment was booked there. The same harness ranks the
--   baselines: random, ABC-overdue schedule, the rule ladder (negative stock, then
--   never counted or overdue A/B/C, then the rest), largest last variance and most
--   exceptions (pick shortages and bin mismatches, raw counts).
-- grain: method × k
-- columns:
--   kind: backtest
--   as_of: the date the list was ranked as of
--   horizon_days: days after as_of that decide a hit
--   method: score (the priority list) or a baseline
--   k: the top k of the ranking
--   hits: SKU-locations in the top k that the horizon showed to be wrong
--   precision: hits / k (0–1)
--   recall: hits / positives (0–1)
--   positives: SKU-locations the horizon showed to be wrong
--   candidates: SKU-locations ranked
";

/// Rankings compared: the score first, then the baselines.
const METHODS: [&str; 6] = [
    "score",
    "random",
    "abc_overdue",
    "rule_ladder",
    "largest_last_variance",
    "most_exceptions",
];

/// What the baselines need of one ranked SKU-location (columns of the query's output).
pub(crate) struct Candidate {
    key: String,
    /// The score's rank (1 = first).
    pub(crate) rank: f64,
    abc_class: String,
    days_since_count: Option<f64>,
    last_variance: Option<f64>,
    last_system_qty: Option<f64>,
    /// Pick shortages and bin mismatches in the history.
    exceptions: f64,
}

/// The query's output columns the baselines rank by, as a select list over it.
pub(crate) const BASELINE_COLUMNS: &str = "abc_class, days_since_count, last_variance, \
     last_system_qty, pick_shortages + bin_mismatches AS exceptions";

/// The candidates of a result with the key columns and [`BASELINE_COLUMNS`]; `rank`
/// from its `rank` column (its row number + 1 when it has none: set it after).
pub(crate) fn candidates(schema: &SchemaRef, batches: &[RecordBatch]) -> Vec<Candidate> {
    let f = Frame::new(schema, batches);
    let ks = keys(schema, batches);
    let (rank, abc) = (f.num("rank"), f.text("abc_class"));
    let (days, var, sys) = (
        f.num("days_since_count"),
        f.num("last_variance"),
        f.num("last_system_qty"),
    );
    let exceptions = f.num("exceptions");
    ks.into_iter()
        .enumerate()
        .map(|(i, key)| Candidate {
            key,
            rank: rank[i].unwrap_or(i as f64 + 1.0),
            abc_class: abc[i].clone().unwrap_or_default(),
            days_since_count: days[i],
            last_variance: var[i],
            last_system_qty: sys[i],
            exceptions: exceptions[i].unwrap_or(0.0),
        })
        .collect()
}

/// Every SKU-location ranked by the score and by each baseline: how many were ranked,
/// and each method's top keys (as deep as the largest k).
pub struct Ranked {
    candidates: usize,
    top: Vec<(&'static str, Vec<String>)>,
}

impl Ranked {
    pub(crate) fn of(candidates: &[Candidate]) -> Ranked {
        let deepest = KS[KS.len() - 1];
        Ranked {
            candidates: candidates.len(),
            top: METHODS
                .iter()
                .map(|&m| (m, rank_by(m, candidates, deepest)))
                .collect(),
        }
    }
}

impl Candidate {
    fn cycle_days(&self) -> f64 {
        match self.abc_class.as_str() {
            "A" => 90.0,
            "B" => 180.0,
            _ => 365.0,
        }
    }

    /// Days since counted ÷ ABC cycle; never counted is the most overdue of all.
    fn overdue(&self) -> f64 {
        self.days_since_count.map_or(1e9, |d| d / self.cycle_days())
    }

    /// The rule ladder's tier: negative stock, then never counted or overdue by class.
    fn tier(&self) -> u8 {
        if self.last_system_qty.is_some_and(|q| q < 0.0) {
            0
        } else if self.overdue() >= 1.0 {
            match self.abc_class.as_str() {
                "A" => 1,
                "B" => 2,
                _ => 3,
            }
        } else {
            4
        }
    }
}

/// The top `n` keys of `candidates` by `method` (ties by key).
fn rank_by(method: &str, candidates: &[Candidate], n: usize) -> Vec<String> {
    let v = |c: &Candidate| c.last_variance.map_or(0.0, f64::abs);
    let hashes: Vec<u64> = if method == "random" {
        candidates
            .iter()
            .map(|c| xxhash_rust::xxh3::xxh3_64(c.key.as_bytes()))
            .collect()
    } else {
        Vec::new()
    };
    let primary = |i: usize, j: usize| -> Ordering {
        let (a, b) = (&candidates[i], &candidates[j]);
        match method {
            "score" => a.rank.total_cmp(&b.rank),
            "random" => hashes[i].cmp(&hashes[j]),
            "abc_overdue" => b.overdue().total_cmp(&a.overdue()),
            "rule_ladder" => a
                .tier()
                .cmp(&b.tier())
                .then_with(|| b.overdue().total_cmp(&a.overdue())),
            "most_exceptions" => b.exceptions.total_cmp(&a.exceptions),
            _ => v(b).total_cmp(&v(a)),
        }
    };
    top_n(candidates.len(), n, |i, j| {
        primary(i, j).then_with(|| candidates[i].key.cmp(&candidates[j].key))
    })
    .into_iter()
    .map(|i| candidates[i].key.clone())
    .collect()
}

/// The first `n` of the indices `0..len` in the order `cmp` gives (equal ones in index
/// order: the prefix a stable sort would give), found by a selection and a sort of
/// those `n` alone. A full sort of every SKU-location per ranking (900 k at 16×, six
/// rankings, for a top 200) was about 1 s of CPU in `perf`.
pub(crate) fn top_n(len: usize, n: usize, cmp: impl Fn(usize, usize) -> Ordering) -> Vec<usize> {
    let cmp = |a: &usize, b: &usize| cmp(*a, *b).then(a.cmp(b));
    let mut order: Vec<usize> = (0..len).collect();
    if n == 0 {
        return Vec::new();
    }
    if len > n {
        order.select_nth_unstable_by(n - 1, cmp);
        order.truncate(n);
    }
    order.sort_unstable_by(cmp);
    order
}

/// One ranking's result at one k.
#[derive(Debug, Clone, Serialize)]
pub struct MethodScore {
    pub method: String,
    pub k: usize,
    pub hits: usize,
    pub precision: f64,
    pub recall: f64,
}

/// The outcome of one evaluation.
#[derive(Debug, Clone, Serialize)]
pub struct Evaluation {
    /// `ground_truth` or `backtest`.
    pub kind: String,
    #[serde(serialize_with = "iso_date")]
    pub as_of: NaiveDate,
    /// Days after the as-of date that decide a hit (backtest only).
    pub horizon_days: Option<u32>,
    /// SKU-locations ranked (the candidates).
    pub candidates: usize,
    /// SKU-locations known to be wrong (truth) or revealed as wrong (backtest).
    pub positives: usize,
    pub scores: Vec<MethodScore>,
    /// What makes these figures less than they seem (a horizon past the data).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// The weights the score ranked with, when they were fitted or decided for this
    /// evaluation (see `priority_fit`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weights: Option<crate::kpi::priority_fit::WeightFit>,
}

impl Evaluation {
    /// precision@k of a method.
    pub fn precision(&self, method: &str, k: usize) -> Option<f64> {
        self.scores
            .iter()
            .find(|s| s.method == method && s.k == k)
            .map(|s| s.precision)
    }

    /// The best baseline's precision@k, and its name.
    pub fn best_baseline(&self, k: usize) -> Option<(&str, f64)> {
        self.scores
            .iter()
            .filter(|s| s.k == k && s.method != "score")
            .max_by(|a, b| a.precision.total_cmp(&b.precision))
            .map(|s| (s.method.as_str(), s.precision))
    }

    /// A markdown table: one row per method, precision and recall per k.
    pub fn markdown(&self) -> String {
        let mut s = String::new();
        s.push_str("| method |");
        for k in KS {
            s.push_str(&format!(" P@{k} |"));
        }
        for k in KS {
            s.push_str(&format!(" R@{k} |"));
        }
        s.push_str("\n|---|");
        for _ in 0..KS.len() * 2 {
            s.push_str("---:|");
        }
        s.push('\n');
        for method in METHODS {
            s.push_str(&format!("| {method} |"));
            for k in KS {
                let v = self.scores.iter().find(|m| m.method == method && m.k == k);
                s.push_str(&format!(" {:.2} |", v.map_or(0.0, |v| v.precision)));
            }
            for k in KS {
                let v = self.scores.iter().find(|m| m.method == method && m.k == k);
                s.push_str(&format!(" {:.2} |", v.map_or(0.0, |v| v.recall)));
            }
            s.push('\n');
        }
        s
    }

    /// The scores as a KPI table: kind, as_of, horizon_days, method, k, hits,
    /// precision, recall, positives, candidates.
    pub fn to_batch(&self) -> Result<(SchemaRef, RecordBatch)> {
        let schema = Arc::new(Schema::new(vec![
            Field::new("kind", DataType::Utf8, false),
            Field::new("as_of", DataType::Date32, false),
            Field::new("horizon_days", DataType::Int64, true),
            Field::new("method", DataType::Utf8, false),
            Field::new("k", DataType::Int64, false),
            Field::new("hits", DataType::Int64, false),
            Field::new("precision", DataType::Float64, false),
            Field::new("recall", DataType::Float64, false),
            Field::new("positives", DataType::Int64, false),
            Field::new("candidates", DataType::Int64, false),
        ]));
        let n = self.scores.len();
        let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
        let day = (self.as_of - epoch).num_days() as i32;
        let cols: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(vec![self.kind.as_str(); n])),
            Arc::new(Date32Array::from(vec![day; n])),
            Arc::new(Int64Array::from(vec![self.horizon_days.map(i64::from); n])),
            Arc::new(StringArray::from_iter_values(
                self.scores.iter().map(|s| s.method.as_str()),
            )),
            Arc::new(Int64Array::from_iter_values(
                self.scores.iter().map(|s| s.k as i64),
            )),
            Arc::new(Int64Array::from_iter_values(
                self.scores.iter().map(|s| s.hits as i64),
            )),
            Arc::new(Float64Array::from_iter_values(
                self.scores.iter().map(|s| s.precision),
            )),
            Arc::new(Float64Array::from_iter_values(
                self.scores.iter().map(|s| s.recall),
            )),
            Arc::new(Int64Array::from(vec![self.positives as i64; n])),
            Arc::new(Int64Array::from(vec![self.candidates as i64; n])),
        ];
        let batch = RecordBatch::try_new(schema.clone(), cols)?;
        Ok((schema, batch))
    }
}

fn iso_date<S: serde::Serializer>(d: &NaiveDate, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.collect_str(d)
}

pub(crate) fn key(w: &str, l: &str, s: &str) -> String {
    format!("{w}\u{1f}{l}\u{1f}{s}")
}

/// The keys of a result with warehouse_id, location_id and sku columns, in order.
pub(crate) fn keys(schema: &SchemaRef, batches: &[RecordBatch]) -> Vec<String> {
    let f = Frame::new(schema, batches);
    let (w, l, s) = (f.text("warehouse_id"), f.text("location_id"), f.text("sku"));
    (0..f.rows())
        .map(|i| {
            key(
                w[i].as_deref().unwrap_or(""),
                l[i].as_deref().unwrap_or(""),
                s[i].as_deref().unwrap_or(""),
            )
        })
        .collect()
}

/// The priority query of a catalogue (a user's override wins).
pub fn priority_query(queries: &[Query]) -> Result<Query> {
    queries
        .iter()
        .find(|q| q.name == QUERY)
        .cloned()
        .ok_or_else(|| Error::query(QUERY, "there is no such query in the catalogue"))
}

/// Rank every SKU-location as of `params.as_of` by the score and by each baseline.
async fn rankings(ctx: &SessionContext, query: &Query, params: &Params) -> Result<Ranked> {
    let mut all = params.clone();
    // Rank everything, not only the published top N.
    all.extra.insert("top_n".into(), 1e15);
    // Only the columns read here: the planner then skips the rest (the `reasons`
    // text, built for every SKU-location, is most of the query's final step).
    let body = query.sql.trim_end().trim_end_matches(';');
    let narrow = Query {
        sql: format!(
            "SELECT rank, warehouse_id, location_id, sku, {BASELINE_COLUMNS} \
             FROM (\n{body}\n) ranked ORDER BY rank"
        ),
        ..query.clone()
    };
    let (schema, batches) = kpi::run_query(ctx, &narrow, &all).await?;
    Ok(Ranked::of(&candidates(&schema, &batches)))
}

fn score(ranked: &Ranked, positives: &HashSet<String>) -> Vec<MethodScore> {
    let mut out = Vec::new();
    for (method, ranked) in &ranked.top {
        for k in KS {
            let hits = ranked
                .iter()
                .take(k)
                .filter(|key| positives.contains(*key))
                .count();
            out.push(MethodScore {
                method: (*method).to_string(),
                k,
                hits,
                precision: hits as f64 / k as f64,
                recall: if positives.is_empty() {
                    0.0
                } else {
                    hits as f64 / positives.len() as f64
                },
            });
        }
    }
    out
}

/// precision@k / recall@k against a CSV of known wrong records, in a session over
/// the lake with the views bound to `params`.
pub async fn against_truth(
    ctx: &SessionContext,
    query: &Query,
    params: &Params,
    truth: &Path,
) -> Result<Evaluation> {
    let bad = |m: String| Error::input(truth, m);
    if !truth.is_file() {
        return Err(bad(
            "no such file (expected a CSV with warehouse_id, location_id, sku columns)".into(),
        ));
    }
    let path = std::path::absolute(truth).map_err(crate::error::io_at(truth))?;
    let schema = Schema::new(
        ["warehouse_id", "location_id", "sku"]
            .into_iter()
            .map(|c| Field::new(c, DataType::Utf8, true))
            .collect::<Vec<_>>(),
    );
    // Read the three key columns as text whatever else the file holds.
    let df = ctx
        .read_csv(
            path.to_string_lossy().as_ref(),
            CsvReadOptions::new().file_extension(""),
        )
        .await
        .map_err(|e| bad(e.to_string()))?;
    let df = df
        .select_columns(&["warehouse_id", "location_id", "sku"])
        .map_err(|e| bad(e.to_string()))?;
    let batches = df.collect().await?;
    let positives: HashSet<String> = keys(&Arc::new(schema), &cast_all(&batches)?)
        .into_iter()
        .collect();
    let ranked = rankings(ctx, query, params).await?;
    Ok(Evaluation {
        kind: "ground_truth".into(),
        as_of: params.as_of,
        horizon_days: None,
        candidates: ranked.candidates,
        positives: positives.len(),
        scores: score(&ranked, &positives),
        warnings: Vec::new(),
        weights: None,
    })
}

/// Cast every column to Utf8 (CSV inference may read an id as a number).
fn cast_all(batches: &[RecordBatch]) -> Result<Vec<RecordBatch>> {
    let schema = Arc::new(Schema::new(
        ["warehouse_id", "location_id", "sku"]
            .into_iter()
            .map(|c| Field::new(c, DataType::Utf8, true))
            .collect::<Vec<_>>(),
    ));
    batches
        .iter()
        .map(|b| {
            let cols = b
                .columns()
                .iter()
                .map(|c| datafusion::arrow::compute::cast(c, &DataType::Utf8))
                .collect::<std::result::Result<Vec<_>, _>>()?;
            Ok(RecordBatch::try_new(schema.clone(), cols)?)
        })
        .collect()
}

/// The SKU-locations that data after end(D) showed to be wrong, up to end(D + H): a
/// count off by more than the tolerance, or an adjustment of one of `{reasons}`.
const REVEALED: &str = "
SELECT warehouse_id, location_id, sku FROM cycle_counts
WHERE counted_at > $label_start AND counted_at <= $window_end
  AND event_date >= $partition_min AND event_date <= $partition_max
  AND abs(counted_qty - system_qty) > $count_tolerance
UNION
SELECT warehouse_id, location_id, sku FROM adjustments
WHERE adjusted_at > $label_start AND adjusted_at <= $window_end
  AND event_date >= $partition_min AND event_date <= $partition_max
  AND reason_code IN ({reasons})";

/// Adjustments that only a wrong record explains: the backtest's hits.
pub const REVEALING_ADJUSTMENTS: &[&str] = &["count_correction", "shrink", "found", "other"];

/// The keys (see [`key`]) revealed wrong in (end(D), end(D + H)] for D = `params.as_of`:
/// counts off by more than the tolerance and adjustments with one of `reasons`.
pub(crate) async fn revealed(
    ctx: &SessionContext,
    params: &Params,
    horizon: u32,
    reasons: &[&str],
) -> Result<HashSet<String>> {
    let list = reasons
        .iter()
        .map(|r| format!("'{}'", r.replace('\'', "''")))
        .collect::<Vec<_>>()
        .join(", ");
    label_keys(ctx, params, horizon, &REVEALED.replace("{reasons}", &list)).await
}

/// The keys counted at all in (end(D), end(D + H)].
pub(crate) async fn counted(
    ctx: &SessionContext,
    params: &Params,
    horizon: u32,
) -> Result<HashSet<String>> {
    let sql = "SELECT DISTINCT warehouse_id, location_id, sku FROM cycle_counts
               WHERE counted_at > $label_start AND counted_at <= $window_end
                 AND event_date >= $partition_min AND event_date <= $partition_max";
    label_keys(ctx, params, horizon, sql).await
}

/// The keys `sql` gives with the label window (end(D), end(D + H)] bound.
async fn label_keys(
    ctx: &SessionContext,
    params: &Params,
    horizon: u32,
    sql: &str,
) -> Result<HashSet<String>> {
    // The label window: (end(D), end(D + H)], bound as the window of a run as of D + H.
    let mut later = params.clone();
    later.as_of = params.as_of + Duration::days(i64::from(horizon));
    later.window_days = horizon;
    let mut values = later.values();
    if let datafusion::common::ParamValues::Map(m) = &mut values {
        m.insert(
            "label_start".into(),
            datafusion::common::ScalarValue::TimestampMicrosecond(
                Some(params.window_end_us()),
                Some("UTC".into()),
            )
            .into(),
        );
    }
    let df = ctx.sql(sql).await?.with_param_values(values)?;
    let schema = Arc::clone(df.schema().inner());
    let batches = df.collect().await?;
    Ok(keys(&schema, &batches).into_iter().collect())
}

/// Time-split backtest: rank as of `params.as_of`, hits from the next `horizon` days.
/// `ranked`: the rankings as of that date when the caller has them (the weight fit
/// computes the same evidence, see `priority_fit::Evidence`); otherwise the query is
/// run, and the views are left bound to `params`' as-of date. When the lake's counts
/// and adjustments end before the horizon does, the evaluation says so in its warnings.
pub async fn backtest(
    ctx: &SessionContext,
    query: &Query,
    params: &Params,
    horizon: u32,
    ranked: Option<Ranked>,
) -> Result<Evaluation> {
    if horizon == 0 {
        return Err(Error::setting(
            "horizon",
            "the backtest horizon must be at least 1 day",
        ));
    }
    let ranked = match ranked {
        Some(r) => r,
        None => {
            engine::bind_views(ctx, params, engine::ViewUse::ONCE).await?;
            rankings(ctx, query, params).await?
        }
    };
    let positives = revealed(ctx, params, horizon, REVEALING_ADJUSTMENTS).await?;
    let warnings = horizon_coverage(ctx, params, horizon).await?;
    Ok(Evaluation {
        kind: "backtest".into(),
        as_of: params.as_of,
        horizon_days: Some(horizon),
        candidates: ranked.candidates,
        positives: positives.len(),
        scores: score(&ranked, &positives),
        warnings,
        weights: None,
    })
}

/// A warning when the lake's newest count or adjustment falls short of end(D + H):
/// the days after it cannot reveal anything, so the precision is understated.
pub(crate) async fn horizon_coverage(
    ctx: &SessionContext,
    params: &Params,
    horizon: u32,
) -> Result<Vec<String>> {
    let sql = "SELECT CAST(max(t) AS BIGINT) AS newest FROM (
                   SELECT max(counted_at) AS t FROM cycle_counts
                   UNION ALL SELECT max(adjusted_at) FROM adjustments)";
    let (schema, batches) = kpi::run_sql(ctx, "backtest_horizon", sql, params).await?;
    let newest = Frame::new(&schema, &batches)
        .num("newest")
        .first()
        .copied()
        .flatten()
        .map(|v| v as i64);
    let end = params.as_of + Duration::days(i64::from(horizon));
    let Some(newest) = newest.and_then(chrono::DateTime::from_timestamp_micros) else {
        return Ok(vec![format!(
            "the lake has no cycle counts or adjustments: nothing can be revealed in the {horizon} days after {}",
            params.as_of
        )]);
    };
    let last = newest.with_timezone(&params.tz).date_naive();
    if last >= end {
        return Ok(Vec::new());
    }
    let covered = (last - params.as_of).num_days().max(0);
    Ok(vec![format!(
        "the horizon runs to {end} but the lake's counts and adjustments end on {last}: only {covered} of the {horizon} days after {} can reveal anything, so these precisions are understated",
        params.as_of
    )])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The selection gives what a full stable sort gives in its first `n`, ties
    /// included: many equal values, `n` of 0, inside, at and past the length.
    #[test]
    fn the_top_n_is_the_prefix_of_a_stable_sort() {
        let mut seed = 11u64;
        let values: Vec<u32> = (0..5_000)
            .map(|_| {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((seed >> 33) % 40) as u32
            })
            .collect();
        let cmp = |a: usize, b: usize| values[b].cmp(&values[a]);
        let mut sorted: Vec<usize> = (0..values.len()).collect();
        sorted.sort_by(|&a, &b| cmp(a, b));
        for n in [0, 1, 7, 200, 4_999, 5_000, 6_000] {
            let expected: Vec<usize> = sorted.iter().copied().take(n).collect();
            assert_eq!(top_n(values.len(), n, cmp), expected, "n = {n}");
        }
        assert!(top_n(0, 5, cmp).is_empty());
    }
}
