//! `opintel sql`: ad-hoc SQL over the lake for analysts (read-only).

use std::io::Write;

use datafusion::arrow::util::pretty::pretty_format_batches;

use crate::cli::{SqlArgs, SqlFormat};
use crate::config::Config;
use crate::engine::{self, EngineOptions, Params};
use crate::error::{Error, Result, io_at};
use crate::lake::Lake;

/// Run one query and print or write its result.
pub fn sql(config: &Config, a: &SqlArgs) -> Result<()> {
    let lake = Lake::at(&config.lake);
    let as_of = a
        .as_of
        .unwrap_or_else(|| chrono::NaiveDate::from_ymd_opt(9999, 12, 30).unwrap_or_default());
    let mut params = Params::new(config, as_of);
    for p in &a.params {
        let (k, v) = p
            .split_once('=')
            .ok_or_else(|| Error::Config(format!("--param {p:?}: expected NAME=VALUE")))?;
        let v: f64 = v
            .trim()
            .parse()
            .map_err(|_| Error::Config(format!("--param {p:?}: {v:?} is not a number")))?;
        params
            .extra
            .insert(k.trim().trim_start_matches('$').to_string(), v);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(Error::PlainIo)?;
    let text = match (&a.file, &a.sql) {
        (Some(f), _) => std::fs::read_to_string(f).map_err(io_at(f))?,
        (None, Some(s)) => s.clone(),
        (None, None) => return Err(Error::Config("give a query or --file".into())),
    };
    let params = params.with_defaults(&crate::kpi::parse_header(&text).params);
    runtime.block_on(async {
        let ctx = engine::session(&EngineOptions::default())?;
        engine::register_local_date(&ctx, params.tz);
        engine::register_lake(&ctx, &lake, &params).await?;
        let text = if a.explain {
            format!("EXPLAIN ANALYZE {text}")
        } else {
            text
        };
        let df = ctx.sql(&text).await?.with_param_values(params.values())?;
        let schema = std::sync::Arc::clone(df.schema().inner());
        let batches = df.collect().await?;
        match a.format {
            SqlFormat::Parquet => {
                let path = a
                    .out
                    .as_ref()
                    .ok_or_else(|| Error::Config("--format parquet needs --out FILE".into()))?;
                crate::kpi::output::write_parquet(path, schema, &batches)
            }
            SqlFormat::Csv => match &a.out {
                Some(p) => crate::kpi::output::write_csv(p, &schema, &batches),
                None => {
                    let tmp = std::env::temp_dir()
                        .join(format!("opintel-sql-{}.csv", std::process::id()));
                    crate::kpi::output::write_csv(&tmp, &schema, &batches)?;
                    let text = std::fs::read_to_string(&tmp).map_err(io_at(&tmp))?;
                    let _ = std::fs::remove_file(&tmp);
                    print!("{text}");
                    Ok(())
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
                emit(a, &buf)
            }
            SqlFormat::Table => {
                let text = pretty_format_batches(&batches)?.to_string();
                emit(a, format!("{text}\n").as_bytes())
            }
        }
    })
}

fn emit(a: &SqlArgs, bytes: &[u8]) -> Result<()> {
    match &a.out {
        Some(p) => std::fs::write(p, bytes).map_err(io_at(p)),
        None => std::io::stdout().write_all(bytes).map_err(Error::PlainIo),
    }
}
