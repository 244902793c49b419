//! The executive report: `index.html` (one self-contained page: inline CSS and SVG,
//! no script, no external request of any kind — a Content-Security-Policy says so to
//! the browser too) and `charts/*.png`.
//!
//! The page answers, in order: are we filling orders, what is stuck and for how long,
//! where is the inventory wrong, which suppliers and zones are behind it, what to
//! count today, and can these numbers be trusted (data quality). Every value that comes
//! from data is HTML-escaped. Definitions at the bottom come from the query headers.

pub mod chart;
pub mod format;
pub mod frame;
pub mod gather;
mod html;
mod sections;
pub mod theme;
pub mod tiles;
mod user_chart;

use std::collections::HashMap;
use std::path::Path;

pub use gather::{Extras, gather};
pub use html::escape;

use crate::config::Config;
use crate::error::{Result, io_at};
use crate::kpi::KpiResult;
use crate::manifest::Manifest;
use frame::Frame;

/// Everything the page is made from.
pub struct Page<'a> {
    pub manifest: &'a Manifest,
    pub results: &'a [KpiResult],
    pub extras: &'a Extras,
    pub config: &'a Config,
}

impl Page<'_> {
    /// A KPI table of this run, when its query succeeded.
    pub fn frame(&self, name: &str) -> Option<Frame> {
        self.results
            .iter()
            .find(|r| r.query.name == name)
            .and_then(|r| r.outcome.as_ref().ok().map(|b| Frame::new(&r.schema, b)))
    }

    /// Every successful KPI table of this run, by name.
    pub fn frames(&self) -> HashMap<String, Frame> {
        self.results
            .iter()
            .filter_map(|r| {
                r.outcome
                    .as_ref()
                    .ok()
                    .map(|b| (r.query.name.clone(), Frame::new(&r.schema, b)))
            })
            .collect()
    }
}

/// Write `index.html` and `charts/*.png` into `dir`.
pub fn write(dir: &Path, page: &Page) -> Result<()> {
    let html = html::render(dir, page)?;
    let path = dir.join("index.html");
    std::fs::write(&path, html).map_err(io_at(&path))
}
