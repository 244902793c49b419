//! `opintel demo`: the first thing a new user runs. Generates a sample operation,
//! ingests it into a fresh demo lake, computes every KPI and publishes the report —
//! and leaves a working setup behind, so the README's next commands (`opintel sql`,
//! `tables`, `check`, `shell`) work as written: an `opintel.toml` in the current
//! folder pointing at the demo's lake (only when there is none yet; an existing one is
//! never touched), and `<reports>/latest` pointing at the demo's report.

use std::path::{Path, PathBuf};

use chrono::NaiveDate;

use super::generate::{GenerateOptions, GenerateSummary, generate};
use super::run::{RunOutcome, RunRequest, run};
use crate::config::{Config, DEFAULT_CONFIG_FILE};
use crate::error::{Error, Result, io_at};
use crate::progress::Shared;

/// Marker that lets the demo replace its own data folder and nothing else.
const MARKER: &str = ".opintel-demo";

/// What `opintel demo` was asked for.
#[derive(Debug, Clone)]
pub struct DemoRequest {
    /// The report folder (default `reports/demo`).
    pub out: PathBuf,
    /// Where the sample exports and the demo lake go (replaced on every demo).
    pub data: PathBuf,
    pub scale: f64,
    pub seed: u64,
}

/// What the demo did.
pub struct DemoOutcome {
    pub generated: GenerateSummary,
    pub sample: PathBuf,
    pub run: RunOutcome,
    /// The config file the demo wrote, when there was none.
    pub wrote_config: Option<PathBuf>,
    /// The config in force for the next commands points at the demo's lake.
    pub config_points_here: bool,
}

/// The sample's last day: the report is as of this date.
pub fn demo_as_of() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 20).unwrap_or_default()
}

pub fn demo(req: &DemoRequest, progress: &Shared) -> Result<DemoOutcome> {
    prepare(&req.data)?;
    let sample = req.data.join("sample");
    // Two windows of history, so the report can compare with the previous 28 days.
    let generated = generate(
        &GenerateOptions {
            out: sample.clone(),
            seed: req.seed,
            days: 63,
            scale: req.scale,
            end: demo_as_of(),
        },
        progress,
    )?;
    // The generated operation comes with the source mapping of its 3PL.
    let mapping = sample.join(DEFAULT_CONFIG_FILE);
    let mut config = Config::load(Some(&mapping))?;
    config.lake = crate::config::LakeConfig::at(req.data.join("lake"));
    let reports = req.out.parent().map(Path::to_path_buf).unwrap_or_default();
    config.reports = reports.clone();
    let outcome = run(
        &config,
        &RunRequest {
            as_of: demo_as_of(),
            out: req.out.clone(),
            inputs: vec![sample.join("exports")],
            wait: None,
            point_latest: true,
            command: "opintel demo".into(),
            only: Vec::new(),
            report: true,
            pinned: None,
            weights: None,
        },
        progress,
    )?;
    // Leave a setup the next commands find.
    let here = PathBuf::from(DEFAULT_CONFIG_FILE);
    let wrote_config = if here.exists() {
        None
    } else {
        let mapping_text = std::fs::read_to_string(&mapping).map_err(io_at(&mapping))?;
        let text = format!(
            "# Written by `opintel demo`: the commands in this folder use the demo's lake and reports.\n\
             # Point `lake` at your own lake (or delete this file) when you bring your own data.\n\
             lake = {lake:?}\nreports = {reports:?}\n\n{mapping_text}",
            lake = config.lake.root.display().to_string(),
            reports = if reports.as_os_str().is_empty() {
                ".".to_string()
            } else {
                reports.display().to_string()
            },
        );
        std::fs::write(&here, text).map_err(io_at(&here))?;
        Some(here.clone())
    };
    let in_force = Config::load(None)?;
    let config_points_here = same_path(&in_force.lake.root, &config.lake.root);
    Ok(DemoOutcome {
        generated,
        sample,
        run: outcome,
        wrote_config,
        config_points_here,
    })
}

fn same_path(a: &Path, b: &Path) -> bool {
    match (std::path::absolute(a), std::path::absolute(b)) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}

/// Empty the demo data folder, refusing to touch a folder the demo did not create.
fn prepare(dir: &Path) -> Result<()> {
    if dir.exists() {
        let ours = dir.join(MARKER).exists();
        let empty = std::fs::read_dir(dir)
            .map(|mut d| d.next().is_none())
            .unwrap_or(false);
        if !ours && !empty {
            return Err(Error::input(
                dir,
                "exists and was not made by `opintel demo`; pass --data with another folder",
            ));
        }
        std::fs::remove_dir_all(dir).map_err(io_at(dir))?;
    }
    std::fs::create_dir_all(dir).map_err(io_at(dir))?;
    std::fs::write(
        dir.join(MARKER),
        "created by opintel demo; replaced on every demo\n",
    )
    .map_err(io_at(dir))
}
