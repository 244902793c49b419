//! What moved a tile: the split of its change against the previous window over the
//! segments of each dimension (text column) of the KPI table it summarises, written as
//! the table `kpi_drivers`.
//!
//! A rate (Σ numerator / Σ denominator) is split exactly by shift-share: a segment's
//! share is its denominator over the tile's, its rate effect is base share × (current
//! rate − base rate) and its mix effect (current share − base share) × current rate.
//! Summed over the segments of one dimension these give Σ current share × current rate
//! − Σ base share × base rate, the tile's change, to the last rounding error. A segment
//! seen in one window only takes that window's rate for both (rate effect 0). A count or
//! a sum is split into each segment's own change. Hours (medians, percentiles) do not
//! add up over segments and have no drivers.
//!
//! Pairs of dimensions (warehouse × channel) are tried too; the best pair is kept when
//! its largest segment explains more of the change than the largest segment of any
//! single dimension, by at least a tenth of the change: a drop that sits in one
//! warehouse's marketplace orders is then named as such, while a drop spread over a
//! whole warehouse stays "the warehouse".
//!
//! The periods are the rows `periods::register` computed for the tiles (the same query
//! file with the previous window's parameters), so a driver means what its tile means.
//! A tile whose split does not add up to its change (its expressions are not sums) is
//! left out with a warning, never shown wrong.

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::prelude::SessionContext;

use super::frame::Frame;
use super::tiles::{Formula, TileDef, Unit};
use super::{KpiResult, Origin, Query};
use crate::engine::Params;
use crate::error::Result;

/// The table the drivers are written to.
pub const TABLE: &str = "kpi_drivers";

/// Its definition (the page, `tables` and docs/kpis.md show it).
pub const HEADER: &str = "-- title: KPI drivers
-- description: For each tile with a change against the previous window (the W days
--   before the window), the split of that change over the segments of each dimension
--   (text column) of the tile's KPI table, and of the best pair of dimensions when it
--   explains the change better than any single one. Rates (Σ numerator / Σ denominator)
--   are split by shift-share: share = the segment's denominator / the tile's; rate effect
--   = base share × (current rate − base rate); mix effect = (current share − base share)
--   × current rate; a segment seen in one window only takes that window's rate for both.
--   Counts and sums: a segment's contribution is its own change. Within one tile and one
--   dimension the contributions add up to the tile's change.
-- grain: kpi × dimension × segment
-- columns:
--   kpi: the tile's key
--   dimension: the KPI table's column (or two, as `a × b`) the change is split by
--   segment: the column's value (`a · b` for a pair; `(empty)` for no value)
--   base_volume: the segment's denominator (or declared volume) in the previous window
--   current_volume: the same in the window
--   base_value: the segment's rate, count or sum in the previous window
--   current_value: the same in the window
--   rate_effect: base share × (current rate − base rate); empty for counts and sums
--   mix_effect: (current share − base share) × current rate; empty for counts and sums
--   contribution: the segment's part of the tile's change (rate + mix effect for rates)
--   rank: 1 = the largest |contribution| of the tile, over all its dimensions
";

/// One segment's part of a tile's change.
#[derive(Debug, Clone, PartialEq)]
pub struct Driver {
    pub kpi: String,
    pub dimension: String,
    pub segment: String,
    pub base_volume: Option<f64>,
    pub current_volume: Option<f64>,
    pub base_value: Option<f64>,
    pub current_value: Option<f64>,
    pub rate_effect: Option<f64>,
    pub mix_effect: Option<f64>,
    pub contribution: f64,
    pub rank: i64,
}

/// A segment's (numerator or value, denominator or volume) in the two windows.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sides {
    pub base: (f64, Option<f64>),
    pub current: (f64, Option<f64>),
    pub in_base: bool,
    pub in_current: bool,
}

/// One segment's part of a rate's change.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Split {
    /// The segment's rate in each window (None: no volume there).
    pub base: Option<f64>,
    pub current: Option<f64>,
    pub rate_effect: f64,
    pub mix_effect: f64,
    pub contribution: f64,
}

