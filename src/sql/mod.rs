//! Analysts' SQL: `opintel sql`, `opintel tables`, `opintel shell` and the data checks.
//!
//! The session registers every lake table, every `<table>_current` view, the rejects
//! (`_rejects_<table>`) and the KPI tables of a report folder (schema `kpi`, e.g.
//! `kpi.fill_rate`; by default the latest run's). Statements run read-only: DDL, DML,
//! `COPY`, `SET` and the like are refused before planning (DataFusion `SQLOptions`),
//! so nothing typed here can change the lake or read outside it.

pub mod checks;
mod shell;
mod tables;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::util::pretty::pretty_format_batches;
use datafusion::catalog::MemorySchemaProvider;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::execution::context::SQLOptions;
use datafusion::prelude::SessionContext;

use crate::cli::{SqlArgs, SqlFormat};
use crate::config::Config;
use crate::engine::{self, EngineOptions, Params};
use crate::error::{Error, Result, io_at};
use crate::lake::Lake;

pub use shell::shell;
pub use tables::tables;

/// Statements analysts may run: queries only.
pub fn read_only() -> SQLOptions {
    SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false)
}

/// An analyst session over `lake`, with the KPI tables of `report` (if any).
pub async fn session(
    config: &Config,
    lake: &Lake,
    params: &Params,
    report: Option<&Path>,
) -> Result<SessionContext> {
    let ctx = engine::session(&EngineOptions::default())?;
    engine::register_local_date(&ctx, params.tz);
    engine::register_lake(&ctx, lake, params, engine::ViewUse::Once).await?;
    if let Some(dir) = report {
        register_kpis(&ctx, &dir.join("kpis"))?;
    }
    let _ = config;
    Ok(ctx)
}

/// Register every `kpis/*.parquet` of a report folder as `kpi.<name>`.
pub fn register_kpis(ctx: &SessionContext, dir: &Path) -> Result<usize> {
    let schema = Arc::new(MemorySchemaProvider::new());
    let mut n = 0;
    if let Ok(entries) = std::fs::read_dir(dir) {
        let mut files: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "parquet"))
            .collect();
        files.sort();
        for p in files {
            let name = p
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            let abs = std::path::absolute(&p).map_err(io_at(&p))?;
            let url = ListingTableUrl::parse(abs.to_string_lossy())?;
            let options = ListingOptions::new(Arc::new(ParquetFormat::default()))
                .with_file_extension(".parquet");
            let config = ListingTableConfig::new(url).with_listing_options(options);
            let state = ctx.state();
            let config = futures::executor::block_on(config.infer_schema(&state))?;
            let table = ListingTable::try_new(config)?;
            datafusion::catalog::SchemaProvider::register_table(
                schema.as_ref(),
                name,
                Arc::new(table),
            )?;
            n += 1;
        }
    }
    if let Some(catalog) = ctx.catalog("datafusion") {
        catalog.register_schema("kpi", schema)?;
    }
    Ok(n)
}

/// The report folder whose KPI tables analysts see by default: `<reports>/latest`.
pub fn latest_report(config: &Config) -> Option<PathBuf> {
    let p = config.reports.join("latest");
    p.join("kpis").is_dir().then_some(p)
}

/// Run one read-only statement with the session's parameters bound.
pub async fn query(
    ctx: &SessionContext,
    sql: &str,
    params: &Params,
) -> Result<(SchemaRef, Vec<RecordBatch>)> {
    let df = ctx
        .sql_with_options(sql, read_only())
        .await
        .map_err(|e| Error::Query {
            name: "sql".into(),
            message: explain_refusal(&e.to_string()),
        })?;
    let df = df
        .with_param_values(params.values())
        .map_err(|e| Error::Query {
            name: "sql".into(),
            message: e.to_string(),
        })?;
    let schema = Arc::clone(df.schema().inner());
    let batches = df.collect().await.map_err(|e| Error::Query {
        name: "sql".into(),
        message: e.to_string(),
    })?;
    crate::kpi::plain_types(schema, batches)
}

