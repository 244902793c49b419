//! The count priority's weights, learned each night from the site's own history.
//!
//! The priority score is a weighted sum of evidence components (`count_priority`'s
//! `*_points` columns); its documented weights are the query header's `-- param:
//! w_*` lines, overridden by `[params]`. A site whose errors show differently can do
//! better with its own weights, and its history says which: a time split.
//!
//! - **Features**: the query run as of a past date T with every weight 1 (and
//!   `w_recurrence` 0, so the "two or more counts off" bonus is a feature of its own),
//!   over every SKU-location: one number per component, as the score would add it.
//! - **Rows and label**: the SKU-locations counted in the H days after T (H =
//!   `priority_backtest_days`), or corrected there; the label is whether that count
//!   found the record off by more than the tolerance (or a `count_correction` was
//!   booked). Only what was counted can show whether it was right: a label over every
//!   SKU-location ("revealed or not") mostly learns which bins the operation's own
//!   schedule counts next (overdue, busy, costly ones), not which records are wrong. On
//!   generated operations that version of the fit found the planted wrong records 0.58
//!   of the time in its top 50, against 0.98 for the defaults. Shrink, found and other
//!   adjustments are left out of the label (unlike the backtest's hits): busy bins book
//!   them innocently.
//! - **Fit**: an L2-regularised logistic regression (linfa) on the standardised
//!   features. A weight is its coefficient on the original scale, and never below 0:
//!   every component still only adds to the score, so `reasons` keep explaining it.
//!   The weights are then scaled so the score spreads as much as with the defaults
//!   (Σ weight × standard deviation is equal), which keeps the published scores
//!   readable next to earlier nights'; the ranking does not depend on the scale.
//! - **Guard**: weights fitted on the split at D − 2H (labels up to D − H) rank the
//!   split at D − H (its counted SKU-locations); they are kept only if they find 10%
//!   more of its wrong records in the top 25/50/100/200 (summed) than the defaults do,
//!   and no fewer in the top 50 ([`MARGIN`]). The weights the
//!   night then uses are fitted again on the latest split (T = D − H, labels up to D).
//! - **Fallback**: the defaults, with the reason, when a split has fewer than
//!   [`MIN_POSITIVES`] revealed records or only one class, when the query lacks a
//!   component column (a user's override), or when the guard fails.
//!
//! The nightly backtest then ranks with the weights fitted on the earlier split, so the
//! precision it publishes is out of sample. The manifest records all of it
//! ([`WeightFit`]); `run --reproduce` reuses the recorded weights.

use std::collections::{BTreeMap, HashSet};

use chrono::{Duration, NaiveDate};
use datafusion::prelude::SessionContext;
use serde::{Deserialize, Serialize};

use crate::engine::{self, Params};
use crate::error::Result;
use crate::kpi::frame::Frame;
use crate::kpi::{self, Origin, Query, priority};

/// Each weight (a `-- param:` of the query) and the column that is its feature.
/// `w_recurrence`'s feature is derived: 1 when two or more counts were off.
pub const COMPONENTS: [(&str, &str); 12] = [
    ("w_shortage", "shortage_points"),
    ("w_mismatch", "mismatch_points"),
    ("w_variance", "variance_points"),
    ("w_recurrence", "counts_with_variance"),
    ("w_adjustment", "adjustment_points"),
    ("w_phantom", "phantom_points"),
    ("w_since", "drift_points"),
    ("w_negative", "negative_stock_points"),
    ("w_overdue", "overdue_points"),
    ("w_velocity", "velocity_points"),
    ("w_supplier", "supplier_points"),
    ("w_value", "value_points"),
];
const N: usize = COMPONENTS.len();

/// Fewer revealed records than this in a split: too little to learn from.
pub const MIN_POSITIVES: usize = 30;

/// Fitted weights are kept only when they find this many times the defaults' wrong
/// records (top 25/50/100/200 summed) on the later split. The splits are small (a
/// fortnight's counts), and on generated operations a fit that merely matched the
/// defaults there (2–3% more) ranked the planted wrong records worse (0.92 against
/// 0.98 in the top 50): a narrow win is noise.
const MARGIN: f64 = 1.1;