/// Shift-share split of a ratio, per segment, in the order given.
pub fn split_ratio(segments: &[Sides]) -> Vec<Split> {
    let den = |s: &Sides, cur: bool| {
        let d = if cur { s.current.1 } else { s.base.1 };
        d.unwrap_or(0.0)
    };
    let total0: f64 = segments.iter().map(|s| den(s, false)).sum();
    let total1: f64 = segments.iter().map(|s| den(s, true)).sum();
    segments
        .iter()
        .map(|s| {
            let (d0, d1) = (den(s, false), den(s, true));
            let r0 = (d0 != 0.0).then(|| s.base.0 / d0);
            let r1 = (d1 != 0.0).then(|| s.current.0 / d1);
            let share0 = if total0 != 0.0 { d0 / total0 } else { 0.0 };
            let share1 = if total1 != 0.0 { d1 / total1 } else { 0.0 };
            // A segment seen in one window only takes that window's rate for both.
            let (a, b) = match (r0, r1) {
                (Some(a), Some(b)) => (a, b),
                (Some(a), None) => (a, a),
                (None, Some(b)) => (b, b),
                (None, None) => (0.0, 0.0),
            };
            let rate = share0 * (b - a);
            let mix = (share1 - share0) * b;
            Split {
                base: r0,
                current: r1,
                rate_effect: rate,
                mix_effect: mix,
                contribution: rate + mix,
            }
        })
        .collect()
}

/// The drivers of every tile with a change, as the `kpi_drivers` table.
pub async fn compute(
    ctx: &SessionContext,
    tiles: &[TileDef],
    results: &[KpiResult],
    params: &Params,
) -> KpiResult {
    let started = std::time::Instant::now();
    let query = Query::parse(TABLE, HEADER, Origin::BuiltIn);
    let outcome = match drivers(ctx, tiles, results, params).await {
        Ok(rows) => Ok(vec![batch(&rows)]),
        Err(e) => {
            tracing::error!(query = TABLE, error = %e, "drivers failed");
            Err(e.to_string())
        }
    };
    KpiResult {
        query,
        schema: schema(),
        outcome,
        seconds: started.elapsed().as_secs_f64(),
    }
}

/// The change of each tile (current − previous), from the `tiles` table.
fn changes(results: &[KpiResult]) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    let Some(f) = super::frame_of(results, super::tiles::TABLE) else {
        return out;
    };
    let (tile, period, change) = (f.text("tile"), f.text("period"), f.num("change"));
    for i in 0..f.rows() {
        if let (Some(t), Some("current"), Some(c)) = (&tile[i], period[i].as_deref(), change[i])
            && c.is_finite()
        {
            out.insert(t.clone(), c);
        }
    }
    out
}

async fn drivers(
    ctx: &SessionContext,
    tiles: &[TileDef],
    results: &[KpiResult],
    params: &Params,
) -> Result<Vec<Driver>> {
    let changes = changes(results);
    let mut out = Vec::new();
    for t in tiles {
        let Some(&change) = changes.get(&t.key) else {
            continue;
        };
        if change == 0.0 {
            continue;
        }
        let (value, volume, ratio) = match &t.formula {
            Formula::Ratio {
                numerator,
                denominator,
            } => (numerator.clone(), Some(denominator.clone()), true),
            Formula::Value { value, volume } if matches!(t.unit, Unit::Count | Unit::Money) => {
                (value.clone(), volume.clone(), false)
            }
            Formula::Value { .. } => continue,
        };
        let Some(source) = results
            .iter()
            .find(|r| r.query.name == t.source && r.outcome.is_ok())
        else {
            continue;
        };
        let dims: Vec<String> = source
            .schema
            .fields()
            .iter()
            .filter(|f| f.data_type() == &DataType::Utf8)
            .map(|f| f.name().clone())
            .collect();
        let mut rows: Vec<Driver> = Vec::new();
        let mut best_single = 0.0f64;
        for d in &dims {
            let split = split_by(
                ctx,
                t,
                &[d.as_str()],
                &value,
                volume.as_deref(),
                ratio,
                params,
            )
            .await?;
            // One segment holding all the volume in both windows (a total row) is
            // not a split.
            if split.len() < 2 {
                continue;
            }
            best_single = best_single.max(top(&split));
            if adds_up(&split, change) {
                rows.extend(split);
            } else {
                tracing::warn!(tile = %t.key, dimension = %d, "drivers do not add up to the change: left out");
            }
        }
        let mut best_pair: Option<Vec<Driver>> = None;
        for (i, a) in dims.iter().enumerate() {
            for b in &dims[i + 1..] {
                let split = split_by(
                    ctx,
                    t,
                    &[a.as_str(), b.as_str()],
                    &value,
                    volume.as_deref(),
                    ratio,
                    params,
                )
                .await?;
                if split.len() >= 2
                    && adds_up(&split, change)
                    && best_pair.as_ref().is_none_or(|p| top(&split) > top(p))
                {
                    best_pair = Some(split);
                }
            }
        }
        if let Some(p) = best_pair
            && top(&p) >= best_single + 0.1 * change.abs()
        {
            rows.extend(p);
        }
        rows.sort_by(|a, b| {
            b.contribution
                .abs()
                .total_cmp(&a.contribution.abs())
                .then_with(|| a.dimension.cmp(&b.dimension))
                .then_with(|| a.segment.cmp(&b.segment))
        });
        for (i, r) in rows.iter_mut().enumerate() {
            r.rank = i as i64 + 1;
        }
        out.extend(rows);
    }
    Ok(out)
}

