//! KPI queries: the catalogue (built-in `queries/*.sql` compiled into the binary, plus
//! a user's folder that adds or overrides by name), their headers, and running them.
//!
//! A query file opens with a header of `-- key: value` lines (`title`, `description`,
//! `grain`, `columns`, optional `chart`); indented `--   ` lines continue the previous
//! key, and under `columns:` each continuation line is `name: meaning`. The header is
//! what the report's definitions and `opintel tables` show. Each query runs alone:
//! one that fails is reported and the others still publish.

pub mod output;

use std::path::{Path, PathBuf};
use std::time::Instant;

use datafusion::arrow::datatypes::{Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::prelude::SessionContext;
use serde::Serialize;

use crate::engine::Params;
use crate::error::{Error, Result, io_at};

mod builtin {
    include!(concat!(env!("OUT_DIR"), "/builtin_queries.rs"));
}
use builtin::BUILTIN_QUERIES;

/// The built-in data checks (`queries/checks/*.sql`): (name, SQL).
pub fn builtin_checks() -> &'static [(&'static str, &'static str)] {
    builtin::BUILTIN_CHECKS
}

/// Where a query came from.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    BuiltIn,
    User(PathBuf),
}

/// A query file's header.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Header {
    pub title: String,
    pub description: String,
    pub grain: String,
    /// (column, meaning)
    pub columns: Vec<(String, String)>,
    /// e.g. `line x=due_date y=unit_fill_rate series=channel`
    pub chart: Option<String>,
    /// `-- param: name = 1.5` lines: defaults of `$name` in this query.
    pub params: Vec<(String, f64)>,
}

/// One KPI query.
#[derive(Debug, Clone, Serialize)]
pub struct Query {
    pub name: String,
    #[serde(skip)]
    pub sql: String,
    pub header: Header,
    pub origin: Origin,
}

impl Query {
    pub fn parse(name: &str, sql: &str, origin: Origin) -> Query {
        Query {
            name: name.to_string(),
            sql: sql.to_string(),
            header: parse_header(sql),
            origin,
        }
    }
}

/// Parse the leading `--` comment block of a query file.
pub fn parse_header(sql: &str) -> Header {
    let mut h = Header::default();
    let mut current: Option<String> = None;
    for line in sql.lines() {
        let Some(body) = line.trim_start().strip_prefix("--") else {
            if line.trim().is_empty() {
                continue;
            }
            break;
        };
        let continuation = body.starts_with("  ") || body.starts_with('\t');
        let text = body.trim();
        if !continuation && let Some((key, value)) = text.split_once(':') {
            let key = key.trim().to_ascii_lowercase();
            if key == "param" {
                if let Some((name, v)) = value.split_once('=')
                    && let Ok(v) = v.trim().parse::<f64>()
                {
                    h.params
                        .push((name.trim().trim_start_matches('$').to_string(), v));
                }
                current = None;
                continue;
            }
            if ["title", "description", "grain", "columns", "chart"].contains(&key.as_str()) {
                let value = value.trim().to_string();
                match key.as_str() {
                    "title" => h.title = value,
                    "description" => h.description = value,
                    "grain" => h.grain = value,
                    "chart" => h.chart = Some(value),
                    _ => {
                        // `columns: a, b, c` on one line, or details below.
                        for c in value.split(',').map(str::trim).filter(|c| !c.is_empty()) {
                            h.columns.push((c.to_string(), String::new()));
                        }
                    }
                }
                current = Some(key);
                continue;
            }
        }
        match current.as_deref() {
            Some("columns") if continuation => {
                if let Some((c, meaning)) = text.split_once(':') {
                    h.columns
                        .push((c.trim().to_string(), meaning.trim().to_string()));
                } else if let Some(last) = h.columns.last_mut() {
                    last.1.push(' ');
                    last.1.push_str(text);
                }
            }
            Some("description") if continuation => {
                h.description.push(' ');
                h.description.push_str(text);
            }
            Some("title") if continuation => {
                h.title.push(' ');
                h.title.push_str(text);
            }
            Some("grain") if continuation => {
                h.grain.push(' ');
                h.grain.push_str(text);
            }
            _ => {}
        }
    }
    h
}

/// The built-in queries plus those in `user_dir` (same name overrides).
pub fn catalogue(user_dir: Option<&Path>) -> Result<Vec<Query>> {
    let mut queries: Vec<Query> = BUILTIN_QUERIES
        .iter()
        .map(|(name, sql)| Query::parse(name, sql, Origin::BuiltIn))
        .collect();
    if let Some(dir) = user_dir {
        let entries = std::fs::read_dir(dir)
            .map_err(|e| Error::Config(format!("queries folder {}: {e}", dir.display())))?;
        let mut files: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "sql"))
            .collect();
        files.sort();
        for path in files {
            let sql = std::fs::read_to_string(&path).map_err(io_at(&path))?;
            let name = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            if !valid_name(&name) {
                return Err(Error::Config(format!(
                    "{}: query names may only use a-z, 0-9 and _ (they become table and file names)",
                    path.display()
                )));
            }
            let q = Query::parse(&name, &sql, Origin::User(path));
            match queries.iter_mut().find(|x| x.name == name) {
                Some(slot) => *slot = q,
                None => queries.push(q),
            }
        }
    }
    queries.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(queries)
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// The result of one query.
#[derive(Debug)]
pub struct KpiResult {
    pub query: Query,
    /// Columns of the result (empty when the query failed).
    pub schema: SchemaRef,
    pub outcome: std::result::Result<Vec<RecordBatch>, String>,
    pub seconds: f64,
}

