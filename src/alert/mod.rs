//! Alerts: rules over a published run (`[[alerts]]`), sent to webhooks and mailboxes
//! (`[alerting.destinations.*]`), each fired alert once per rule, destination and as-of
//! date; and a digest per owner of their exceptions past SLA (`[alerting.owners]`).
//!
//! Rules are evaluated after the report is published, from the run's own tables: a
//! tile's value (`unit_fill_rate < 0.95`), its change against the previous window
//! (`change(unit_fill_rate) < -0.02`), `check_failed` (a data check found rows),
//! `feed_stale` (a feed is stale or missing) and `kpi_failed` (a KPI query failed).
//! `min_volume` quiets a tile rule when the tile's volume (a rate's denominator, a
//! count's declared volume) is below it.
//!
//! What was delivered is remembered in `<reports>/.alerts-sent.json` (written by
//! atomic rename), so re-running a night sends nothing new, and a delivery that failed
//! is tried again by the next run of that night. Each delivery is tried 1 + `retries`
//! times with doubling pauses; the outcome of each goes into the run's manifest. A
//! failed delivery never touches the published report.

mod facts;
mod send;
mod state;

pub use facts::gather;

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

pub use crate::config::alert_rule::{Condition, Op};
use crate::config::{AlertRule, Config, Destination};
use crate::error::Result;

/// What a run's alerting did.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct AlertReport {
    pub alerts: Vec<AlertOutcome>,
    pub digests: Vec<Delivery>,
}

impl AlertReport {
    /// Whether a delivery failed (after its retries).
    pub fn failed(&self) -> bool {
        self.alerts
            .iter()
            .flat_map(|a| &a.deliveries)
            .chain(&self.digests)
            .any(|d| d.status == DeliveryStatus::Failed)
    }
}

/// One rule's evaluation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AlertOutcome {
    pub name: String,
    pub when: String,
    pub fired: bool,
    /// The value the rule compared (the tile's value or change; the count of failed
    /// checks, stale feeds or failed KPIs).
    pub value: Option<f64>,
    pub threshold: Option<f64>,
    /// Why it did not fire although its condition held (volume below min_volume).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quiet: Option<String>,
    /// The message's detail line (the top driver, the failed checks …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    pub deliveries: Vec<Delivery>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Delivery {
    pub destination: String,
    pub status: DeliveryStatus,
    pub attempts: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    Sent,
    /// Delivered by an earlier run of the same night.
    AlreadySent,
    Failed,
}

/// What the rules read from a finished run.
#[derive(Debug, Clone, Default)]
pub struct RunFacts {
    pub as_of: String,
    /// The published report folder (the message says where it is).
    pub report: String,
    /// tile → (title, current value, change, volume, top-driver sentence, unit is rate)
    pub tiles: BTreeMap<String, TileFact>,
    pub failed_checks: Vec<String>,
    pub stale_feeds: Vec<String>,
    pub failed_kpis: Vec<String>,
    /// Open exceptions past SLA: (owner, exception_id, type, severity, age hours).
    pub breached: Vec<(String, String, String, String, f64)>,
}

#[derive(Debug, Clone, Default)]
pub struct TileFact {
    pub title: String,
    pub value: Option<f64>,
    pub change: Option<f64>,
    pub volume: Option<f64>,
    pub driver: Option<String>,
    pub rate: bool,
}

/// A fired alert's message.
#[derive(Debug, Clone, Serialize)]
pub struct Message {
    pub alert: String,
    pub condition: String,
    pub as_of: String,
    pub value: Option<f64>,
    pub threshold: Option<f64>,
    pub summary: String,
    pub detail: Option<String>,
    pub report: String,
}

/// Evaluate every rule against `facts` and deliver what fired (and the owner
/// digests), remembering deliveries beside the reports in `reports`.
pub fn evaluate_and_send(config: &Config, reports: &Path, facts: &RunFacts) -> Result<AlertReport> {
    let mut report = AlertReport::default();
    if config.alerts.is_empty() && config.alerting.owners.is_empty() {
        return Ok(report);
    }
    let mut sent = state::Sent::load(reports)?;
    for rule in &config.alerts {
        let mut outcome = evaluate(rule, facts)?;
        if outcome.fired {
            let msg = message(rule, &outcome, facts);
            for dest in &rule.send {
                let key = state::key(&facts.as_of, &rule.name, dest);
                let d = if sent.contains(&key) {
                    Delivery {
                        destination: dest.clone(),
                        status: DeliveryStatus::AlreadySent,
                        attempts: 0,
                        error: None,
                    }
                } else {
                    let target = destination(config, dest)?;
                    let d = send::deliver(config, dest, target, &msg);
                    if d.status == DeliveryStatus::Sent {
                        sent.insert(key);
                        sent.save(reports)?;
                    }
                    d
                };
                outcome.deliveries.push(d);
            }
        }
        report.alerts.push(outcome);
    }
    // The owner digests: one mail per owner with open exceptions past SLA.
    if !config.alerting.owners.is_empty() {
        let via = config.alerting.digest_via()?;
        let target = destination(config, &via)?;
        for (owner, address) in &config.alerting.owners {
            let mine: Vec<_> = facts.breached.iter().filter(|b| &b.0 == owner).collect();
            if mine.is_empty() {
                continue;
            }
            let key = state::key(&facts.as_of, &format!("digest:{owner}"), address);
            let d = if sent.contains(&key) {
                Delivery {
                    destination: format!("{via} → {address}"),
                    status: DeliveryStatus::AlreadySent,
                    attempts: 0,
                    error: None,
                }
            } else {
                let mut d = send::digest(config, target, address, owner, &mine, facts);
                d.destination = format!("{via} → {address}");
                if d.status == DeliveryStatus::Sent {
                    sent.insert(key);
                    sent.save(reports)?;
                }
                d
            };
            report.digests.push(d);
        }
    }
    Ok(report)
}