/// The largest |contribution| of a split.
fn top(rows: &[Driver]) -> f64 {
    rows.iter()
        .map(|r| r.contribution.abs())
        .fold(0.0, f64::max)
}

/// Do the contributions add up to the tile's change (they must, for sums)?
fn adds_up(rows: &[Driver], change: f64) -> bool {
    let sum: f64 = rows.iter().map(|r| r.contribution).sum();
    (sum - change).abs() <= 1e-9_f64.max(1e-6 * change.abs())
}

/// The split of tile `t` over the segments of `dims` (one column or a pair).
async fn split_by(
    ctx: &SessionContext,
    t: &TileDef,
    dims: &[&str],
    value: &str,
    volume: Option<&str>,
    ratio: bool,
    params: &Params,
) -> Result<Vec<Driver>> {
    let keys: Vec<String> = dims
        .iter()
        .enumerate()
        .map(|(i, d)| format!("CAST(\"{d}\" AS VARCHAR) AS s{i}"))
        .collect();
    let group: Vec<String> = dims.iter().map(|d| format!("\"{d}\"")).collect();
    let sql = format!(
        "SELECT period, {keys}, CAST(({value}) AS DOUBLE) AS v, {vol} AS w
         FROM periods.{src}
         WHERE period IN ('current', 'previous')
         GROUP BY period, {group}",
        keys = keys.join(", "),
        vol = volume.map_or("CAST(NULL AS DOUBLE)".to_string(), |v| format!(
            "CAST(({v}) AS DOUBLE)"
        )),
        src = t.source,
        group = group.join(", "),
    );
    let (schema, batches) = super::run_sql(ctx, TABLE, &sql, params).await?;
    let f = Frame::new(&schema, &batches);
    let period = f.text("period");
    let labels: Vec<Vec<Option<String>>> =
        (0..dims.len()).map(|i| f.text(&format!("s{i}"))).collect();
    let (v, w) = (f.num("v"), f.num("w"));
    let mut segments: BTreeMap<String, Sides> = BTreeMap::new();
    for i in 0..f.rows() {
        let label = labels
            .iter()
            .map(|l| l[i].clone().unwrap_or_else(|| "(empty)".into()))
            .collect::<Vec<_>>()
            .join(" · ");
        let s = segments.entry(label).or_default();
        let side = (v[i].unwrap_or(0.0), w[i]);
        match period[i].as_deref() {
            Some("current") => {
                s.current = side;
                s.in_current = true;
            }
            Some("previous") => {
                s.base = side;
                s.in_base = true;
            }
            _ => {}
        }
    }
    // A segment with no volume in either window has nothing to explain (a rate whose
    // expressions only count some rows, e.g. an `ALL` total row).
    if ratio {
        segments.retain(|_, s| s.base.1.unwrap_or(0.0) != 0.0 || s.current.1.unwrap_or(0.0) != 0.0);
    }
    let dimension = dims.join(" × ");
    let names: Vec<&String> = segments.keys().collect();
    let sides: Vec<Sides> = segments.values().copied().collect();
    let rows = if ratio {
        split_ratio(&sides)
            .into_iter()
            .zip(&sides)
            .zip(names)
            .map(|((p, s), name)| Driver {
                kpi: t.key.clone(),
                dimension: dimension.clone(),
                segment: name.clone(),
                base_volume: Some(s.base.1.unwrap_or(0.0)),
                current_volume: Some(s.current.1.unwrap_or(0.0)),
                base_value: p.base,
                current_value: p.current,
                rate_effect: Some(p.rate_effect),
                mix_effect: Some(p.mix_effect),
                contribution: p.contribution,
                rank: 0,
            })
            .collect()
    } else {
        sides
            .iter()
            .zip(names)
            .map(|(s, name)| Driver {
                kpi: t.key.clone(),
                dimension: dimension.clone(),
                segment: name.clone(),
                base_volume: s.base.1,
                current_volume: s.current.1,
                base_value: Some(s.base.0),
                current_value: Some(s.current.0),
                rate_effect: None,
                mix_effect: None,
                contribution: s.current.0 - s.base.0,
                rank: 0,
            })
            .collect()
    };
    Ok(rows)
}