/// Adjustments that count as a revealed wrong record in the fit's label.
const LABEL_ADJUSTMENTS: &[&str] = &["count_correction"];

/// What the night's fit decided, for the manifest.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct WeightFit {
    /// `fitted` or `defaults`.
    pub status: String,
    /// Why (the guard's numbers, or why the defaults were kept).
    pub reason: String,
    /// The weights today's priority list was ranked with.
    pub weights: BTreeMap<String, f64>,
    /// The weights the nightly backtest ranked with (fitted on the earlier split, so
    /// its precision is out of sample; the defaults when not fitted).
    pub backtest_weights: BTreeMap<String, f64>,
    /// The documented weights (query header, then `[params]`).
    pub defaults: BTreeMap<String, f64>,
    /// Days after each split's date that decide its label.
    pub horizon_days: u32,
    /// The guard: the split at D − H ranked by weights fitted on D − 2H and by the
    /// defaults (absent when it could not run).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub validation: Option<Validation>,
}

impl WeightFit {
    /// The documented weights everywhere, and why.
    pub fn documented(defaults: &BTreeMap<String, f64>, horizon: u32, reason: String) -> WeightFit {
        WeightFit {
            status: "defaults".into(),
            reason,
            weights: defaults.clone(),
            backtest_weights: defaults.clone(),
            defaults: defaults.clone(),
            horizon_days: horizon,
            validation: None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Validation {
    pub as_of: NaiveDate,
    /// SKU-locations counted (or corrected) in the days after `as_of`.
    pub candidates: usize,
    pub positives: usize,
    /// Revealed records in the top 25, 50, 100 and 200.
    pub hits_fitted: Vec<usize>,
    pub hits_defaults: Vec<usize>,
}

/// One split: every SKU-location's features as of a date and whether the next days
/// revealed it.
struct Split {
    x: Vec<[f64; N]>,
    y: Vec<bool>,
    keys: Vec<String>,
}

impl Split {
    fn positives(&self) -> usize {
        self.y.iter().filter(|&&v| v).count()
    }
}

/// The documented weights: the query header's, overridden by `params.extra`.
pub fn defaults(query: &Query, params: &Params) -> BTreeMap<String, f64> {
    let p = params.with_defaults(&query.header.params);
    COMPONENTS
        .iter()
        .map(|(w, _)| (w.to_string(), p.extra.get(*w).copied().unwrap_or(0.0)))
        .collect()
}

/// Learn the weights for the list as of `params.as_of` (see the module doc). Leaves the
/// views bound to other dates: the caller binds them back. With the fit, the evidence
/// of the built-in query as of D − H when the fit computed it: the nightly backtest
/// ranks that date, and [`Evidence::ranked`] spares it a run of the query.
pub async fn fit(
    ctx: &SessionContext,
    query: &Query,
    params: &Params,
    horizon: u32,
) -> Result<(WeightFit, Option<Evidence>)> {
    let mut evidence = None;
    let fitted = fit_keeping(ctx, query, params, horizon, &mut evidence).await?;
    Ok((fitted, evidence))
}

async fn fit_keeping(
    ctx: &SessionContext,
    query: &Query,
    params: &Params,
    horizon: u32,
    evidence: &mut Option<Evidence>,
) -> Result<WeightFit> {
    let defaults = defaults(query, params);
    let keep = |reason: String, validation: Option<Validation>| WeightFit {
        validation,
        ..WeightFit::documented(&defaults, horizon, reason)
    };
    if horizon == 0 {
        return Ok(keep("no horizon (priority_backtest_days = 0)".into(), None));
    }
    let h = Duration::days(i64::from(horizon));
    let (earlier, latest) = (params.as_of - h - h, params.as_of - h);
    let train = match split(ctx, query, params, earlier, horizon, None).await? {
        Ok(s) => s,
        Err(why) => return Ok(keep(why, None)),
    };
    let test = match split(ctx, query, params, latest, horizon, Some(evidence)).await? {
        Ok(s) => s,
        Err(why) => return Ok(keep(why, None)),
    };
    for (s, date) in [(&train, earlier), (&test, latest)] {
        if s.positives() < MIN_POSITIVES {
            return Ok(keep(
                format!(
                    "too little history: the {horizon} days after {date} found {} wrong records among {} SKU-locations counted (at least {MIN_POSITIVES} are needed)",
                    s.positives(),
                    s.y.len()
                ),
                None,
            ));
        }
    }
    let default_w: [f64; N] = std::array::from_fn(|j| defaults[COMPONENTS[j].0]);
    let early_w = match learn(&train, &default_w) {
        Ok(w) => w,
        Err(e) => return Ok(keep(format!("the fit failed: {e}"), None)),
    };
    let validation = Validation {
        as_of: latest,
        candidates: test.y.len(),
        positives: test.positives(),
        hits_fitted: hits(&test, &early_w),
        hits_defaults: hits(&test, &default_w),
    };
    let (fitted, plain): (usize, usize) = (
        validation.hits_fitted.iter().sum(),
        validation.hits_defaults.iter().sum(),
    );
    let tops = priority::KS.map(|k| k.to_string()).join("/");
    let at_50 = priority::KS.iter().position(|&k| k == 50).unwrap_or(0);
    if (fitted as f64) < MARGIN * plain as f64
        || validation.hits_fitted[at_50] < validation.hits_defaults[at_50]
    {
        return Ok(keep(
            format!(
                "weights fitted on {earlier} did not clearly beat the defaults on the records found off after {latest} ({:?} against {:?} in the top {tops}; 10% more in all and no fewer in the top 50 are needed)",
                validation.hits_fitted, validation.hits_defaults
            ),
            Some(validation),
        ));
    }
    let latest_w = match learn(&test, &default_w) {
        Ok(w) => w,
        Err(e) => return Ok(keep(format!("the fit failed: {e}"), Some(validation))),
    };
    let named = |w: &[f64; N]| -> BTreeMap<String, f64> {
        COMPONENTS
            .iter()
            .zip(w)
            .map(|((name, _), v)| (name.to_string(), *v))
            .collect()
    };
    Ok(WeightFit {
        status: "fitted".into(),
        reason: format!(
            "weights fitted on {earlier} found {:?} of the records revealed after {latest} in the top {tops}, the defaults {:?}",
            validation.hits_fitted, validation.hits_defaults
        ),
        weights: named(&latest_w),
        backtest_weights: named(&early_w),
        defaults,
        horizon_days: horizon,
        validation: Some(validation),
    })
}

/// The features as of `as_of` and the labels of the `horizon` days after it;
/// `Ok(Err(why))` when the query cannot give them. With `keep`, and the built-in
/// query, every SKU-location's evidence goes there too.
async fn split(
    ctx: &SessionContext,
    query: &Query,
    params: &Params,
    as_of: NaiveDate,
    horizon: u32,
    keep: Option<&mut Option<Evidence>>,
) -> Result<std::result::Result<Split, String>> {
    // Only the built-in score is known to be Σ weight × component (see `Evidence`).
    let keep = keep.filter(|_| matches!(query.origin, Origin::BuiltIn));
    let mut p = params.with_defaults(&query.header.params);
    p.as_of = as_of;
    for (w, _) in COMPONENTS {
        p.extra.insert(w.to_string(), 1.0);
    }
    p.extra.insert("w_recurrence".into(), 0.0);
    p.extra.insert("top_n".into(), 1e15);
    engine::bind_views(ctx, &p, engine::ViewUse::ONCE).await?;
    let columns = COMPONENTS.map(|(_, c)| c).join(", ");
    let body = query.sql.trim_end().trim_end_matches(';');
    let baselines = if keep.is_some() {
        format!(", {}", priority::BASELINE_COLUMNS)
    } else {
        String::new()
    };
    let sql = format!(
        "SELECT warehouse_id, location_id, sku, {columns}{baselines} FROM (\n{body}\n) ranked \
         ORDER BY warehouse_id, location_id, sku"
    );
    let (schema, batches) = match kpi::run_sql(ctx, &query.name, &sql, &p).await {
        Ok(r) => r,
        Err(crate::error::Error::Query { message, .. }) => {
            return Ok(Err(format!(
                "the priority query does not give every component ({columns}): {message}"
            )));
        }
        Err(e) => return Err(e),
    };
    let f = Frame::new(&schema, &batches);
    let cols: Vec<Vec<Option<f64>>> = COMPONENTS.iter().map(|(_, c)| f.num(c)).collect();
    let keys = priority::keys(&schema, &batches);
    let revealed: HashSet<String> = priority::revealed(ctx, &p, horizon, LABEL_ADJUSTMENTS).await?;
    let counted: HashSet<String> = priority::counted(ctx, &p, horizon).await?;
    let rows: Vec<usize> = (0..f.rows())
        .filter(|&i| counted.contains(&keys[i]) || revealed.contains(&keys[i]))
        .collect();
    let features = |i: usize| -> [f64; N] {
        std::array::from_fn(|j| {
            let v = cols[j][i].unwrap_or(0.0);
            if COMPONENTS[j].0 == "w_recurrence" {
                f64::from(u8::from(v >= 2.0))
            } else {
                v
            }
        })
    };
    let x = rows.iter().map(|&i| features(i)).collect();
    let y = rows.iter().map(|&i| revealed.contains(&keys[i])).collect();
    if let Some(keep) = keep {
        *keep = Some(Evidence {
            as_of,
            x: (0..f.rows()).map(features).collect(),
            order: ["warehouse_id", "location_id", "sku"].map(|c| f.text(c)),
            candidates: priority::candidates(&schema, &batches),
        });
    }
    let keys = rows.iter().map(|&i| keys[i].clone()).collect();
    Ok(Ok(Split { x, y, keys }))
}

/// Weights from a logistic regression on the split (see the module doc).
fn learn(s: &Split, defaults: &[f64; N]) -> std::result::Result<[f64; N], String> {
    use linfa::prelude::*;
    use linfa_logistic::LogisticRegression;
    let n = s.x.len() as f64;
    let mean: [f64; N] = std::array::from_fn(|j| s.x.iter().map(|r| r[j]).sum::<f64>() / n);
    let sd: [f64; N] = std::array::from_fn(|j| {
        (s.x.iter().map(|r| (r[j] - mean[j]).powi(2)).sum::<f64>() / n).sqrt()
    });
    let x = ndarray::Array2::from_shape_fn((s.x.len(), N), |(i, j)| {
        if sd[j] > 0.0 {
            (s.x[i][j] - mean[j]) / sd[j]
        } else {
            0.0
        }
    });
    let y = ndarray::Array1::from(s.y.clone());
    let model = LogisticRegression::default()
        .alpha(1.0)
        .max_iterations(200)
        .fit(&Dataset::new(x, y))
        .map_err(|e| e.to_string())?;
    // linfa takes the first label it meets as the positive class.
    let sign = if model.labels().pos.class { 1.0 } else { -1.0 };
    let raw: [f64; N] = std::array::from_fn(|j| {
        if sd[j] > 0.0 {
            (sign * model.params()[j] / sd[j]).max(0.0)
        } else {
            0.0
        }
    });
    let spread = |w: &[f64; N]| w.iter().zip(&sd).map(|(w, s)| w * s).sum::<f64>();
    let (got, want) = (spread(&raw), spread(defaults));
    if got.is_nan() || got <= 0.0 {
        return Err("no component raised the odds of a revealed record".into());
    }
    let scale = if want > 0.0 { want / got } else { 1.0 };
    Ok(raw.map(|w| w * scale))
}

/// Every SKU-location's components as of a date (the query run with every weight 1 and
/// `w_recurrence` 0, as for the fit), and what the baselines rank by.
///
/// The built-in score is Σ weight × component: each `*_points` column is its weight
/// times an expression of the evidence (`variance_points` adds `w_recurrence` when two
/// or more counts were off, which is the `w_recurrence` feature). Multiplying by 1 is
/// exact, so weight × component here is the same float the query computes for that
/// weight, and [`score`] adds the terms in the query's order: the score, and
/// so the ranking, are the query's own, bit for bit, for any weights.
pub struct Evidence {
    pub as_of: NaiveDate,
    x: Vec<[f64; N]>,
    /// warehouse_id, location_id, sku: the query's tie order (NULLs last; the
    /// candidates' joined keys would put an empty value first).
    order: [Vec<Option<String>>; 3],
    candidates: Vec<priority::Candidate>,
}

impl Evidence {
    /// Every SKU-location ranked by the score with `weights` (score descending, then
    /// warehouse_id, location_id, sku) and by the baselines.
    pub(crate) fn ranked(mut self, weights: &BTreeMap<String, f64>) -> priority::Ranked {
        let w: [f64; N] =
            std::array::from_fn(|j| weights.get(COMPONENTS[j].0).copied().unwrap_or(0.0));
        let scores: Vec<f64> = self.x.iter().map(|x| score(x, &w)).collect();
        let text = |c: usize, i: usize| self.order[c][i].as_deref();
        // Ascending with NULLs last, as SQL's ORDER BY.
        let asc = |a: Option<&str>, b: Option<&str>| match (a, b) {
            (Some(a), Some(b)) => a.cmp(b),
            (a, b) => a.is_none().cmp(&b.is_none()),
        };
        let order = ranking(&scores, DEEPEST, |a, b| {
            asc(text(0, a), text(0, b))
                .then_with(|| asc(text(1, a), text(1, b)))
                .then_with(|| asc(text(2, a), text(2, b)))
        });
        // Only the score's top `DEEPEST` are ever read from the ranks
        // ([`priority::Ranked::of`]): the rest rank after them.
        for c in &mut self.candidates {
            c.rank = f64::INFINITY;
        }
        for (n, &i) in order.iter().enumerate() {
            self.candidates[i].rank = n as f64 + 1.0;
        }
        priority::Ranked::of(&self.candidates)
    }
}

/// Revealed records in the top k of the split ranked by `w`, for each k of `KS`
/// (ties by key, as the published list: the key joins warehouse, bin and SKU with a
/// separator that sorts before any printable character).
fn hits(s: &Split, w: &[f64; N]) -> Vec<usize> {
    let scores: Vec<f64> = s.x.iter().map(|x| score(x, w)).collect();
    let order = ranking(&scores, DEEPEST, |a, b| s.keys[a].cmp(&s.keys[b]));
    priority::KS
        .iter()
        .map(|&k| order.iter().take(k).filter(|&&i| s.y[i]).count())
        .collect()
}

/// The index of `w_recurrence` in [`COMPONENTS`]: its feature is 0 or 1, and the
/// query adds the weight itself when two or more counts were off.
const RECURRENCE: usize = 3;

/// The score of features `x` with weights `w` (both in [`COMPONENTS`]' order), added
/// as the query's `score` column adds its points: shortage, mismatch, variance (+
/// recurrence), adjustment, phantom, drift, negative stock, overdue, velocity,
/// supplier, value. Floating-point addition is not associative, so the order is what
/// makes a ranking here the query's own.
fn score(x: &[f64; N], w: &[f64; N]) -> f64 {
    let term = |j: usize| w[j] * x[j];
    let recurrence = if x[RECURRENCE] > 0.0 {
        w[RECURRENCE]
    } else {
        0.0
    };
    let mut total = term(0) + term(1) + (term(2) + recurrence);
    for j in RECURRENCE + 1..N {
        total += term(j);
    }
    total
}

/// The row indices of the top `n` by score, highest first; equal scores in `tie` order.
fn ranking(
    scores: &[f64],
    n: usize,
    tie: impl Fn(usize, usize) -> std::cmp::Ordering,
) -> Vec<usize> {
    priority::top_n(scores.len(), n, |a, b| {
        scores[b].total_cmp(&scores[a]).then_with(|| tie(a, b))
    })
}

/// The deepest k of [`priority::KS`]: how far down any ranking is read.
const DEEPEST: usize = priority::KS[priority::KS.len() - 1];

/// `params` with `weights` as the priority query's parameters.
pub fn with_weights(params: &Params, weights: &BTreeMap<String, f64>) -> Params {
    let mut p = params.clone();
    for (k, v) in weights {
        p.extra.insert(k.clone(), *v);
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A split where only the first component separates the records: positives have
    /// it high, the rest have noise in the others.
    fn planted(n: usize) -> Split {
        let mut x = Vec::new();
        let mut y = Vec::new();
        let mut keys = Vec::new();
        let mut seed = 7u64;
        let mut next = || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) as f64 / (1u64 << 31) as f64
        };
        for i in 0..n {
            let bad = i % 10 == 0;
            let mut r = [0.0; N];
            for v in r.iter_mut() {
                *v = next();
            }
            r[0] = if bad { 2.0 + next() } else { next() };
            // The velocity component is higher for the good ones (busy, innocent).
            r[9] = if bad { 0.0 } else { 3.0 * next() };
            x.push(r);
            y.push(bad);
            keys.push(format!("k{i:05}"));
        }
        Split { x, y, keys }
    }

    #[test]
    fn the_separating_component_gets_the_weight_and_a_misleading_one_none() {
        let s = planted(2000);
        let defaults = [1.0; N];
        let w = learn(&s, &defaults).expect("fit");
        assert!(w.iter().all(|v| *v >= 0.0), "{w:?}");
        assert_eq!(
            w[9], 0.0,
            "a component that marks good records gets no weight: {w:?}"
        );
        let largest = w.iter().cloned().fold(0.0, f64::max);
        assert_eq!(w[0], largest, "{w:?}");
        // Ranked by the fitted weights, the top 200 are the 200 planted records.
        assert_eq!(hits(&s, &w), vec![25, 50, 100, 200]);
        // Σ w × sd equals the defaults' (the score's spread is kept).
        let n = s.x.len() as f64;
        let sd = |j: usize| {
            let m = s.x.iter().map(|r| r[j]).sum::<f64>() / n;
            (s.x.iter().map(|r| (r[j] - m).powi(2)).sum::<f64>() / n).sqrt()
        };
        let got: f64 = (0..N).map(|j| w[j] * sd(j)).sum();
        let want: f64 = (0..N).map(sd).sum();
        assert!((got - want).abs() < 1e-9 * want, "{got} vs {want}");
    }

    #[test]
    fn the_positive_class_is_the_revealed_one_whatever_comes_first() {
        let mut s = planted(2000);
        // Put a positive first, then a negative first: the weights must not flip.
        s.x.swap(0, 1);
        s.y.swap(0, 1);
        s.keys.swap(0, 1);
        let a = learn(&s, &[1.0; N]).expect("fit");
        s.x.swap(0, 1);
        s.y.swap(0, 1);
        s.keys.swap(0, 1);
        let b = learn(&s, &[1.0; N]).expect("fit");
        assert!(a[0] > 0.0 && b[0] > 0.0, "{a:?} {b:?}");
        assert!((a[0] - b[0]).abs() < 1e-6 * a[0], "{a:?} {b:?}");
    }

    #[test]
    fn the_score_adds_like_the_query() {
        assert_eq!(COMPONENTS[RECURRENCE].0, "w_recurrence");
        assert_eq!(COMPONENTS[2].1, "variance_points");
        // Weights 1, 2, …, 12 and features 1 except recurrence: 1 + 2 + 3 + (5 + … +
        // 12) = 74, and the recurrence weight 4 once its feature is 1.
        let w: [f64; N] = std::array::from_fn(|j| (j + 1) as f64);
        let mut x = [1.0; N];
        x[RECURRENCE] = 0.0;
        assert_eq!(score(&x, &w), 74.0);
        x[RECURRENCE] = 1.0;
        assert_eq!(score(&x, &w), 78.0);
    }

    #[test]
    fn hits_count_by_hand() {
        // 300 rows scored by their index; the revealed ones are rows 0–4 and 290–299.
        let mut s = planted(300);
        for (i, r) in s.x.iter_mut().enumerate() {
            *r = [0.0; N];
            r[0] = i as f64;
        }
        s.y = (0..300).map(|i| !(5..290).contains(&i)).collect();
        let mut w = [0.0; N];
        w[0] = 1.0;
        // Highest first: the top 25 … 200 are rows 299 down; rows 290–299 are in all.
        assert_eq!(hits(&s, &w), vec![10, 10, 10, 10]);
        // All scores 0: ties by key, rows 0, 1, 2 … first; rows 0–4 are in every top k,
        // rows 290–299 in none (the top 200 ends at row 199).
        w[0] = 0.0;
        assert_eq!(hits(&s, &w), vec![5, 5, 5, 5]);
    }
}
