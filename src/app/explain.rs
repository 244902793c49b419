//! `opintel explain KPI`: the drivers of a headline figure's change, read from the
//! `kpi_drivers` table of a report (`kpi::drivers` computes it during the run).

use std::path::Path;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::prelude::{ParquetReadOptions, SessionContext};

use crate::config::{Config, did_you_mean};
use crate::error::{Error, Result};
use crate::kpi::drivers::TABLE;
use crate::kpi::frame::Frame;

/// The rows of `kpi` in the report's drivers (largest contribution first, at most
/// `top`), only the dimensions in `by` when given. `report` defaults to
/// `<reports>/latest`.
pub fn explain(
    config: &Config,
    report: Option<&Path>,
    kpi: &str,
    by: &[String],
    top: usize,
) -> Result<(SchemaRef, Vec<RecordBatch>)> {
    let folder = super::report_folder(config, report)?.ok_or_else(|| {
        Error::input(
            config.reports.join("latest"),
            "no report yet: `opintel run` writes one (or give --report DIR / --as-of DATE)",
        )
    })?;
    let file = folder.join("kpis").join(format!("{TABLE}.parquet"));
    if !file.is_file() {
        return Err(Error::input(
            &file,
            "this report has no drivers table: it was written without the report (--no-report) or by an older opintel",
        ));
    }
    crate::runtime::block_on(async {
        let ctx = SessionContext::new();
        let path = file.to_string_lossy().to_string();
        ctx.register_parquet("d", &path, ParquetReadOptions::default())
            .await?;
        let all = ctx.sql("SELECT DISTINCT kpi, dimension FROM d").await?;
        let schema = std::sync::Arc::clone(all.schema().inner());
        let pairs = Frame::new(&schema, &all.collect().await?);
        let (kpis, dims) = (pairs.text("kpi"), pairs.text("dimension"));
        let mut known: Vec<String> = kpis.iter().flatten().cloned().collect();
        known.sort();
        known.dedup();
        if !known.iter().any(|k| k == kpi) {
            let tiles = tile_keys(&folder).await;
            let message = if tiles.iter().any(|t| t == kpi) {
                format!(
                    "{kpi} has no change to explain in this report (no full previous window, or no change)"
                )
            } else {
                format!(
                    "no headline figure is called {kpi:?}{}; with drivers here: {}",
                    did_you_mean(kpi, tiles.iter().map(String::as_str)),
                    known.join(", ")
                )
            };
            return Err(Error::setting("KPI", message));
        }
        let mut available: Vec<String> = kpis
            .iter()
            .zip(&dims)
            .filter(|(k, _)| k.as_deref() == Some(kpi))
            .filter_map(|(_, d)| d.clone())
            .collect();
        available.sort();
        available.dedup();
        let mut wanted = Vec::new();
        for b in by {
            // A pair may be written a×b, a*b or "a × b".
            let name = b
                .split(['×', '*'])
                .map(str::trim)
                .collect::<Vec<_>>()
                .join(" × ");
            if !available.contains(&name) {
                return Err(Error::setting(
                    "--by",
                    format!(
                        "{kpi} is not split by {name:?}{}; its dimensions: {}",
                        did_you_mean(&name, available.iter().map(String::as_str)),
                        available.join(", ")
                    ),
                ));
            }
            wanted.push(format!("'{}'", name.replace('\'', "''")));
        }
        let filter = if wanted.is_empty() {
            String::new()
        } else {
            format!(" AND dimension IN ({})", wanted.join(", "))
        };
        let sql = format!(
            "SELECT * FROM d WHERE kpi = '{}'{filter} ORDER BY rank LIMIT {top}",
            kpi.replace('\'', "''")
        );
        let df = ctx.sql(&sql).await?;
        let schema = std::sync::Arc::clone(df.schema().inner());
        let batches = df.collect().await?;
        crate::kpi::plain_types(schema, batches)
    })?
}

/// The tile keys of the report (`kpis/tiles.parquet`), for messages.
async fn tile_keys(folder: &Path) -> Vec<String> {
    let file = folder
        .join("kpis")
        .join(format!("{}.parquet", crate::kpi::tiles::TABLE));
    let ctx = SessionContext::new();
    let Ok(df) = ctx
        .read_parquet(
            file.to_string_lossy().to_string(),
            ParquetReadOptions::default(),
        )
        .await
    else {
        return Vec::new();
    };
    let Ok(df) = df.select_columns(&["tile"]) else {
        return Vec::new();
    };
    let schema = std::sync::Arc::clone(df.schema().inner());
    let Ok(batches) = df.collect().await else {
        return Vec::new();
    };
    let mut out: Vec<String> = Frame::new(&schema, &batches)
        .text("tile")
        .into_iter()
        .flatten()
        .collect();
    out.sort();
    out.dedup();
    out
}
