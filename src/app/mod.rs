//! The commands, as functions of a resolved [`Config`](crate::config::Config) and a
//! request: the nightly run as named stages (`run`), the demo, ingest, the analysts'
//! SQL and table listing, the data checks and the priority evaluations. They return
//! what happened as values; the binary prints them and maps them to exit codes. No
//! command-line type reaches this layer, and nothing here prints.

pub mod check;
pub mod cluster;
pub mod demo;
pub mod explain;
pub mod generate;
pub mod ingest;
pub mod lake;
pub mod priority;
pub mod run;
pub mod sql;
pub mod tables;

use std::path::{Path, PathBuf};

use chrono::NaiveDate;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::lake::Lake;

/// Yesterday, UTC: the default as-of date of a run.
pub fn default_as_of() -> NaiveDate {
    (chrono::Utc::now() - chrono::Duration::days(1)).date_naive()
}

/// The lake of `config` for reading; an error when there is none (a mistyped
/// `--lake`, or nothing ingested yet), so no command quietly answers nothing.
pub fn existing_lake(config: &Config) -> Result<Lake> {
    let lake = Lake::open(&config.lake)?;
    if !lake.exists()? {
        return Err(Error::input(
            &config.lake.root,
            "there is no lake here: ingest exports first (`opintel ingest` or `opintel run`), \
             or give the lake with --lake or `lake =` in opintel.toml (the demo's is data/demo/lake)",
        ));
    }
    lake.check_layout()?;
    Ok(lake)
}

/// The report folder whose KPI tables analysts see: `report` when given (it must
/// hold `kpis/`), else `<reports>/latest` when it exists.
pub fn report_folder(config: &Config, report: Option<&Path>) -> Result<Option<PathBuf>> {
    match report {
        Some(r) => {
            if r.join("kpis").is_dir() {
                Ok(Some(r.to_path_buf()))
            } else {
                Err(Error::input(
                    r,
                    "not a report folder (it has no kpis/ folder): give one written by `opintel run`",
                ))
            }
        }
        None => {
            let p = config.reports.join("latest");
            Ok(p.join("kpis").is_dir().then_some(p))
        }
    }
}
