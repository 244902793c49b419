//! `opintel demo`: the first thing a new user runs. Generates a sample operation,
//! ingests it into a fresh demo lake, computes every KPI and publishes the report.

use std::path::Path;

use crate::cli::{DemoArgs, exit, print_run};
use crate::config::Config;
use crate::error::{Error, Result, io_at};
use crate::generate::{GenerateOptions, generate_with_progress};
use crate::run::{RunOptions, run};

/// Marker that lets the demo replace its own data folder and nothing else.
const MARKER: &str = ".opintel-demo";

pub fn demo(a: &DemoArgs, quiet: bool) -> Result<u8> {
    prepare(&a.data)?;
    let sample = a.data.join("sample");
    let end = chrono::NaiveDate::from_ymd_opt(2026, 11, 20).unwrap_or_default();
    // Two windows of history, so the report can compare with the previous 28 days.
    let opts = GenerateOptions {
        out: sample.clone(),
        seed: a.seed,
        days: 63,
        scale: a.scale,
        end,
    };
    let summary = generate_with_progress(&opts, !quiet)?;
    if !quiet {
        println!(
            "generated a sample operation: {} rows in {} export files ({})",
            crate::ingest::group(summary.rows_total),
            summary.files.len(),
            sample.display()
        );
    }
    // The generated operation comes with the source mapping of its 3PL.
    let mut config = Config::load(Some(&sample.join("opintel.toml")))?;
    config.lake = a.data.join("lake");
    let run_opts = RunOptions {
        as_of: end,
        out: a.out.clone(),
        inputs: vec![sample.join("exports")],
        wait: None,
        progress: !quiet,
        point_latest: false,
        command: "opintel demo".into(),
        only: Vec::new(),
        report: true,
    };
    let outcome = run(&config, &run_opts)?;
    if !quiet {
        if let Some(r) = &outcome.manifest.ingest {
            print!("{}", r.summary());
        }
        print_run(&outcome);
    }
    Ok(exit::OK)
}

/// Empty the demo data folder, refusing to touch a folder the demo did not create.
fn prepare(dir: &Path) -> Result<()> {
    if dir.exists() {
        let ours = dir.join(MARKER).exists();
        let empty = std::fs::read_dir(dir)
            .map(|mut d| d.next().is_none())
            .unwrap_or(false);
        if !ours && !empty {
            return Err(Error::Config(format!(
                "{} exists and was not made by `opintel demo`; pass --data with another folder",
                dir.display()
            )));
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