fn schema() -> Arc<Schema> {
    let f = |n: &str, t: DataType, null: bool| Field::new(n, t, null);
    Arc::new(Schema::new(vec![
        f("kpi", DataType::Utf8, false),
        f("dimension", DataType::Utf8, false),
        f("segment", DataType::Utf8, false),
        f("base_volume", DataType::Float64, true),
        f("current_volume", DataType::Float64, true),
        f("base_value", DataType::Float64, true),
        f("current_value", DataType::Float64, true),
        f("rate_effect", DataType::Float64, true),
        f("mix_effect", DataType::Float64, true),
        f("contribution", DataType::Float64, false),
        f("rank", DataType::Int64, false),
    ]))
}

fn batch(rows: &[Driver]) -> RecordBatch {
    let text = |g: fn(&Driver) -> &str| -> ArrayRef {
        Arc::new(StringArray::from_iter_values(rows.iter().map(g)))
    };
    let num = |g: fn(&Driver) -> Option<f64>| -> ArrayRef {
        Arc::new(rows.iter().map(g).collect::<Float64Array>())
    };
    let columns: Vec<ArrayRef> = vec![
        text(|r| &r.kpi),
        text(|r| &r.dimension),
        text(|r| &r.segment),
        num(|r| r.base_volume),
        num(|r| r.current_volume),
        num(|r| r.base_value),
        num(|r| r.current_value),
        num(|r| r.rate_effect),
        num(|r| r.mix_effect),
        num(|r| Some(r.contribution)),
        Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.rank))),
    ];
    RecordBatch::try_new(schema(), columns).unwrap_or_else(|_| RecordBatch::new_empty(schema()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sides(base: Option<(f64, f64)>, current: Option<(f64, f64)>) -> Sides {
        Sides {
            base: base.map_or((0.0, None), |(n, d)| (n, Some(d))),
            current: current.map_or((0.0, None), |(n, d)| (n, Some(d))),
            in_base: base.is_some(),
            in_current: current.is_some(),
        }
    }

    #[test]
    fn shift_share_adds_up_and_matches_hand_computation() {
        // Base: A 90/100, B 40/50 → 130/150. Current: A 70/100, B 60/60, C 10/40 → 140/200.
        // Change: 0.7 − 0.866… = −0.1666…
        let segs = [
            sides(Some((90.0, 100.0)), Some((70.0, 100.0))),
            sides(Some((40.0, 50.0)), Some((60.0, 60.0))),
            sides(None, Some((10.0, 40.0))),
        ];
        let out = split_ratio(&segs);
        // A: share 2/3 → 1/2; rate 0.9 → 0.7: rate effect 2/3 × −0.2, mix (1/2 − 2/3) × 0.7.
        let a = out[0];
        assert!((a.rate_effect - (2.0 / 3.0) * -0.2).abs() < 1e-12);
        assert!((a.mix_effect - (0.5 - 2.0 / 3.0) * 0.7).abs() < 1e-12);
        // C: only current: rate effect 0, mix = 0.2 × 0.25.
        assert_eq!(out[2].rate_effect, 0.0);
        assert!((out[2].mix_effect - 0.2 * 0.25).abs() < 1e-12);
        assert_eq!(out[2].base, None);
        let total: f64 = out.iter().map(|o| o.contribution).sum();
        assert!((total - (140.0 / 200.0 - 130.0 / 150.0)).abs() < 1e-12);
    }

    #[test]
    fn a_segment_gone_in_the_window_takes_its_base_rate() {
        // Base: A 50/100, B 30/100 → 0.4. Current: A 60/100 → 0.6.
        let segs = [
            sides(Some((50.0, 100.0)), Some((60.0, 100.0))),
            sides(Some((30.0, 100.0)), None),
        ];
        let out = split_ratio(&segs);
        // B: rate effect 0, mix (0 − 0.5) × 0.3 = −0.15.
        assert_eq!(out[1].rate_effect, 0.0);
        assert!((out[1].mix_effect + 0.15).abs() < 1e-12);
        let total: f64 = out.iter().map(|o| o.contribution).sum();
        assert!((total - 0.2).abs() < 1e-12);
    }
}
