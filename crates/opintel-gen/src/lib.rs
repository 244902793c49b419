//! The sample operation behind `opintel generate` and `opintel demo`: writes a realistic, deterministic sample operation of an
//! ecommerce retailer (two own warehouses and a third-party one, more at larger scales)
//! as nightly exports, so every part of the product can be tried without real data.
//!
//! A small discrete simulation runs day by day with real stock: each SKU-location has
//! what the WMS believes (`system`) and what is physically there (`truth`). Orders,
//! picking, receipts, cycle counts, adjustments, exceptions and returns follow from that
//! state; a known set of SKU-locations has *planted*, systematic record errors (the
//! ground truth for cycle-count prioritisation) and many others suffer one-off errors.
//! Exports follow docs/contract.md plus deliberate, counted noise. The same options give
//! byte-identical output. This module does not ingest or compute KPIs.

mod assortment;
mod catalog;
mod counts;
mod demand;
mod exceptions;
mod feed;
mod fulfil;
mod inbound;
mod layout;
mod master;
mod model;
mod noise;
mod planted;
mod report;
#[cfg(test)]
mod reread;
mod returns;
mod rng;
mod simulate;
mod stock;
#[cfg(test)]
mod tests;
mod timefmt;
mod world;
mod writer;

use std::io;
use std::path::PathBuf;

/// What to generate.
#[derive(Debug, Clone)]
pub struct GenerateOptions {
    /// Output folder (created; must be empty or absent).
    pub out: PathBuf,
    /// Random seed (default 42).
    pub seed: u64,
    /// Days of history ending on `end` (default 35).
    pub days: u32,
    /// Size: 1.0 ≈ 300,000 order lines over 35 days; 0.02 is tiny (tests); at most 256.
    pub scale: f64,
    /// Last day generated (default 2026-11-20).
    pub end: chrono::NaiveDate,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        GenerateOptions {
            out: PathBuf::from("sample"),
            seed: 42,
            days: 35,
            scale: 1.0,
            end: chrono::NaiveDate::from_ymd_opt(2026, 11, 20).unwrap_or_default(),
        }
    }
}

/// What was written.
#[derive(Debug, Clone)]
pub struct GenerateSummary {
    /// Every export written, with its rows (data lines).
    pub files: Vec<(PathBuf, u64)>,
    pub rows_total: u64,
    pub planted_errors: usize,
}

/// Generate the sample operation into `opts.out`; `progress` receives short messages
/// ("day 12/35", "writing ground truth").
pub fn generate(opts: &GenerateOptions, progress: &dyn Fn(&str)) -> io::Result<GenerateSummary> {
    check(opts)?;
    std::fs::create_dir_all(&opts.out)?;
    progress("building the operation");
    let world = world::World::build(opts);
    let writer = writer::Writer::new(
        &opts.out,
        opts.seed,
        world.day0,
        world.days,
        &world.warehouses,
    );
    let mut sim = simulate::Sim::new(world, writer, opts.seed);
    sim.run(progress)?;
    progress("writing ground truth");
    report::write_all(&sim, opts)?;
    let tally = &sim.out.noise.tally;
    Ok(GenerateSummary {
        files: tally.files.clone(),
        rows_total: tally.files.iter().map(|f| f.1).sum(),
        planted_errors: sim.world.planted.len(),
    })
}

fn check(opts: &GenerateOptions) -> io::Result<()> {
    let bad = |m: String| Err(io::Error::other(m));
    if !opts.scale.is_finite() || opts.scale < 0.01 || opts.scale > 256.0 {
        return bad(format!(
            "scale must be between 0.01 and 256, not {}",
            opts.scale
        ));
    }
    if opts.days < 7 || opts.days > 366 {
        return bad(format!("days must be between 7 and 366, not {}", opts.days));
    }
    if opts.out.exists() {
        if !opts.out.is_dir() {
            return bad(format!("{} exists and is not a folder", opts.out.display()));
        }
        if std::fs::read_dir(&opts.out)?.next().is_some() {
            return bad(format!(
                "{} is not empty; generate into a new or empty folder",
                opts.out.display()
            ));
        }
    }
    Ok(())
}
