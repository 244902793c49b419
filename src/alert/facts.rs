//! What the rules read, gathered from a finished run: the tiles (value, change, volume,
//! top driver), failed checks and KPIs, stale feeds and the exceptions past SLA.

use std::path::Path;

use super::{RunFacts, TileFact};
use crate::kpi::freshness::FeedState;
use crate::kpi::tiles::{Formula, TileDef, Unit};
use crate::kpi::{KpiResult, drivers, frame_of, tiles};
use crate::publish::manifest::Manifest;

/// The facts of a published run whose page is `report`.
pub fn gather(results: &[KpiResult], defs: &[TileDef], m: &Manifest, report: &Path) -> RunFacts {
    let mut facts = RunFacts {
        as_of: m.as_of.clone(),
        report: report.display().to_string(),
        ..RunFacts::default()
    };
    for d in defs {
        facts.tiles.insert(
            d.key.clone(),
            TileFact {
                title: d.title.clone(),
                rate: d.unit == Unit::Rate,
                ..TileFact::default()
            },
        );
    }
    if let Some(f) = frame_of(results, tiles::TABLE) {
        let (tile, period) = (f.text("tile"), f.text("period"));
        let (value, change, den) = (f.num("value"), f.num("change"), f.num("denominator"));
        for i in 0..f.rows() {
            if period[i].as_deref() != Some("current") {
                continue;
            }
            let Some(t) = tile[i].as_ref().and_then(|t| facts.tiles.get_mut(t)) else {
                continue;
            };
            t.value = value[i];
            t.change = change[i];
            t.volume = den[i];
        }
    }
    // A rate's volume is its denominator; a count's, its declared volume (else none).
    for d in defs {
        if let (Formula::Value { volume: None, .. }, Some(t)) =
            (&d.formula, facts.tiles.get_mut(&d.key))
        {
            t.volume = None;
        }
    }
    if let Some(f) = frame_of(results, drivers::TABLE) {
        let (kpi, dim, seg) = (f.text("kpi"), f.text("dimension"), f.text("segment"));
        let (c, rank) = (f.num("contribution"), f.num("rank"));
        for i in 0..f.rows() {
            if rank[i] != Some(1.0) {
                continue;
            }
            let (Some(k), Some(dm), Some(sg), Some(c)) = (&kpi[i], &dim[i], &seg[i], c[i]) else {
                continue;
            };
            if let Some(t) = facts.tiles.get_mut(k) {
                let amount = if t.rate {
                    format!("{:+.1} pts", c * 100.0)
                } else {
                    format!("{c:+}")
                };
                t.driver = Some(format!("top driver: {sg} ({dm}) explains {amount}"));
            }
        }
    }
    facts.failed_checks = m
        .checks
        .iter()
        .filter(|c| c.violations > 0)
        .map(|c| c.name.clone())
        .collect();
    facts.stale_feeds = m
        .freshness
        .iter()
        .filter(|f| matches!(f.state, FeedState::Stale | FeedState::Missing))
        .map(|f| f.table.clone())
        .collect();
    facts.failed_kpis = m
        .kpis
        .iter()
        .filter(|k| k.error.is_some())
        .map(|k| k.name.clone())
        .collect();
    if let Some(f) = frame_of(results, "exception_backlog") {
        let (owner, id, kind, sev, breached) = (
            f.text("owner"),
            f.text("exception_id"),
            f.text("exception_type"),
            f.text("severity"),
            f.text("breached"),
        );
        let age = f.num("age_hours");
        for i in 0..f.rows() {
            if breached[i].as_deref() != Some("true") {
                continue;
            }
            let (Some(o), Some(id)) = (&owner[i], &id[i]) else {
                continue;
            };
            facts.breached.push((
                o.clone(),
                id.clone(),
                kind[i].clone().unwrap_or_default(),
                sev[i].clone().unwrap_or_default(),
                age[i].unwrap_or(0.0),
            ));
        }
    }
    facts
}
