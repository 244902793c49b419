//! The executive report: `index.html` (one self-contained page: inline CSS, charts as
//! data-URI images, no script, no external request of any kind — a
//! Content-Security-Policy says so to the browser too) and `charts/*.png`.
//!
//! Two steps. [`model`] builds a serializable page model from the run's KPI tables:
//! it selects, orders and formats rows, and never computes a figure (tiles, weekly
//! trends and the section summaries are KPI tables of their own: `tiles`,
//! `report_*`). Then a template (`page.html`, minijinja) renders the model; the
//! template engine escapes every value, so nothing is escaped by hand here.
//!
//! The page answers, in order: are we filling orders, what is stuck and for how long,
//! where is the inventory wrong, which suppliers are behind it, what to count today,
//! and can these numbers be trusted (data quality). Definitions at the bottom come from
//! the query headers.

pub mod chart;
pub mod format;
pub mod model;
pub mod theme;
mod user_chart;

use std::path::Path;

use crate::config::Config;
use crate::error::{Result, io_at};
use crate::ingest::IngestReport;
use crate::kpi::KpiResult;
use crate::kpi::checks::CheckResult;
use crate::kpi::freshness::Freshness;
use crate::kpi::tiles::TileDef;

/// What the run knows about itself, for the page's header and footer.
#[derive(Debug, Clone)]
pub struct RunFacts {
    pub as_of: String,
    pub window_start: String,
    pub window_days: u32,
    pub time_zone: String,
    /// When the run started (RFC 3339).
    pub started_at: String,
    pub opintel_version: String,
    pub datafusion_version: String,
}

/// Everything the page is made from.
pub struct Inputs<'a> {
    pub run: RunFacts,
    /// Every table of the run (KPIs, `tiles`, `report_*`, the backtest), failed ones
    /// with their error.
    pub results: &'a [KpiResult],
    pub tiles: &'a [TileDef],
    pub freshness: &'a [Freshness],
    pub ingest: Option<&'a IngestReport>,
    pub checks: &'a [CheckResult],
    pub config: &'a Config,
    /// The count priority's weights, fitted or the defaults (None: no priority list).
    pub weights: Option<&'a crate::kpi::priority_fit::WeightFit>,
}

static TEMPLATE: &str = include_str!("page.html");
static CSS: &str = include_str!("page.css");

/// Write `index.html` and `charts/*.png` into `dir`.
pub fn write(dir: &Path, inputs: &Inputs) -> Result<()> {
    let page = model::build(&dir.join("charts"), inputs)?;
    let html = render(&page)?;
    let path = dir.join("index.html");
    std::fs::write(&path, html).map_err(io_at(&path))
}

/// Render a page model with the built-in template.
pub fn render(page: &model::Page) -> Result<String> {
    let mut env = minijinja::Environment::new();
    env.add_template("page.html", TEMPLATE)?;
    Ok(env.get_template("page.html")?.render(page)?)
}

/// The page's CSS: the palette's custom properties, then the layout.
fn css() -> String {
    format!("{}\n{}", theme::css_vars(), CSS)
}
