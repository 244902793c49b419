//! Analysts' SQL (`opintel sql`, `opintel shell`): a read-only session over the lake
//! tables, the `<table>_current` views, the rejects (`_rejects_<table>`) and the KPI
//! tables of a report folder (schema `kpi`, e.g. `kpi.fill_rate`; by default the
//! latest run's). DDL, DML, `COPY`, `SET` and the like are refused before planning.
//!
//! Without `--as-of` the parameters and views are bound to the as-of date of the
//! loaded report (so `kpi.*` and the lake agree), else to the lake's latest data date:
//! window queries answer about the newest data, and the session says which date it used. A misspelled table gets a "did you mean"; a `kpi.` table without a report
//! folder says how to get one.

use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;

use crate::config::{Config, did_you_mean};
use crate::engine::{Engine, EngineOptions, Params, ViewUse, register_parquet_folder};
use crate::error::{Error, Result};
use crate::kpi;
use crate::lake::Lake;

/// Where the session's as-of date came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AsOf {
    /// Given with `--as-of` (or `--param as_of=`).
    Given(NaiveDate),
    /// The as-of date of the report whose KPI tables are loaded (no date was given).
    Report(NaiveDate),
    /// The lake's latest data date (no date was given, no report).
    LatestData(NaiveDate),
}

impl AsOf {
    pub fn date(self) -> NaiveDate {
        match self {
            AsOf::Given(d) | AsOf::Report(d) | AsOf::LatestData(d) => d,
        }
    }
}

/// The as-of date of a published report (its manifest's `as_of`).
pub fn report_as_of(report: &Path) -> Option<NaiveDate> {
    let text = std::fs::read_to_string(report.join("manifest.json")).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    NaiveDate::parse_from_str(v.get("as_of")?.as_str()?, "%Y-%m-%d").ok()
}

/// `--as-of`, else the as-of date of the report, else the lake's latest data date,
/// else yesterday.
pub fn default_as_of(given: Option<NaiveDate>, report: Option<&Path>, lake: &Lake) -> AsOf {
    if let Some(d) = given {
        return AsOf::Given(d);
    }
    if let Some(d) = report.and_then(report_as_of) {
        return AsOf::Report(d);
    }
    AsOf::LatestData(lake.latest_data_date().unwrap_or_else(super::default_as_of))
}

/// An open analyst session.
pub struct Analyst {
    engine: Engine,
    pub params: Params,
    pub lake: Lake,
    pub as_of: AsOf,
    /// The report folder whose KPI tables are `kpi.<name>`, if any.
    pub report: Option<PathBuf>,
}

/// What an analyst asked for: `--as-of`, `--param NAME=VALUE`s, `--report`.
#[derive(Debug, Clone, Default)]
pub struct SessionRequest {
    pub as_of: Option<NaiveDate>,
    pub params: Vec<String>,
    pub report: Option<PathBuf>,
    /// `-- param:` defaults of the query about to run.
    pub defaults: Vec<(String, f64)>,
}

impl Analyst {
    /// Open a session over `config`'s lake. The lake must exist.
    pub fn open(config: &Config, req: &SessionRequest) -> Result<Analyst> {
        let lake = super::existing_lake(config)?;
        let report = super::report_folder(config, req.report.as_deref())?;
        let as_of = default_as_of(req.as_of, report.as_deref(), &lake);
        let mut params = Params::new(config, as_of.date());
        let given = apply_params(&mut params, &req.params)?;
        let as_of = if given {
            AsOf::Given(params.as_of)
        } else {
            as_of
        };
        let params = params.with_defaults(&req.defaults);
        let engine = Engine::open(
            &EngineOptions::from_config(config),
            &lake,
            &params,
            ViewUse::ONCE,
        )?;
        if let Some(dir) = &report {
            engine.block_on(register_parquet_folder(
                engine.ctx(),
                "kpi",
                &dir.join("kpis"),
                engine.on_cluster(),
            ))?;
        }
        Ok(Analyst {
            engine,
            params,
            lake,
            as_of,
            report,
        })
    }

    /// Run one read-only statement (its `-- param:` header lines give defaults).
    pub fn query(&self, sql: &str) -> Result<(SchemaRef, Vec<RecordBatch>)> {
        let params = self.params.with_defaults(&kpi::parse_header(sql).params);
        let ctx = self.engine.ctx();
        self.engine
            .run_queries("the statement", kpi::run_sql(ctx, "sql", sql, &params))
            .map_err(|e| match e {
                Error::Query { name, message } => Error::Query {
                    name,
                    message: self.hint(message),
                },
                other => other,
            })
    }

    /// Every table name a query can use.
    pub fn table_names(&self) -> Vec<String> {
        let ctx = self.engine.ctx();
        let mut out = Vec::new();
        if let Some(catalog) = ctx.catalog("datafusion") {
            for schema in catalog.schema_names() {
                if schema == "information_schema" {
                    continue;
                }
                if let Some(s) = catalog.schema(&schema) {
                    for t in s.table_names() {
                        out.push(if schema == "public" {
                            t
                        } else {
                            format!("{schema}.{t}")
                        });
                    }
                }
            }
        }
        out.sort();
        out
    }

    /// A missing table: say what was meant, or how to get a report's tables.
    fn hint(&self, message: String) -> String {
        let Some(rest) = message.split("table '").nth(1) else {
            return message;
        };
        let Some(full) = rest.split('\'').next() else {
            return message;
        };
        if !message.contains("not found") {
            return message;
        }
        let parts: Vec<&str> = full.split('.').collect();
        let (schema, name) = match parts.as_slice() {
            [_, s, n] => (*s, *n),
            [s, n] => (*s, *n),
            [n] => ("public", *n),
            _ => return message,
        };
        let wanted = if schema == "public" {
            name.to_string()
        } else {
            format!("{schema}.{name}")
        };
        if schema == "kpi" && self.report.is_none() {
            return format!(
                "there is no table {wanted}: no report's KPI tables are loaded (run `opintel run` first, or give --report DIR)"
            );
        }
        let names = self.table_names();
        format!(
            "there is no table {wanted}{} (`opintel tables` lists them)",
            did_you_mean(&wanted, names.iter().map(String::as_str))
        )
    }
}

/// Apply `--param` values: `as_of=YYYY-MM-DD` sets the as-of date, others are
/// numbers. True when one of them set the date.
pub fn apply_params(params: &mut Params, args: &[String]) -> Result<bool> {
    let mut dated = false;
    for p in args {
        let bad = |m: String| Error::setting("--param", m);
        let (k, v) = p
            .split_once('=')
            .ok_or_else(|| bad(format!("{p:?}: expected NAME=VALUE")))?;
        let (k, v) = (k.trim().trim_start_matches('$'), v.trim());
        if k == "as_of" {
            params.as_of = NaiveDate::parse_from_str(v, "%Y-%m-%d")
                .map_err(|_| bad(format!("as_of={v}: expected YYYY-MM-DD")))?;
            dated = true;
            continue;
        }
        let n: f64 = v
            .parse()
            .map_err(|_| bad(format!("{p:?}: {v:?} is not a number")))?;
        params.extra.insert(k.to_string(), n);
    }
    Ok(dated)
}

/// The text of a query given inline or in a file.
pub fn query_text(inline: Option<&str>, file: Option<&Path>) -> Result<String> {
    match (file, inline) {
        (Some(f), _) => std::fs::read_to_string(f).map_err(crate::error::io_at(f)),
        (None, Some(s)) => Ok(s.to_string()),
        (None, None) => Err(Error::setting("sql", "give a query, or --file FILE")),
    }
}
