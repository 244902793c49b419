//! `manifest.json`: what a run did, for schedulers, auditors and the report.
//! Versions, the window, per-phase durations, per-file ingest counts, per-KPI outcome
//! and every warning. Written last into the report folder, before it is published.

use serde::Serialize;

use crate::ingest::IngestReport;
use crate::kpi::checks::CheckResult;
use crate::kpi::freshness::Freshness;

#[derive(Debug, Clone, Serialize)]
pub struct Manifest {
    pub opintel_version: String,
    pub datafusion_version: String,
    pub command: String,
    pub started_at: String,
    pub finished_at: String,
    pub status: RunStatus,
    pub as_of: String,
    pub window_days: u32,
    pub window_start: String,
    pub window_end: String,
    pub reporting_time_zone: String,
    /// The values every query was run with (tolerance, SLA hours, history, `[params]`).
    pub parameters: Parameters,
    pub lake: String,
    /// The Delta version of every lake table the run read (its folder in the lake →
    /// version; null for a table not created yet): `opintel run --reproduce` reads
    /// exactly these.
    pub lake_versions: std::collections::BTreeMap<String, Option<u64>>,
    pub phases: Vec<Phase>,
    pub ingest: Option<IngestReport>,
    /// Newest event per table up to the end of the as-of date, and whether it is stale.
    pub freshness: Vec<Freshness>,
    pub kpis: Vec<KpiEntry>,
    /// The data checks (`queries/checks`) and what each found.
    pub checks: Vec<CheckResult>,
    pub warnings: Vec<String>,
    /// What the alert rules found and where they were delivered (added after the
    /// report is published; absent when no alert or owner is configured).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alerts: Option<serde_json::Value>,
    /// The count priority's weights: fitted on the lake's history or the defaults, and
    /// why (absent when the run ranked no priority list).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub priority_weights: Option<crate::kpi::priority_fit::WeightFit>,
}

/// The run's query parameters, as bound.
#[derive(Debug, Clone, Serialize)]
pub struct Parameters {
    pub count_tolerance: f64,
    pub sla_hours: crate::config::SlaHours,
    pub history_days: u32,
    pub priority_backtest_days: u32,
    /// `[params]` of the config (query headers' `-- param:` defaults apply to the rest).
    pub params: std::collections::BTreeMap<String, f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Everything worked.
    Ok,
    /// The report was published but something failed (a file, a query): see warnings.
    Partial,
}

#[derive(Debug, Clone, Serialize)]
pub struct Phase {
    pub name: String,
    pub seconds: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct KpiEntry {
    pub name: String,
    pub title: String,
    pub origin: String,
    pub rows: usize,
    pub seconds: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parquet: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub csv: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Now, as RFC 3339 UTC.
pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