/// DataFusion's refusals, said for analysts.
fn explain_refusal(message: &str) -> String {
    let m = message.to_string();
    if m.contains("DDL not supported") {
        format!(
            "opintel sql is read-only: statements that create, change or drop tables or views are refused ({m})"
        )
    } else if m.contains("DML not supported") {
        format!("opintel sql is read-only: INSERT, UPDATE, DELETE and COPY are refused ({m})")
    } else if m.contains("Statement not supported") {
        format!("opintel sql is read-only: only queries are allowed here ({m})")
    } else {
        m
    }
}

/// Parse `--param` values: `as_of=YYYY-MM-DD` sets the as-of date, others are numbers.
pub fn apply_params(params: &mut Params, args: &[String]) -> Result<()> {
    for p in args {
        let (k, v) = p
            .split_once('=')
            .ok_or_else(|| Error::Config(format!("--param {p:?}: expected NAME=VALUE")))?;
        let (k, v) = (k.trim().trim_start_matches('$'), v.trim());
        if k == "as_of" {
            params.as_of = chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d")
                .map_err(|_| Error::Config(format!("--param as_of={v}: expected YYYY-MM-DD")))?;
            continue;
        }
        let n: f64 = v
            .parse()
            .map_err(|_| Error::Config(format!("--param {p:?}: {v:?} is not a number")))?;
        params.extra.insert(k.to_string(), n);
    }
    Ok(())
}

/// `opintel sql`.
pub fn sql(config: &Config, a: &SqlArgs) -> Result<()> {
    let lake = Lake::at(&config.lake);
    let as_of = a
        .as_of
        .unwrap_or_else(|| chrono::NaiveDate::from_ymd_opt(9999, 12, 30).unwrap_or_default());
    let mut params = Params::new(config, as_of);
    apply_params(&mut params, &a.params)?;
    let text = match (&a.file, &a.sql) {
        (Some(f), _) => std::fs::read_to_string(f).map_err(io_at(f))?,
        (None, Some(s)) => s.clone(),
        (None, None) => return Err(Error::Config("give a query or --file".into())),
    };
    let params = params.with_defaults(&crate::kpi::parse_header(&text).params);
    let report = a.report.clone().or_else(|| latest_report(config));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(Error::PlainIo)?;
    runtime.block_on(async {
        let ctx = session(config, &lake, &params, report.as_deref()).await?;
        let text = if a.explain {
            format!("EXPLAIN ANALYZE {text}")
        } else {
            text
        };
        let (schema, batches) = query(&ctx, &text, &params).await?;
        output(a.format, a.out.as_deref(), &schema, &batches)
    })
}

/// Print or write a result.
pub fn output(
    format: SqlFormat,
    out: Option<&Path>,
    schema: &SchemaRef,
    batches: &[RecordBatch],
) -> Result<()> {
    match format {
        SqlFormat::Parquet => {
            let path =
                out.ok_or_else(|| Error::Config("--format parquet needs --out FILE".into()))?;
            crate::kpi::output::write_parquet(path, Arc::clone(schema), batches)
        }
        SqlFormat::Csv => match out {
            Some(p) => crate::kpi::output::write_csv(p, schema, batches),
            None => {
                let mut w = std::io::stdout().lock();
                crate::kpi::output::write_csv_to(&mut w, schema, batches).map_err(Error::PlainIo)
            }
        },
        SqlFormat::Json => {
            let mut buf = Vec::new();
            {
                let mut w = datafusion::arrow::json::ArrayWriter::new(&mut buf);
                let refs: Vec<_> = batches.iter().collect();
                w.write_batches(&refs)?;
                w.finish()?;
            }
            buf.push(b'\n');
            emit(out, &buf)
        }
        SqlFormat::Table => {
            let text = if batches.iter().all(|b| b.num_rows() == 0) {
                let cols: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
                format!("(no rows; columns: {})\n", cols.join(", "))
            } else {
                format!("{}\n", pretty_format_batches(batches)?)
            };
            emit(out, text.as_bytes())
        }
    }
}

fn emit(out: Option<&Path>, bytes: &[u8]) -> Result<()> {
    match out {
        Some(p) => std::fs::write(p, bytes).map_err(io_at(p)),
        None => std::io::stdout().write_all(bytes).map_err(Error::PlainIo),
    }
}
