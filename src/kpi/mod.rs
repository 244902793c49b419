//! KPI queries: the catalogue (built-in `queries/*.sql` compiled into the binary, plus
//! a user's folder that adds or overrides by name), their headers, and running them.
//!
//! A query file opens with a header of `-- key: value` lines (`title`, `description`,
//! `grain`, `columns`, optional `chart`); indented `--   ` lines continue the previous
//! key, and under `columns:` each continuation line is `name: meaning`. The header is
//! what the report's definitions and `opintel tables` show. Two lines change how a
//! query runs, never what it returns: `-- materialize: a, b` (CTEs computed once,
//! `engine::materialize`) and `-- filter_pushdown: on` (see [`run_sql`]). Each query
//! runs alone: one that fails is reported and the others still publish.

pub mod checks;
pub mod drivers;
pub mod frame;
pub mod freshness;
pub mod output;
pub mod periods;
pub mod priority;
pub mod priority_fit;
pub mod tiles;

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
pub use frame::Frame;

/// The built-in data checks (`queries/checks/*.sql`): (name, SQL).
pub fn builtin_checks() -> &'static [(&'static str, &'static str)] {
    builtin::BUILTIN_CHECKS
}

/// The count priority's half-life (days) a run uses unless its own query file says
/// otherwise: `[params] half_life_days`, else the built-in query's default. The ingest
/// keeps the pick months with it (`engine::state::picks`).
pub fn priority_half_life(params: &std::collections::BTreeMap<String, f64>) -> f64 {
    const NAME: &str = "half_life_days";
    params.get(NAME).copied().unwrap_or_else(|| {
        BUILTIN_QUERIES
            .iter()
            .find(|(name, _)| *name == "count_priority")
            .and_then(|(_, sql)| {
                parse_header(sql)
                    .params
                    .into_iter()
                    .find(|(p, _)| p == NAME)
                    .map(|(_, v)| v)
            })
            .unwrap_or(60.0)
    })
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
    /// `-- tile: <key>` blocks: headline figures computed from this table (`tiles`).
    pub tiles: Vec<TileDecl>,
    /// `-- trend: <date column>`: the tiles' weekly values are cut from this run's rows
    /// by that column instead of running the query once per week.
    pub trend_by: Option<String>,
    /// `-- feeds: shipments, order_lines`: the lake tables its figures come from; a
    /// time chart of it shows the days a late or stale feed leaves incomplete.
    pub feeds: Vec<String>,
}