fn destination<'a>(config: &'a Config, name: &str) -> Result<&'a Destination> {
    config.alerting.destinations.get(name).ok_or_else(|| {
        crate::error::Error::setting(
            format!("alerting.destinations.{name}"),
            "no such destination",
        )
    })
}

/// Whether `rule` fires on `facts`, with the value it compared.
pub fn evaluate(rule: &AlertRule, facts: &RunFacts) -> Result<AlertOutcome> {
    let cond = crate::config::alert_rule::parse(&rule.when)
        .map_err(|m| crate::error::Error::setting(format!("alerts.{}.when", rule.name), m))?;
    let mut out = AlertOutcome {
        name: rule.name.clone(),
        when: rule.when.clone(),
        fired: false,
        value: None,
        threshold: None,
        quiet: None,
        detail: None,
        deliveries: Vec::new(),
    };
    let list = |v: &[String]| (!v.is_empty()).then(|| v.join(", "));
    match &cond {
        Condition::CheckFailed => {
            out.value = Some(facts.failed_checks.len() as f64);
            out.fired = !facts.failed_checks.is_empty();
            out.detail = list(&facts.failed_checks).map(|l| format!("checks that found rows: {l}"));
        }
        Condition::FeedStale => {
            out.value = Some(facts.stale_feeds.len() as f64);
            out.fired = !facts.stale_feeds.is_empty();
            out.detail = list(&facts.stale_feeds).map(|l| format!("stale or missing feeds: {l}"));
        }
        Condition::KpiFailed => {
            out.value = Some(facts.failed_kpis.len() as f64);
            out.fired = !facts.failed_kpis.is_empty();
            out.detail = list(&facts.failed_kpis).map(|l| format!("failed KPIs: {l}"));
        }
        Condition::Tile {
            tile,
            change,
            op,
            threshold,
        } => {
            let fact = facts.tiles.get(tile);
            let v = fact.and_then(|f| if *change { f.change } else { f.value });
            out.value = v;
            out.threshold = Some(*threshold);
            let holds = v.is_some_and(|v| op.holds(v, *threshold));
            let volume = fact.and_then(|f| f.volume);
            match (holds, rule.min_volume) {
                (true, Some(min)) if volume.is_none_or(|v| v < min) => {
                    out.quiet = Some(format!(
                        "volume {} is below min_volume {min}",
                        volume.map_or("unknown".to_string(), |v| format!("{v}"))
                    ));
                }
                (true, _) => out.fired = true,
                _ => {}
            }
            out.detail = fact.and_then(|f| f.driver.clone());
        }
    }
    Ok(out)
}

fn message(rule: &AlertRule, o: &AlertOutcome, facts: &RunFacts) -> Message {
    let shown = |v: f64, rate: bool| {
        if rate {
            format!("{:.1}%", v * 100.0)
        } else if v.fract() == 0.0 {
            format!("{v:.0}")
        } else {
            format!("{v:.2}")
        }
    };
    let summary = match crate::config::alert_rule::parse(&rule.when) {
        Ok(Condition::Tile {
            tile,
            change,
            op,
            threshold,
        }) => {
            let f = facts.tiles.get(&tile);
            let rate = f.is_some_and(|f| f.rate);
            let title = f.map_or(tile.clone(), |f| f.title.clone());
            let what = if change {
                format!("the change of {title}")
            } else {
                title
            };
            format!(
                "{what} is {} ({} {})",
                o.value.map_or("unknown".into(), |v| shown(v, rate)),
                op.symbol(),
                shown(threshold, rate)
            )
        }
        _ => o.detail.clone().unwrap_or_else(|| rule.when.clone()),
    };
    Message {
        alert: rule.name.clone(),
        condition: rule.when.clone(),
        as_of: facts.as_of.clone(),
        value: o.value,
        threshold: o.threshold,
        summary,
        detail: o.detail.clone(),
        report: facts.report.clone(),
    }
}