impl KpiResult {
    pub fn rows(&self) -> usize {
        self.outcome
            .as_ref()
            .map(|b| b.iter().map(|b| b.num_rows()).sum())
            .unwrap_or(0)
    }
}

/// Run one query with the run's parameters bound.
pub async fn run_query(
    ctx: &SessionContext,
    query: &Query,
    params: &Params,
) -> Result<(SchemaRef, Vec<RecordBatch>)> {
    let err = |e: datafusion::error::DataFusionError| Error::Query {
        name: query.name.clone(),
        message: e.to_string(),
    };
    // Read-only like `opintel sql`: a KPI file cannot write or create anything.
    let df = ctx
        .sql_with_options(&query.sql, crate::sql::read_only())
        .await
        .map_err(err)?;
    let params = params.with_defaults(&query.header.params);
    let df = df.with_param_values(params.values()).map_err(err)?;
    let schema = std::sync::Arc::clone(df.schema().inner());
    let batches = df.collect().await.map_err(err)?;
    plain_types(schema, batches)
}

/// KPI tables are for people and every tool: string views become plain strings and
/// unsigned counts (e.g. `row_number()`) signed 64-bit integers.
pub fn plain_types(
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
) -> Result<(SchemaRef, Vec<RecordBatch>)> {
    use datafusion::arrow::datatypes::{DataType, Field};
    let plain = |t: &DataType| match t {
        DataType::Utf8View | DataType::LargeUtf8 => Some(DataType::Utf8),
        DataType::UInt8 | DataType::UInt16 | DataType::UInt32 | DataType::UInt64 => {
            Some(DataType::Int64)
        }
        _ => None,
    };
    if schema
        .fields()
        .iter()
        .all(|f| plain(f.data_type()).is_none())
    {
        return Ok((schema, batches));
    }
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| match plain(f.data_type()) {
            Some(t) => f.as_ref().clone().with_data_type(t),
            None => f.as_ref().clone(),
        })
        .collect();
    let out_schema =
        std::sync::Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()));
    let out = batches
        .iter()
        .map(|b| {
            let cols = b
                .columns()
                .iter()
                .zip(out_schema.fields())
                .map(|(c, f)| datafusion::arrow::compute::cast(c, f.data_type()))
                .collect::<std::result::Result<Vec<_>, _>>()?;
            Ok(RecordBatch::try_new(out_schema.clone(), cols)?)
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((out_schema, out))
}

/// Run every query; failures are kept per query.
pub async fn run_all(ctx: &SessionContext, queries: &[Query], params: &Params) -> Vec<KpiResult> {
    let mut out = Vec::with_capacity(queries.len());
    for q in queries {
        let started = Instant::now();
        crate::fault::point("run.query");
        let (schema, outcome) = match run_query(ctx, q, params).await {
            Ok((schema, batches)) => (schema, Ok(batches)),
            Err(Error::Query { message, .. }) => (empty_schema(), Err(message)),
            Err(other) => (empty_schema(), Err(other.to_string())),
        };
        let seconds = started.elapsed().as_secs_f64();
        match &outcome {
            Ok(b) => {
                tracing::info!(query = %q.name, rows = b.iter().map(|b| b.num_rows()).sum::<usize>(), seconds, "query done")
            }
            Err(e) => tracing::error!(query = %q.name, error = %e, "query failed"),
        }
        out.push(KpiResult {
            query: q.clone(),
            schema,
            outcome,
            seconds,
        });
    }
    out
}

fn empty_schema() -> SchemaRef {
    std::sync::Arc::new(Schema::empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers() {
        let sql = "-- title: Fill rate\n-- description: Share of units\n--   shipped in full.\n-- grain: day × channel\n-- columns:\n--   due_date: the date\n--   lines: count of lines\n--     that were due\n-- chart: line x=due_date y=lines\nSELECT 1";
        let h = parse_header(sql);
        assert_eq!(h.title, "Fill rate");
        assert_eq!(h.description, "Share of units shipped in full.");
        assert_eq!(h.grain, "day × channel");
        assert_eq!(
            h.columns,
            vec![
                ("due_date".to_string(), "the date".to_string()),
                (
                    "lines".to_string(),
                    "count of lines that were due".to_string()
                )
            ]
        );
        assert_eq!(h.chart.as_deref(), Some("line x=due_date y=lines"));
        let one_line =
            parse_header("-- columns: a, b\n-- param: w_x = 1.5\n-- param: $w_y=2\nselect 1");
        assert_eq!(one_line.columns.len(), 2);
        assert_eq!(
            one_line.params,
            vec![("w_x".to_string(), 1.5), ("w_y".to_string(), 2.0)]
        );
    }

    #[test]
    fn builtins_have_complete_headers() {
        for (name, sql) in BUILTIN_QUERIES {
            let h = parse_header(sql);
            assert!(!h.title.is_empty(), "{name}: title");
            assert!(!h.description.is_empty(), "{name}: description");
            assert!(!h.grain.is_empty(), "{name}: grain");
            assert!(!h.columns.is_empty(), "{name}: columns");
            assert!(valid_name(name), "{name}");
        }
    }
}