/// A `-- tile: <key>` block of a query header: its indented `name: value` lines.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TileDecl {
    pub key: String,
    pub fields: Vec<(String, String)>,
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
            if key == "tile" {
                h.tiles.push(TileDecl {
                    key: value.trim().to_string(),
                    fields: Vec::new(),
                });
                current = Some(key);
                continue;
            }
            if key == "trend" {
                h.trend_by = Some(value.trim().to_string());
                current = None;
                continue;
            }
            if key == "feeds" {
                h.feeds = value
                    .split(',')
                    .map(str::trim)
                    .filter(|f| !f.is_empty())
                    .map(str::to_string)
                    .collect();
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
            Some("tile") if continuation => {
                if let (Some(t), Some((k, v))) = (h.tiles.last_mut(), text.split_once(':')) {
                    t.fields
                        .push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
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

/// The built-in KPI queries plus those in `user_dir` (same name overrides).
pub fn catalogue(user_dir: Option<&Path>) -> Result<Vec<Query>> {
    if let Some(dir) = user_dir
        && !dir.is_dir()
    {
        return Err(Error::input(
            dir,
            "the queries folder does not exist (set by `queries` in the config or --queries)",
        ));
    }
    load(BUILTIN_QUERIES, user_dir)
}

/// Check the config's keys that name things the queries define: `[params]` must be
/// parameters some query declares (`-- param:`), `[report.tiles.<key>]` declared tiles.
pub fn check_config(
    config: &crate::config::Config,
    queries: &[&Query],
    tiles: &[tiles::TileDef],
) -> Result<()> {
    let declared: std::collections::BTreeSet<&str> = queries
        .iter()
        .flat_map(|q| q.header.params.iter().map(|(n, _)| n.as_str()))
        .collect();
    for key in config.params.keys() {
        if !declared.contains(key.as_str()) {
            return Err(Error::setting(
                format!("params.{key}"),
                format!(
                    "no query declares a parameter {key:?}{}",
                    crate::config::did_you_mean(key, declared.iter().copied())
                ),
            ));
        }
    }
    for r in &config.alerts {
        if let Ok(cond) = crate::config::alert_rule::parse(&r.when)
            && let Some(tile) = cond.tile()
            && !tiles.iter().any(|t| t.key == tile)
        {
            return Err(Error::setting(
                format!("alerts ({:?}).when", r.name),
                format!(
                    "no tile is called {tile:?}{}",
                    crate::config::did_you_mean(tile, tiles.iter().map(|t| t.key.as_str()))
                ),
            ));
        }
    }
    tiles::check_config(tiles, config)
}

/// The report's derived tables (`queries/report/`: they read this run's `kpi.*`
/// tables), plus `<user_dir>/report/*.sql`.
pub fn report_queries(user_dir: Option<&Path>) -> Result<Vec<Query>> {
    load(
        builtin::BUILTIN_REPORT,
        user_dir.map(|d| d.join("report")).as_deref(),
    )
}

/// Built-in queries plus the `.sql` files of `user_dir` (when it exists), by name.
pub(crate) fn load(builtins: &[(&str, &str)], user_dir: Option<&Path>) -> Result<Vec<Query>> {
    let mut queries: Vec<Query> = builtins
        .iter()
        .map(|(name, sql)| Query::parse(name, sql, Origin::BuiltIn))
        .collect();
    if let Some(dir) = user_dir.filter(|d| d.is_dir()) {
        let entries = std::fs::read_dir(dir)
            .map_err(|e| Error::input(dir, format!("cannot read the queries folder: {e}")))?;
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
                return Err(Error::input(
                    &path,
                    "query names may only use a-z, 0-9 and _ (they become table and file names)",
                ));
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

/// The `kpi.<name>` tables a query reads (from its text).
pub fn kpi_tables_read(sql: &str) -> Vec<String> {
    let lower = sql.to_ascii_lowercase();
    let mut out: Vec<String> = lower
        .match_indices("kpi.")
        .filter(|(i, _)| {
            *i == 0
                || !lower[..*i]
                    .chars()
                    .next_back()
                    .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        })
        .map(|(i, _)| {
            lower[i + 4..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect::<String>()
        })
        .filter(|n| !n.is_empty())
        .collect();
    out.sort();
    out.dedup();
    out
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

/// The rows of result `name` of a run as one frame, when its query succeeded.
pub fn frame_of(results: &[KpiResult], name: &str) -> Option<frame::Frame> {
    let r = results.iter().find(|r| r.query.name == name)?;
    let batches = r.outcome.as_ref().ok()?;
    Some(frame::Frame::new(&r.schema, batches))
}

impl KpiResult {
    pub fn rows(&self) -> usize {
        self.outcome
            .as_ref()
            .map(|b| b.iter().map(|b| b.num_rows()).sum())
            .unwrap_or(0)
    }
}

/// Run one query file with the run's parameters (and its header's defaults) bound.
pub async fn run_query(
    ctx: &SessionContext,
    query: &Query,
    params: &Params,
) -> Result<(SchemaRef, Vec<RecordBatch>)> {
    let params = params.with_defaults(&query.header.params);
    run_sql(ctx, &query.name, &query.sql, &params).await
}

/// Run one read-only statement (`name` for messages) with `params` bound; string
/// views and unsigned counts come back as plain types (see [`plain_types`]).
pub async fn run_sql(
    ctx: &SessionContext,
    name: &str,
    sql: &str,
    params: &Params,
) -> Result<(SchemaRef, Vec<RecordBatch>)> {
    let err = |e: datafusion::error::DataFusionError| Error::query(name, explain_refusal(&e));
    let pushed;
    let ctx = if filter_pushdown(sql) && !crate::engine::materialize::on_cluster(ctx) {
        let mut state = ctx.state();
        state.table_options_mut().parquet.global.pushdown_filters = true;
        pushed = SessionContext::new_with_state(state);
        &pushed
    } else {
        ctx
    };
    // Read-only: a KPI file or an analyst's query cannot write or create anything.
    let df = ctx
        .sql_with_options(sql, crate::engine::read_only())
        .await
        .map_err(err)?;
    let more = crate::engine::pick_months_values(ctx, params);
    let df = df
        .with_param_values(params.values_with(more))
        .map_err(err)?;
    let shared = crate::engine::materialize::requested(sql);
    let df = if shared.is_empty() {
        df
    } else {
        let plan = crate::engine::materialize::apply(ctx, df.into_unoptimized_plan(), &shared)
            .await
            .map_err(err)?;
        ctx.execute_logical_plan(plan).await.map_err(err)?
    };
    let schema = std::sync::Arc::clone(df.schema().inner());
    let batches = df.collect().await.map_err(err)?;
    plain_types(schema, batches)
}

/// Whether `sql` asks for Parquet filter pushdown (`-- filter_pushdown: on`): the
/// scan decodes the filtered columns first and the others only for the rows that pass.
/// For a filter that keeps a handful of rows of a big table (a check looking for bad
/// lines among every order line: 0.10 → 0.06 s on a year of history); a filter that
/// keeps most rows pays for decoding twice (the KPIs together: 1.6 → 1.9 s), so it is
/// per query, not for the session. Ignored on a cluster (its executors keep their
/// own options).
fn filter_pushdown(sql: &str) -> bool {
    crate::engine::materialize::header_values(sql, "filter_pushdown")
        .any(|v| v.trim().eq_ignore_ascii_case("on"))
}

/// DataFusion's refusals, said for people.
fn explain_refusal(e: &datafusion::error::DataFusionError) -> String {
    let m = e.to_string();
    if m.contains("DDL not supported") {
        format!(
            "queries are read-only: statements that create, change or drop tables or views are refused ({m})"
        )
    } else if m.contains("DML not supported") {
        format!("queries are read-only: INSERT, UPDATE, DELETE and COPY are refused ({m})")
    } else if m.contains("Statement not supported") {
        format!("queries are read-only: only SELECT (and WITH, EXPLAIN) is allowed ({m})")
    } else {
        m
    }
}

/// KPI tables are for people and every tool: string views become plain strings and
/// unsigned counts (e.g. `row_number()`) signed 64-bit integers; the schema is the
/// batches' own.
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
    // DataFusion's planned schema can disagree with its batches on nullability (window
    // functions): the table takes the batches' word for it.
    if schema
        .fields()
        .iter()
        .all(|f| plain(f.data_type()).is_none())
        && batches
            .iter()
            .all(|b| b.schema().fields() == schema.fields())
    {
        return Ok((schema, batches));
    }
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let nullable = f.is_nullable()
                || batches
                    .iter()
                    .any(|b| b.schema().fields().get(i).is_some_and(|x| x.is_nullable()));
            let f = f.as_ref().clone().with_nullable(nullable);
            match plain(f.data_type()) {
                Some(t) => f.with_data_type(t),
                None => f,
            }
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

/// Queries of one run that are in flight at once (see [`at_once`]).
pub const QUERIES_AT_ONCE: usize = 2;

/// `work` for every item, [`QUERIES_AT_ONCE`] at a time, each on a task of its own;
/// the outputs in the items' order.
///
/// A query keeps both cores busy only part of the time: planning, a small window's
/// scans, a final merge or aggregation run on one thread. A second query fills those
/// gaps (a night on the 365-day history bench: the KPI phase 1.29 -> 1.10 s). The
/// queries only read the session (views bound before; a kept view is computed once,
/// behind a lock, by whichever query reads it first), so what they return does not
/// depend on the order they run in. A panic in `work` is raised again here; the tasks
/// are never aborted.
pub async fn at_once<I, F, Fut>(items: I, mut work: F) -> Vec<Fut::Output>
where
    I: IntoIterator,
    F: FnMut(I::Item) -> Fut,
    Fut: std::future::Future + Send + 'static,
    Fut::Output: Send + 'static,
{
    use futures::StreamExt;
    futures::stream::iter(items)
        .map(|item| {
            let task = tokio::spawn(work(item));
            async move {
                task.await
                    .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
            }
        })
        .buffered(QUERIES_AT_ONCE)
        .collect()
        .await
}

/// Run every query ([`at_once`]); failures are kept per query.
pub async fn run_all(ctx: &SessionContext, queries: &[Query], params: &Params) -> Vec<KpiResult> {
    at_once(queries, |q| {
        let params = params.with_defaults(&q.header.params);
        let (ctx, q) = (ctx.clone(), q.clone());
        async move { run_one(&ctx, &q, &q.sql, &params).await }
    })
    .await
}

/// Run `sql` as the table of `query` (whose header documents it); a failure is kept
/// as the result's error.
pub async fn run_one(ctx: &SessionContext, query: &Query, sql: &str, params: &Params) -> KpiResult {
    let started = Instant::now();
    crate::fault::point("run.query");
    let (schema, outcome) = match run_sql(ctx, &query.name, sql, params).await {
        Ok((schema, batches)) => (schema, Ok(batches)),
        Err(Error::Query { message, .. }) => (empty_schema(), Err(message)),
        Err(other) => (empty_schema(), Err(other.to_string())),
    };
    let seconds = started.elapsed().as_secs_f64();
    match &outcome {
        Ok(b) => {
            tracing::info!(query = %query.name, rows = b.iter().map(|b| b.num_rows()).sum::<usize>(), seconds, "query done")
        }
        Err(e) => tracing::error!(query = %query.name, error = %e, "query failed"),
    }
    KpiResult {
        query: query.clone(),
        schema,
        outcome,
        seconds,
    }
}

fn empty_schema() -> SchemaRef {
    std::sync::Arc::new(Schema::empty())
}

/// `docs/kpis.md`: every built-in KPI, report table, tile and data check, from the
/// query headers (a test keeps the file in sync; `UPDATE_DOCS=1` rewrites it).
pub fn markdown_reference() -> Result<String> {
    let mut out = String::from(
        "# KPI definitions\n\nGenerated from the headers of the query files (`queries/`): each KPI is one SQL file, \
         and what it means is written at its top. A file of the same name in your queries folder replaces a \
         built-in one. Parameters (`$as_of`, `$window_start`, `$window_end` …) are bound by the engine; \
         end(D) is the last microsecond of the as-of date D in the reporting time zone, and the window is the \
         W days (default 28) ending on D.\n\n## KPIs\n\n",
    );
    let kpis = catalogue(None)?;
    let section = |out: &mut String, q: &Query| {
        let h = &q.header;
        out.push_str(&format!(
            "### `{}` — {}\n\n{}\n\nGrain: {}.\n\n",
            q.name, h.title, h.description, h.grain
        ));
        if !h.columns.is_empty() {
            out.push_str("| column | meaning |\n|---|---|\n");
            for (c, m) in &h.columns {
                out.push_str(&format!("| `{c}` | {} |\n", m.replace('|', "\\|")));
            }
            out.push('\n');
        }
        if !h.params.is_empty() {
            let p: Vec<String> = h
                .params
                .iter()
                .map(|(n, v)| format!("`{n}` = {v}"))
                .collect();
            out.push_str(&format!(
                "Parameters (override in `[params]`): {}.\n\n",
                p.join(", ")
            ));
        }
    };
    for q in &kpis {
        section(&mut out, q);
    }
    out.push_str("## Tiles\n\nThe report's headline figures, declared in the KPI headers above (`-- tile:` blocks) and computed into the `tiles` table for the window, the previous window and each of the last weeks.\n\n| tile | title | from | value | target | watch from |\n|---|---|---|---|---|---|\n");
    for t in tiles::declared(&kpis)? {
        let value = match &t.formula {
            tiles::Formula::Ratio {
                numerator,
                denominator,
            } => format!("{numerator} / {denominator}"),
            tiles::Formula::Value { value, .. } => value.clone(),
        };
        let n = |v: Option<f64>| v.map_or(String::new(), |v| v.to_string());
        out.push_str(&format!(
            "| `{}` | {} | `{}` | `{}` | {} | {} |\n",
            t.key,
            t.title,
            t.source,
            value.replace('|', "\\|"),
            n(t.target),
            n(t.warn)
        ));
    }
    out.push_str("\n## What moved the tiles\n\n");
    section(
        &mut out,
        &Query::parse(drivers::TABLE, drivers::HEADER, Origin::BuiltIn),
    );
    out.push_str("## The report's tables\n\nDerived from this run's KPI tables (`kpi.<name>`) for the page; in `kpis/` like every KPI.\n\n");
    for q in &report_queries(None)? {
        section(&mut out, q);
    }
    out.push_str("## Data checks\n\nEach returns the rows that break its rule (none = pass).\n\n");
    for q in &checks::catalogue(None)? {
        out.push_str(&format!(
            "- `{}` — {}: {}\n",
            q.name, q.header.title, q.header.description
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn at_once_runs_two_at_a_time_and_keeps_the_order() {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicUsize, Ordering};
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        // Item i takes (4 - i) × 100 ms: each finishes before the one started first.
        let out = at_once(0..4_u64, |i| {
            let (running, most) = (Arc::clone(&running), Arc::clone(&most));
            async move {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                std::thread::sleep(std::time::Duration::from_millis((4 - i) * 100));
                running.fetch_sub(1, Ordering::SeqCst);
                i * 10
            }
        })
        .await;
        assert_eq!(out, [0, 10, 20, 30]);
        assert_eq!(most.load(Ordering::SeqCst), QUERIES_AT_ONCE);
    }

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

    /// A lake table of one Parquet file (ids 0..20000, `v` = id mod 97, small row
    /// groups and pages), and the ids whose `v` is 7, computed here.
    fn lake_file() -> (tempfile::TempDir, SessionContext, Vec<i64>) {
        use std::sync::Arc;

        use datafusion::arrow::array::Int64Array;
        use datafusion::arrow::datatypes::{DataType, Field};
        use datafusion::parquet::arrow::ArrowWriter;
        use datafusion::parquet::file::properties::WriterProperties;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("part-0.parquet");
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("v", DataType::Int64, false),
        ]));
        let ids: Vec<i64> = (0..20_000).collect();
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![
                Arc::new(Int64Array::from(ids.clone())),
                Arc::new(Int64Array::from_iter_values(ids.iter().map(|i| i % 97))),
            ],
        )
        .expect("batch");
        let props = WriterProperties::builder()
            .set_max_row_group_row_count(Some(4096))
            .set_data_page_row_count_limit(512)
            .build();
        let file = std::fs::File::create(&path).expect("file");
        let mut w = ArrowWriter::try_new(file, Arc::clone(&schema), Some(props)).expect("writer");
        w.write(&batch).expect("write");
        w.close().expect("close");
        let size = std::fs::metadata(&path).expect("size").len();
        let files = vec![crate::engine::lake_table::LakeFile {
            path: path.to_string_lossy().trim_start_matches('/').to_string(),
            size,
            date: Some(20_000),
            rows: Some(ids.len()),
        }];
        let store = datafusion::execution::object_store::ObjectStoreUrl::local_filesystem();
        let table = crate::engine::lake_table::LakeTable::new(schema, store, files);
        let ctx = SessionContext::new();
        ctx.register_table("t", Arc::new(table)).expect("register");
        let want = ids.into_iter().filter(|i| i % 97 == 7).collect();
        (dir, ctx, want)
    }

    #[tokio::test]
    async fn filter_pushdown_is_asked_per_query_and_gives_the_same_rows() {
        use datafusion::arrow::array::AsArray;
        use datafusion::arrow::datatypes::Int64Type;
        let (_dir, ctx, want) = lake_file();
        let date = chrono::NaiveDate::from_ymd_opt(2026, 1, 1).expect("date");
        let params = Params::new(&crate::config::Config::default(), date);
        for header in ["", "-- filter_pushdown: on\n"] {
            let sql = format!("{header}SELECT id FROM t WHERE v = 7 ORDER BY id");
            let (_, batches) = run_sql(&ctx, "t", &sql, &params).await.expect("query");
            let got: Vec<i64> = batches
                .iter()
                .flat_map(|b| b.column(0).as_primitive::<Int64Type>().values().to_vec())
                .collect();
            assert_eq!(got, want, "{header}");
        }
        assert!(filter_pushdown(
            "-- title: x\n-- Filter_Pushdown: ON\nSELECT 1"
        ));
        assert!(!filter_pushdown("-- filter_pushdown: off\nSELECT 1"));
        // The session itself is left as it was.
        assert!(!ctx.state().table_options().parquet.global.pushdown_filters);
    }
}
