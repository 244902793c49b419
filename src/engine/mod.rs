//! The query engine: one DataFusion session, built in one place, over the lake.
//!
//! [`Engine`] is the only entry: it builds the async runtime, the session (every knob
//! we rely on is set in [`session`], with the reason beside it), registers opintel's
//! functions and, with [`Engine::open`], the lake's tables. Every command uses it, and
//! it is where a Ballista context plugs in when one machine is not enough.
//! [`register_lake`] registers each canonical table as a listing table
//! over its folder (only committed files live there), a `<table>_current` view for
//! each versioned table bound to the as-of instant, and the rejects.
//! Parameters (as-of date, window, SLA hours …) are bound by DataFusion, never pasted
//! into SQL text: see [`Params`].

pub mod cluster;
pub(crate) mod lake_table;
pub mod materialize;
mod memo;
mod params;
pub mod state;

use std::sync::Arc;

use datafusion::datasource::MemTable;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::execution::memory_pool::{GreedyMemoryPool, TrackConsumersPool};
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::{SessionConfig, SessionContext};

use crate::contract::{PARTITION_COLUMN, TABLES, TableKind, TableSpec};
use crate::error::{Error, Result};
use crate::lake::Lake;

pub use params::Params;

/// Engine settings that come from the config.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// Memory the engine may use before spilling to disk (bytes).
    pub memory_limit: usize,
    /// Threads (partitions) per query; 0 = one per core.
    pub target_partitions: usize,
    /// The reporting time zone: `local_date(ts)` gives dates in it.
    pub time_zone: chrono_tz::Tz,
    /// A Ballista scheduler (`df://host:port`): queries run on its cluster.
    pub cluster: Option<String>,
    /// How long a command's queries may run on the cluster (None: no limit).
    pub cluster_timeout: Option<std::time::Duration>,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            // Half the machine by default (24 GiB → 12 GiB): the rest is for the OS page
            // cache, which serves the Parquet files.
            memory_limit: physical_memory().map_or(4 << 30, |m| m / 2),
            target_partitions: 0,
            time_zone: chrono_tz::Tz::UTC,
            cluster: None,
            cluster_timeout: None,
        }
    }
}

impl EngineOptions {
    /// The defaults with the config's reporting time zone.
    pub fn from_config(config: &crate::config::Config) -> EngineOptions {
        EngineOptions {
            time_zone: config.reporting_tz(),
            cluster: config.cluster.scheduler.clone(),
            target_partitions: config.cluster.partitions,
            cluster_timeout: (config.cluster.timeout_minutes > 0.0)
                .then(|| std::time::Duration::from_secs_f64(config.cluster.timeout_minutes * 60.0)),
            ..EngineOptions::default()
        }
    }
}

/// The query engine of one command: its async runtime and its DataFusion session,
/// with opintel's functions registered.
pub struct Engine {
    runtime: &'static tokio::runtime::Runtime,
    ctx: SessionContext,
    versions: Versions,
    /// What registering the lake found wrong (a state not read), for the manifest.
    warnings: Vec<String>,
    /// The Ballista scheduler queries run on (`df://host:port`), if any.
    cluster: Option<String>,
    cluster_timeout: Option<std::time::Duration>,
}

impl Engine {
    /// A runtime and a session without tables.
    pub fn new(opts: &EngineOptions) -> Result<Engine> {
        let runtime = crate::runtime::shared()?;
        let (config, env) = session(opts)?;
        let ctx = match &opts.cluster {
            None => SessionContext::new_with_config_rt(config, env),
            Some(url) => {
                let state = datafusion::execution::session_state::SessionStateBuilder::new()
                    .with_default_features()
                    .with_config(cluster::client_config(config))
                    .with_runtime_env(env)
                    .build();
                runtime.block_on(cluster::remote(url, state))?
            }
        };
        // After the Ballista upgrade, which replaces the session's function list.
        params::register_local_date(&ctx, opts.time_zone);
        Ok(Engine {
            runtime,
            ctx,
            versions: Versions::new(),
            warnings: Vec::new(),
            cluster: opts.cluster.clone(),
            cluster_timeout: opts.cluster_timeout,
        })
    }

    /// A runtime and a session over `lake`'s tables, the views bound to `params`.
    /// `reads` says which shared views several of the queries about to run read.
    pub fn open(
        opts: &EngineOptions,
        lake: &Lake,
        params: &Params,
        reads: ViewUse,
    ) -> Result<Engine> {
        Engine::open_at(opts, lake, params, reads, None)
    }

    /// [`Engine::open`] with the tables at the Delta versions `pinned` names (a
    /// report reproduced from its manifest); the others at their latest.
    pub fn open_at(
        opts: &EngineOptions,
        lake: &Lake,
        params: &Params,
        reads: ViewUse,
        pinned: Option<&Versions>,
    ) -> Result<Engine> {
        let mut engine = Engine::new(opts)?;
        // A kept view lives in this process's memory, out of a cluster's reach.
        let reads = if engine.on_cluster() {
            ViewUse::ONCE
        } else {
            reads
        };
        (engine.versions, engine.warnings) = engine.block_on(register_lake(
            &engine.ctx,
            lake,
            params,
            reads,
            pinned,
            engine.on_cluster(),
        ))?;
        Ok(engine)
    }

    /// The Delta version of every lake table this engine reads.
    pub fn versions(&self) -> &Versions {
        &self.versions
    }

    /// What registering the lake found wrong: each kept state read from its source
    /// table instead (also logged as a warning).
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Whether queries run on a Ballista cluster.
    pub fn on_cluster(&self) -> bool {
        self.cluster.is_some()
    }

    /// The Ballista scheduler queries run on, if any.
    pub fn scheduler(&self) -> Option<&str> {
        self.cluster.as_deref()
    }

    pub fn ctx(&self) -> &SessionContext {
        &self.ctx
    }

    /// Run async work (queries, lake I/O) to completion.
    pub fn block_on<F: std::future::Future>(&self, work: F) -> F::Output {
        self.runtime.block_on(work)
    }

    /// Run a command's queries (`what` names them in errors). On one machine this is
    /// [`Engine::block_on`]; on a cluster the work is watched: it fails, and the
    /// command publishes nothing, when an executor is lost or the configured time
    /// runs out (see [`cluster::watched`]).
    pub fn run_queries<T>(
        &self,
        what: &str,
        work: impl std::future::Future<Output = Result<T>>,
    ) -> Result<T> {
        match &self.cluster {
            None => self.block_on(work),
            Some(url) => self.block_on(cluster::watched(url, self.cluster_timeout, what, work)),
        }
    }
}

/// The `event_date` partitions (days since the epoch, ascending, each once) of lake
/// table `name` as registered in `ctx`, from its Delta log: no file is read. `None`
/// when `name` is not a lake table (master data held in memory, a view) or a file's
/// partition is unknown.
pub async fn partition_days(ctx: &SessionContext, name: &str) -> Option<Vec<i32>> {
    let provider = ctx.table_provider(name).await.ok()?;
    let any: &dyn std::any::Any = provider.as_ref();
    let table = any.downcast_ref::<lake_table::LakeTable>()?;
    let mut days = table
        .files()
        .iter()
        .map(|f| f.date)
        .collect::<Option<Vec<i32>>>()?;
    days.sort_unstable();
    days.dedup();
    Some(days)
}

/// Statements queries may run: queries only. DDL, DML, `COPY`, `SET` and the like are
/// refused before planning, so a KPI file or an analyst's query cannot change the lake
/// or read outside it.
pub fn read_only() -> datafusion::execution::context::SQLOptions {
    datafusion::execution::context::SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false)
}

/// Register every `*.parquet` of `dir` (a report folder's `kpis/`) as `<schema>.<name>`.
/// `in_memory` reads them into memory here (for a cluster, whose executors cannot see
/// this machine's files; KPI tables are small). Returns how many were registered.
pub async fn register_parquet_folder(
    ctx: &SessionContext,
    schema_name: &str,
    dir: &std::path::Path,
    in_memory: bool,
) -> Result<usize> {
    let schema = Arc::new(datafusion::catalog::MemorySchemaProvider::new());
    let mut n = 0;
    if let Ok(entries) = std::fs::read_dir(dir) {
        let mut files: Vec<std::path::PathBuf> = entries
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
            let abs = std::path::absolute(&p).map_err(crate::error::io_at(&p))?;
            let url = ListingTableUrl::parse(abs.to_string_lossy())?;
            let options = ListingOptions::new(Arc::new(ParquetFormat::default()))
                .with_file_extension(".parquet");
            let config = ListingTableConfig::new(url)
                .with_listing_options(options)
                .infer_schema(&ctx.state())
                .await?;
            let table: Arc<dyn datafusion::catalog::TableProvider> = if in_memory {
                let df =
                    SessionContext::new().read_table(Arc::new(ListingTable::try_new(config)?))?;
                let schema = Arc::clone(df.schema().inner());
                Arc::new(MemTable::try_new(schema, vec![df.collect().await?])?)
            } else {
                Arc::new(ListingTable::try_new(config)?)
            };
            datafusion::catalog::SchemaProvider::register_table(schema.as_ref(), name, table)?;
            n += 1;
        }
    }
    if let Some(catalog) = ctx.catalog("datafusion") {
        catalog.register_schema(schema_name, schema)?;
    }
    Ok(n)
}

/// Register in-memory tables as `<schema>.<name>` (a run's KPI results).
pub fn register_batches(
    ctx: &SessionContext,
    schema_name: &str,
    tables: &[(
        String,
        datafusion::arrow::datatypes::SchemaRef,
        Vec<datafusion::arrow::record_batch::RecordBatch>,
    )],
) -> Result<()> {
    let schema = Arc::new(datafusion::catalog::MemorySchemaProvider::new());
    for (name, s, batches) in tables {
        let table = MemTable::try_new(Arc::clone(s), vec![batches.clone()]).map_err(|e| {
            Error::query(
                format!("{schema_name}.{name}"),
                format!("cannot register its rows: {e}"),
            )
        })?;
        datafusion::catalog::SchemaProvider::register_table(
            schema.as_ref(),
            name.clone(),
            Arc::new(table),
        )?;
    }
    if let Some(catalog) = ctx.catalog("datafusion") {
        catalog.register_schema(schema_name, schema)?;
    }
    Ok(())
}

/// The session config and runtime every command uses (through [`Engine`]).
fn session(
    opts: &EngineOptions,
) -> Result<(
    SessionConfig,
    Arc<datafusion::execution::runtime_env::RuntimeEnv>,
)> {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2);
    // OPINTEL_TARGET_PARTITIONS overrides one-per-core (for benchmarks and bigger
    // machines). On 2 cores, 4 was 5% faster on the full 16× run (smaller hash tables
    // in the big joins) but is not measured at every size, so it is not the default.
    // On a cluster, partitions are tasks per stage spread over the executors: twice
    // this machine's cores, at least 4, unless [cluster] partitions says otherwise.
    let default = if opts.cluster.is_some() {
        (2 * cores).max(4)
    } else {
        cores
    };
    let partitions = if opts.target_partitions == 0 {
        std::env::var("OPINTEL_TARGET_PARTITIONS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    } else {
        opts.target_partitions
    };
    let mut config = SessionConfig::new()
        // One partition per core: more only adds repartitioning work on small machines.
        .with_target_partitions(partitions)
        // Twice DataFusion's default: our KPIs are long scans into hash joins and
        // aggregates, where fewer, larger batches halve the per-batch overhead (with the
        // two settings below: 7.6 s instead of 8.3 s for the four core KPIs on 8.6 M rows,
        // CPU 13.8 s instead of 15.2 s; `bench/`).
        .with_batch_size(16384)
        // `opintel tables` and analysts use information_schema.
        .with_information_schema(true)
        // Partition values are Date32 from the folder names, no dictionary wrapping
        // needed for a handful of distinct dates per query.
        .with_repartition_joins(true)
        .with_repartition_aggregations(true)
        // KPI outputs are sorted by their SQL; no need to keep file order.
        .with_prefer_existing_sort(false);
    let options = config.options_mut();
    // Windows are pruned by partition (event_date) and by row-group and page
    // statistics: the page index uses the page statistics our writer records. Row-level
    // filter pushdown (late materialisation) is left off: our time filters keep most
    // rows of the pages that survive pruning, so evaluating them inside the decoder only
    // added work (measured 3–5% slower on the core KPIs).
    options.execution.parquet.pushdown_filters = false;
    options.execution.parquet.enable_page_index = true;
    // Skip the partial (pre-repartition) aggregation when it reduces rows by less than
    // half, not just less than 20%: our per-line and per-order group-bys have nearly
    // one group per row, and on 2 cores the partial pass was pure cost (1 s of CPU in
    // fill_rate's per-order step at 8.6 M rows).
    options
        .execution
        .skip_partial_aggregation_probe_ratio_threshold = 0.5;
    // Our lake files are small and many per table; collecting statistics lets the
    // planner pick join sides well.
    options.execution.collect_statistics = true;
    // Hash joins do not spill; on big joins with the memory limit on, sort-merge can.
    // Our KPI joins are small-to-medium, so keep hash joins (faster) by default.
    options.optimizer.prefer_hash_join = true;
    // DataFusion's own environment variables (a setting's key in capitals, `_` for
    // `.`: DATAFUSION_EXECUTION_BATCH_SIZE=8192) override the settings above, for
    // tuning and experiments without a rebuild.
    let keys: Vec<String> = options.entries().into_iter().map(|e| e.key).collect();
    for key in keys {
        let var = key.to_uppercase().replace('.', "_");
        if let Ok(value) = std::env::var(&var) {
            options.set(&key, &value).map_err(|e| Error::Setting {
                key: format!("environment variable {var}"),
                message: format!("{value:?}: {e}"),
            })?;
        }
    }

    let runtime = RuntimeEnvBuilder::new()
        // One limit for the whole query, first come first served: an operator that
        // cannot grow spills (sorts, aggregations). Not FairSpillPool: it caps each
        // spilling operator at limit / (number of spilling operators), and a KPI plan
        // has a dozen of them alive at once, so fill_rate's per-line aggregate spilled
        // at 35 M input rows with most of the 12 GiB unused (95 s instead of a few).
        // The tracking wrapper names the largest consumers if a query does run out.
        .with_memory_pool(Arc::new(TrackConsumersPool::new(
            GreedyMemoryPool::new(opts.memory_limit),
            std::num::NonZeroUsize::new(5).unwrap_or(std::num::NonZeroUsize::MIN),
        )))
        .build_arc()?;
    let config = config
        .with_extension(Arc::new(memo::Kept::default()))
        .with_extension(Arc::new(PickCoverage::default()));
    Ok((config, runtime))
}

/// The Delta version of each lake table (by lake-relative folder) a session reads;
/// None for a table that does not exist yet.
pub type Versions = std::collections::BTreeMap<String, Option<u64>>;

/// Register the lake's tables (each at its latest Delta version, or at the version
/// `pinned` names), `<table>_current` views bound to `params`' as-of instant, and
/// `_rejects_<table>`. `reads` says which shared views several of the queries about
/// to run read (see [`bind_views`]). Returns the versions read and what it found
/// wrong (a state not read).
pub async fn register_lake(
    ctx: &SessionContext,
    lake: &Lake,
    params: &Params,
    reads: ViewUse,
    pinned: Option<&Versions>,
    cluster: bool,
) -> Result<(Versions, Vec<String>)> {
    let mut warnings = Vec::new();
    let loc = lake.location();
    let store_url = loc.store_url();
    if !loc.is_local() {
        ctx.register_object_store(&store_url, loc.store()?);
    }
    let object_store_url = datafusion::execution::object_store::ObjectStoreUrl::parse(format!(
        "{}://{}",
        store_url.scheme(),
        store_url.host_str().unwrap_or("")
    ))?;
    let mut versions = Versions::new();
    let mut source_rows = std::collections::HashMap::new();
    let mut raw_files = std::collections::HashMap::new();
    let mut month_rows = std::collections::HashMap::new();
    let rels = TABLES
        .iter()
        .map(|t| Lake::table_rel(t.name))
        .chain(
            state::KINDS
                .iter()
                .copied()
                .chain(std::iter::once(&state::picks::PICKS))
                .filter(|k| reads_state(pinned, k.rel))
                .map(|k| k.rel.to_string()),
        )
        .chain(TABLES.iter().map(|t| Lake::rejects_rel(t.name)))
        .collect();
    let mut pre = prefetch(lake, rels, pinned).await;
    for t in TABLES {
        let rel = Lake::table_rel(t.name);
        let files = files_of(lake, &rel, pinned, &mut versions, &mut pre).await?;
        source_rows.insert(t.name, state::rows_of(&files));
        month_rows.insert(t.name, state::rows_by_month(&files));
        raw_files.insert(t.name, files.clone());
        let provider = Arc::new(lake_table::LakeTable::new(
            t.lake_schema(),
            object_store_url.clone(),
            files,
        ));
        ctx.register_table(t.name, provider)?;
    }
    // The state tables, once an ingest has made them (older lakes read the raw
    // tables until their next ingest), and only while they match their sources (see
    // `kept_files`).
    for kind in state::KINDS {
        let rows = source_rows.get(kind.source()).copied().flatten();
        if let Some(files) = kept_files(
            lake,
            kind,
            pinned,
            &mut versions,
            &mut pre,
            rows,
            &mut warnings,
        )
        .await?
        {
            let files = if kind.old_months_only {
                let raw = raw_files.remove(kind.source()).unwrap_or_default();
                let (copied, rest) = copy_split(kind, raw, files, &mut warnings);
                raw_files.insert(kind.source(), rest);
                copied
            } else {
                files
            };
            ctx.register_table(
                kind.table,
                Arc::new(lake_table::LakeTable::new(
                    kind.schema(),
                    object_store_url.clone(),
                    files,
                )),
            )?;
        }
    }
    register_pick_months(
        ctx,
        lake,
        &object_store_url,
        pinned,
        &mut versions,
        &mut pre,
        &month_rows,
    )
    .await?;
    if !cluster {
        for t in TABLES.iter().filter(|t| t.kind == TableKind::Master) {
            load_master(ctx, t).await?;
        }
    }
    // The event and snapshot tables are read from their month copies when the
    // session has them: the old months' rows in a few files a month instead of one or
    // more a day (a year of daily files cost the count priority three times its
    // reading), the younger ones from the table's own files.
    for t in TABLES.iter().filter(|t| t.kind != TableKind::Master) {
        let Some(kind) = state::copy_of(t.name) else {
            continue;
        };
        if ctx.table_exist(kind.table)? {
            let rest = raw_files.remove(t.name).unwrap_or_default();
            let young = ctx.read_table(Arc::new(lake_table::LakeTable::new(
                t.lake_schema(),
                object_store_url.clone(),
                rest,
            )))?;
            let schema = young.schema().inner().clone();
            let view = ctx
                .sql(&copy_select(&schema, kind.table))
                .await?
                .union(young)?
                .into_view();
            ctx.deregister_table(t.name)?;
            ctx.register_table(t.name, view)?;
        }
    }
    bind_views(ctx, params, reads).await?;
    for t in TABLES {
        let rel = Lake::rejects_rel(t.name);
        let files = files_of(lake, &rel, pinned, &mut versions, &mut pre).await?;
        ctx.register_table(
            format!("_rejects_{}", t.name),
            Arc::new(lake_table::LakeTable::new(
                crate::lake::rejects_schema(),
                object_store_url.clone(),
                files,
            )),
        )?;
    }
    Ok((versions, warnings))
}

/// Master data is small but, partitioned by `updated_at`, spread over many tiny files
/// (1,241 for a year of the sample item master); every query joins it. Read it once
/// per session into memory, from its master state (a few month files) when the
/// session has it, else from the table itself. Not on a cluster: the executors read
/// the files, plans stay small.
async fn load_master(ctx: &SessionContext, t: &TableSpec) -> Result<()> {
    let raw = ctx.table_provider(t.name).await?;
    let schema = raw.schema();
    let kept = state::copy_of(t.name).filter(|k| ctx.table_exist(k.table).unwrap_or(false));
    let df = match kept {
        Some(kind) => ctx.sql(&copy_select(&schema, kind.table)).await?,
        None => ctx.read_table(raw)?,
    };
    let batches = df
        .collect()
        .await?
        .into_iter()
        .map(|b| {
            datafusion::arrow::record_batch::RecordBatch::try_new(
                Arc::clone(&schema),
                b.columns().to_vec(),
            )
        })
        .collect::<std::result::Result<Vec<_>, _>>()?;
    ctx.deregister_table(t.name)?;
    ctx.register_table(t.name, Arc::new(MemTable::try_new(schema, vec![batches])?))?;
    Ok(())
}

/// The rows of a table (of `schema`: its file columns, then `event_date`) from
/// `state`, its master state or month copy, which keeps every row as it is and its
/// `event_date` as `version_date`.
fn copy_select(schema: &datafusion::arrow::datatypes::Schema, state: &str) -> String {
    let cols: Vec<String> = schema
        .fields()
        .iter()
        .map(|f| match f.name().as_str() {
            PARTITION_COLUMN => format!("version_date AS {PARTITION_COLUMN}"),
            name => format!("\"{name}\""),
        })
        .collect();
    format!("SELECT {} FROM {state}", cols.join(", "))
}

/// A month copy's `files` split against its table's `raw` files: the copy's files of
/// the months it holds exactly (the same row count as the table's files of that
/// month, by the Delta logs), and the table's files of every other month. A month the
/// copy holds other rows of (another tool wrote to the table, an older opintel) is
/// read from the table, with a warning; the next ingest writes it again.
fn copy_split(
    kind: &state::Kind,
    raw: Vec<lake_table::LakeFile>,
    files: Vec<lake_table::LakeFile>,
    warnings: &mut Vec<String>,
) -> (Vec<lake_table::LakeFile>, Vec<lake_table::LakeFile>) {
    let (raw_rows, copy_rows) = (state::rows_by_month(&raw), state::rows_by_month(&files));
    let mut held = std::collections::BTreeSet::new();
    for (m, rows) in &copy_rows {
        let source = raw_rows.get(m).copied().flatten();
        if rows.is_some() && *rows == source {
            held.insert(*m);
        } else {
            tracing::warn!(
                state = kind.rel,
                source = kind.source(),
                month = %date_of_days(*m),
                state_rows = rows,
                source_rows = source,
                "the state does not match its source table in this month (written by \
                 another tool or an older opintel?): reading the table itself; the next \
                 ingest or `opintel lake rebuild-state` writes the month again"
            );
            warnings.push(format!(
                "{} holds {} rows of {} for the month of {} where the table holds {}: that \
                 month was read from the table itself (another tool or an older opintel \
                 wrote to it?); the next ingest of {} writes it again",
                kind.rel,
                rows.map_or("?".into(), |r| r.to_string()),
                kind.source(),
                date_of_days(*m),
                source.map_or("?".into(), |r| r.to_string()),
                kind.source()
            ));
        }
    }
    let in_held =
        |f: &lake_table::LakeFile| f.date.is_some_and(|d| held.contains(&state::month_of(d)));
    let copied = files.into_iter().filter(|f| in_held(f)).collect();
    let rest = raw.into_iter().filter(|f| !in_held(f)).collect();
    (copied, rest)
}

/// The files of state `kind` when a session may read it: the state exists at the
/// version read (a run pinned to versions from before it existed reads the raw
/// tables: the state's latest version may be newer), and a state of one row per
/// source row holds as many rows as its source (`source_rows`, from the Delta log).
/// A write that did not keep it (another tool, an older opintel) leaves it short: the
/// session then reads the raw table, with a warning, until the next ingest rebuilds
/// it.
async fn kept_files(
    lake: &Lake,
    kind: &state::Kind,
    pinned: Option<&Versions>,
    versions: &mut Versions,
    pre: &mut Prefetched,
    source_rows: Option<u64>,
    warnings: &mut Vec<String>,
) -> Result<Option<Vec<lake_table::LakeFile>>> {
    if !reads_state(pinned, kind.rel) {
        return Ok(None);
    }
    let files = files_of(lake, kind.rel, pinned, versions, pre).await?;
    if !versions.get(kind.rel).is_some_and(Option::is_some) {
        return Ok(None);
    }
    if kind.one_per_row {
        let held = state::rows_of(&files);
        if held.is_none() || held != source_rows {
            tracing::warn!(
                state = kind.rel,
                source = kind.source(),
                state_rows = held,
                source_rows,
                "the state does not match its source table (written by another tool or \
                 an older opintel?): reading the table itself; the next ingest or \
                 `opintel lake rebuild-state` builds the state again"
            );
            warnings.push(format!(
                "{} holds {} rows where its source table {} holds {}: the table itself was \
                 read (another tool or an older opintel wrote to it?); the next ingest or \
                 `opintel lake rebuild-state` builds the state again",
                kind.rel,
                held.map_or("?".into(), |r| r.to_string()),
                kind.source(),
                source_rows.map_or("?".into(), |r| r.to_string())
            ));
            return Ok(None);
        }
    }
    Ok(Some(files))
}

/// Whether a session reads state folder `rel`: always, unless it reproduces a run whose
/// pinned versions do not name it (that run read the tables themselves).
fn reads_state(pinned: Option<&Versions>, rel: &str) -> bool {
    pinned.is_none_or(|p| p.contains_key(rel))
}

/// The version of table folder `rel` a reproduced run pins (None: the latest).
fn pinned_version(pinned: Option<&Versions>, rel: &str) -> Option<u64> {
    pinned.and_then(|p| p.get(rel).copied().flatten())
}

/// Table folders' snapshots, loaded ahead by [`prefetch`].
type Prefetched = std::collections::HashMap<String, Result<crate::lake::Snapshot>>;

/// The snapshots of table folders `rels` (at their pinned versions, if any), loaded
/// at once: replaying a Delta log is CPU work (its JSON, every file's statistics), the
/// tables' logs are independent, and a session reads about forty of them. A load that
/// fails is kept as its error, for the table's turn to report it.
async fn prefetch(lake: &Lake, rels: Vec<String>, pinned: Option<&Versions>) -> Prefetched {
    let rels = rels.into_iter().map(|rel| {
        let version = pinned_version(pinned, &rel);
        (rel, version)
    });
    crate::lake::delta::snapshots(lake.location(), rels).await
}

/// The files of table folder `rel` at its pinned (else latest) version (from `pre`
/// when it was loaded ahead).
async fn files_of(
    lake: &Lake,
    rel: &str,
    pinned: Option<&Versions>,
    versions: &mut Versions,
    pre: &mut Prefetched,
) -> Result<Vec<lake_table::LakeFile>> {
    let snap = match pre.remove(rel) {
        Some(loaded) => loaded?,
        None => {
            crate::lake::delta::snapshot(lake.location(), rel, pinned_version(pinned, rel)).await?
        }
    };
    versions.insert(rel.to_string(), snap.version);
    lake_files(lake, rel, &snap)
}

/// The data files of `snap`, a version of table folder `rel`, as DataFusion reads them.
fn lake_files(
    lake: &Lake,
    rel: &str,
    snap: &crate::lake::Snapshot,
) -> Result<Vec<lake_table::LakeFile>> {
    let loc = lake.location();
    snap.files
        .iter()
        .map(|f| {
            // Paths are relative to the table; other writers may log absolute URLs.
            let path = match url::Url::parse(&f.path) {
                Ok(u) => object_store::path::Path::from_url_path(u.path()).map_err(|e| {
                    crate::error::Error::Lake {
                        path: rel.into(),
                        message: e.to_string(),
                    }
                })?,
                _ => loc.object_path(&format!("{rel}/{}", f.path))?,
            };
            Ok(lake_table::LakeFile {
                path: path.to_string(),
                size: f.size,
                date: f.date.map(days),
                rows: f.rows,
            })
        })
        .collect()
}

/// The date `n` days after 1970-01-01.
fn date_of_days(n: i32) -> chrono::NaiveDate {
    chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default()
        + chrono::Duration::days(i64::from(n))
}

fn days(d: chrono::NaiveDate) -> i32 {
    (d - chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default()).num_days() as i32
}

/// The views a binding can keep in memory for several queries (see [`bind_views`]).
const SHARED_VIEWS: [&str; 4] = [
    ORDER_LINE_FULFILMENT,
    ORDER_TOTALS,
    EXCEPTION_STATE,
    RETURN_STATE,
];

/// Which shared views (`order_line_fulfilment`, `order_totals`, `exception_state`,
/// `return_state`) several of the queries about to run against one binding read: a
/// view read by one query at most is a plain view, so the optimizer pushes that
/// query's filters into it (fill_rate alone reads only its window's lines, not all);
/// one read by several is computed once and kept in memory for the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ViewUse(u8);

impl ViewUse {
    /// Every view plain.
    pub const ONCE: ViewUse = ViewUse(0);

    /// The views at least two of these SQL texts read.
    pub fn of<'a>(sql: impl IntoIterator<Item = &'a str>) -> ViewUse {
        let mut once = 0;
        let mut twice = 0;
        for text in sql {
            let reads = Self::read_by(text);
            twice |= once & reads;
            once |= reads;
        }
        ViewUse(twice)
    }

    /// The shared views SQL text `sql` reads (`open_order_lines` reads
    /// `order_line_fulfilment` when the lake keeps no order-line state).
    fn read_by(sql: &str) -> u8 {
        let lower = sql.to_ascii_lowercase();
        let reads = |view: &str| {
            lower.contains(view)
                || (view == ORDER_LINE_FULFILMENT && lower.contains(OPEN_ORDER_LINES))
        };
        SHARED_VIEWS
            .iter()
            .enumerate()
            .filter(|(_, view)| reads(view))
            .fold(0, |bits, (i, _)| bits | 1 << i)
    }

    /// Whether several queries read shared view `name`.
    fn shares(self, name: &str) -> bool {
        SHARED_VIEWS
            .iter()
            .position(|v| *v == name)
            .is_some_and(|i| self.0 & (1 << i) != 0)
    }
}

/// (Re)register the `<table>_current` views and the shared views (`exception_state`,
/// `return_state`, `order_line_fulfilment`, `order_totals`) for `params`' as-of
/// instant and window. The session keeps one computed copy of each shared view (the
/// last one bound `Shared`): binding the same parameters again reuses it whatever
/// `reads` says, so a run can bind other windows `Once` and come back to its own for
/// free.
pub async fn bind_views(ctx: &SessionContext, params: &Params, reads: ViewUse) -> Result<()> {
    let lines = if ctx.table_exist(state::STATE_TABLE)? {
        Some(state::bind_unsettled(ctx, params).await?)
    } else {
        None
    };
    let mut extra = Vec::new();
    if let Some(from) = lines.and_then(|u| u.from) {
        extra.push((
            "unsettled_from",
            datafusion::common::ScalarValue::Date32(Some(days(from))),
        ));
    }
    let values = params.values_with(extra);
    let key = format!("{params:?}");
    let shared = |view: &str| reads.shares(view) && !materialize::on_cluster(ctx);
    // The lines changed after the as-of instant come from the raw tables: their
    // current versions and shipments. When their keys are held (few) and several
    // queries read the lines, those rows are computed once and kept like a shared
    // view: at 16x, as of the day before the night's last exports, each reader of the
    // lines scanned 3.8 M versions and 3.3 M shipments for 5.6 k such lines.
    let keep_unsettled = lines.is_some_and(|u| u.held) && shared(ORDER_LINE_FULFILMENT);
    for t in TABLES.iter().filter(|t| t.versioned()) {
        let name = format!("{}_current", t.name);
        let sql = match lines {
            Some(u) if t.name == "order_lines" => {
                if let Some(sql) = state::unsettled_current_sql(t, u.from.is_some()) {
                    let current = state::UNSETTLED_CURRENT;
                    register_shared(ctx, current, &sql, &values, &key, keep_unsettled).await?;
                    let shipments = state::UNSETTLED_SHIPMENTS;
                    let sql = state::unsettled_shipments_sql();
                    register_shared(ctx, shipments, &sql, &values, &key, keep_unsettled).await?;
                }
                state::current_sql(t, u.from.is_some())
            }
            _ => current_view_sql(t),
        };
        let df = ctx.sql(&sql).await?.with_param_values(values.clone())?;
        ctx.deregister_table(name.as_str())?;
        ctx.register_table(name, df.into_view())?;
    }
    // Every exception's state as of this instant: from the kept state when the lake
    // has it (the states valid at that instant), else from all events. When several
    // queries read it, they share one computation (a view computed on first use and
    // kept, see `memo`; not on a cluster, where the view's plan travels with each
    // query); a lone reader gets a plain view.
    let sql = if ctx.table_exist(state::EXCEPTION_STATE_TABLE)? {
        state::exception_state_sql()
    } else {
        EXCEPTION_STATE_SQL.to_string()
    };
    register_shared(
        ctx,
        EXCEPTION_STATE,
        &sql,
        &values,
        &key,
        shared(EXCEPTION_STATE),
    )
    .await?;
    // Every return's state as of this instant, the same way (one reader today).
    let sql = if ctx.table_exist(state::RETURN_STATE_TABLE)? {
        state::return_state_sql()
    } else {
        RETURN_STATE_SQL.to_string()
    };
    register_shared(ctx, RETURN_STATE, &sql, &values, &key, shared(RETURN_STATE)).await?;
    // Read from the state, every reader of the per-line view scans a few columns of
    // one row per line with its own filters: as fast as keeping the view (20.0 vs
    // 19.8 s at 365 days of history), without holding every line in memory (448 vs
    // 1,354 MiB peak).
    let sql = match lines {
        Some(u) => state::fulfilment_sql(ORDER_LINE_FULFILMENT_SQL, u.from.is_some())?,
        None => ORDER_LINE_FULFILMENT_SQL.to_string(),
    };
    let shared_lines = shared(ORDER_LINE_FULFILMENT) && lines.is_none();
    register_shared(
        ctx,
        ORDER_LINE_FULFILMENT,
        &sql,
        &values,
        &key,
        shared_lines,
    )
    .await?;
    // The lines still open (backorders, inventory_position): from the state, its open
    // partitions and the unsettled lines; else over the per-line view just bound.
    let sql = match lines {
        Some(u) => state::open_lines_sql(
            OPEN_ORDER_LINES_SQL,
            ORDER_LINE_FULFILMENT_SQL,
            u.from.is_some(),
        )?,
        None => OPEN_ORDER_LINES_SQL.to_string(),
    };
    register_shared(ctx, OPEN_ORDER_LINES, &sql, &values, &key, false).await?;
    // The window's orders (what order_flow and order_cycle_time both aggregate): over
    // the per-line view just bound, kept when shared (6.2 M orders at 16×: each KPI
    // grouped 11.5 M lines into them, 4.2 s apiece).
    register_shared(
        ctx,
        ORDER_TOTALS,
        ORDER_TOTALS_SQL,
        &values,
        &key,
        shared(ORDER_TOTALS),
    )
    .await
}

/// Register view `name` (`sql` with `values`) for the binding `key`: the copy the
/// session keeps for `key` when there is one; else, when `shared`, a view computed on
/// first use and kept for `key`; else a plain view.
async fn register_shared(
    ctx: &SessionContext,
    name: &str,
    sql: &str,
    values: &datafusion::common::ParamValues,
    key: &str,
    shared: bool,
) -> Result<()> {
    let kept = ctx.state().config().get_extension::<memo::Kept>();
    ctx.deregister_table(name)?;
    if let Some(view) = kept.as_ref().and_then(|k| k.get(name, key)) {
        ctx.register_table(name, view)?;
        return Ok(());
    }
    let df = ctx.sql(sql).await?.with_param_values(values.clone())?;
    match kept {
        Some(kept) if shared => {
            let view = Arc::new(memo::MemoView::new(name, df.logical_plan().clone()));
            kept.put(name, key.to_string(), Arc::clone(&view));
            ctx.register_table(name, view)?;
        }
        _ => {
            ctx.register_table(name, df.into_view())?;
        }
    }
    Ok(())
}

/// The views `bind_views` registers beside the `<table>_current` ones, and
/// `pick_months`: (name, SQL with its header).
pub fn shared_views() -> [(&'static str, &'static str); 6] {
    [
        (ORDER_LINE_FULFILMENT, ORDER_LINE_FULFILMENT_SQL),
        (OPEN_ORDER_LINES, OPEN_ORDER_LINES_SQL),
        (ORDER_TOTALS, ORDER_TOTALS_SQL),
        (EXCEPTION_STATE, EXCEPTION_STATE_SQL),
        (RETURN_STATE, RETURN_STATE_SQL),
        (PICK_MONTHS, PICK_MONTHS_SQL),
    ]
}

/// Picks per SKU-location and old UTC month, as the ingest keeps them (what the count
/// priority reads its whole months from; see `state::picks`).
pub const PICK_MONTHS: &str = "pick_months";
const PICK_MONTHS_SQL: &str = include_str!("../../queries/views/pick_months.sql");

/// What a session's `pick_months` serves: the months (first days) it holds as the
/// tables are now, with the half-life they were summed with (see
/// `state::picks::usable`), and the months `shipments` has rows in (one without any
/// needs nothing). A session config extension, set when the lake is registered.
#[derive(Debug, Default)]
pub struct PickCoverage(
    std::sync::Mutex<(
        std::collections::BTreeMap<i32, f64>,
        std::collections::BTreeSet<i32>,
    )>,
);

/// Register `pick_months_kept` (the state, when the lake has it and the session reads
/// it), the `pick_months` view over it (empty without it), and the months it serves.
async fn register_pick_months(
    ctx: &SessionContext,
    lake: &Lake,
    store: &datafusion::execution::object_store::ObjectStoreUrl,
    pinned: Option<&Versions>,
    versions: &mut Versions,
    pre: &mut Prefetched,
    month_rows: &std::collections::HashMap<&str, std::collections::BTreeMap<i32, Option<u64>>>,
) -> Result<()> {
    let kind = &state::picks::PICKS;
    let mut warnings = Vec::new();
    let files = kept_files(lake, kind, pinned, versions, pre, None, &mut warnings).await?;
    // Without the state (or when the session does not read it) the view is empty.
    let kept = files.is_some();
    let table = lake_table::LakeTable::new(kind.schema(), store.clone(), files.unwrap_or_default());
    ctx.deregister_table(kind.table)?;
    ctx.register_table(kind.table, Arc::new(table))?;
    ctx.deregister_table(PICK_MONTHS)?;
    ctx.register_table(PICK_MONTHS, ctx.sql(PICK_MONTHS_SQL).await?.into_view())?;
    let mut usable = std::collections::BTreeMap::new();
    if kept {
        let none = std::collections::BTreeMap::new();
        let rows = |t: &str| month_rows.get(t).unwrap_or(&none);
        let held = state::picks::held(ctx, kind.table).await?;
        usable = state::picks::usable(&held, rows("shipments"), rows("cycle_counts"));
    }
    tracing::debug!(
        months = ?usable.keys().map(|&m| date_of_days(m).to_string()).collect::<Vec<_>>(),
        "pick months the session serves from the kept state"
    );
    let shipped: std::collections::BTreeSet<i32> = month_rows
        .get("shipments")
        .map(|m| {
            m.iter()
                .filter(|(_, r)| **r != Some(0))
                .map(|(m, _)| *m)
                .collect()
        })
        .unwrap_or_default();
    if let Some(c) = ctx.state().config().get_extension::<PickCoverage>() {
        *c.0.lock().unwrap_or_else(|e| e.into_inner()) = (usable, shipped);
    }
    Ok(())
}

/// Parameter values to bind over `params`' own for a query: `$pick_months_from` and
/// `$pick_months_to`, the longest run of whole months in the query's range
/// ([`Params::pick_months_range`]) that the session's `pick_months` serves with the
/// run's half-life (or that have no shipments); every other month is read from the
/// shipments.
pub fn pick_months_values(
    ctx: &SessionContext,
    params: &Params,
) -> Vec<(&'static str, datafusion::common::ScalarValue)> {
    let (from, to) = params.pick_months_range();
    let half_life = params.extra.get("half_life_days").copied();
    let (served, shipped) = ctx
        .state()
        .config()
        .get_extension::<PickCoverage>()
        .map(|c| c.0.lock().unwrap_or_else(|e| e.into_inner()).clone())
        .unwrap_or_default();
    let day = |us: i64| us.div_euclid(86_400_000_000) as i32;
    let start_of = |m: i32| {
        date_of_days(m)
            .and_time(chrono::NaiveTime::MIN)
            .and_utc()
            .timestamp_micros()
    };
    let next = state::next_month;
    let ok = |m: i32| {
        half_life.is_some() && (served.get(&m).copied() == half_life || !shipped.contains(&m))
    };
    // The longest run of servable months: [best.0, best.1) in days.
    let (mut best, mut run) = ((day(from), day(from)), None::<i32>);
    let mut m = day(from);
    while m < day(to) {
        let n = next(m);
        if ok(m) {
            let s = *run.get_or_insert(m);
            if n - s > best.1 - best.0 {
                best = (s, n);
            }
        } else {
            run = None;
        }
        m = n;
    }
    let ts = |us: i64| {
        datafusion::common::ScalarValue::TimestampMicrosecond(Some(us), Some("UTC".into()))
    };
    vec![
        ("pick_months_from", ts(start_of(best.0))),
        ("pick_months_to", ts(start_of(best.1))),
    ]
}

/// One row per return as of the binding's instant (what return_to_stock reads).
pub const RETURN_STATE: &str = "return_state";
const RETURN_STATE_SQL: &str = include_str!("../../queries/views/return_state.sql");

/// One row per exception as of the binding's instant, which the exception KPIs share.
pub const EXCEPTION_STATE: &str = "exception_state";
const EXCEPTION_STATE_SQL: &str = include_str!("../../queries/views/exception_state.sql");

/// The per-order-line view several KPIs share; kept in memory once computed when
/// several queries read it (see [`memo`]).
pub const ORDER_LINE_FULFILMENT: &str = "order_line_fulfilment";
const ORDER_LINE_FULFILMENT_SQL: &str =
    include_str!("../../queries/views/order_line_fulfilment.sql");

/// The order lines not shipped in full as of the binding's instant, which backorders
/// and inventory_position read: over `order_line_fulfilment`, or from the state's
/// partitions of open lines when the lake keeps it.
pub const OPEN_ORDER_LINES: &str = "open_order_lines";
const OPEN_ORDER_LINES_SQL: &str = include_str!("../../queries/views/open_order_lines.sql");

/// One row per order placed in the binding's window, which order_flow and
/// order_cycle_time share (kept like the per-line view when both run).
pub const ORDER_TOTALS: &str = "order_totals";
const ORDER_TOTALS_SQL: &str = include_str!("../../queries/views/order_totals.sql");

/// Stop keeping every shared view none of the SQL texts `later` (the queries still
/// to run at this binding) reads (see [`memo::Kept::forget`]): its memory goes at the
/// next binding of the views instead of the session's end.
pub fn forget_kept_unread<'a>(ctx: &SessionContext, later: impl IntoIterator<Item = &'a str>) {
    let Some(kept) = ctx.state().config().get_extension::<memo::Kept>() else {
        return;
    };
    let read = later
        .into_iter()
        .fold(0, |bits, s| bits | ViewUse::read_by(s));
    for (i, view) in SHARED_VIEWS.iter().enumerate() {
        if read & (1 << i) == 0 {
            kept.forget(view);
        }
    }
}

/// Latest version per key with `updated_at` ≤ the as-of instant, ties to the later
/// ingested row. Written as "pick the winning sequence number per key, then join",
/// which DataFusion runs as a hash aggregate plus a hash join: much faster here than
/// `row_number() over (partition by key …) = 1`.
///
/// The winner is `max` of one number that orders like (updated_at, _ingest_seq):
/// updated_at in µs × 2⁶³ + _ingest_seq, as a DECIMAL(38,0) (ingest only accepts
/// timestamps in [2000, 2100), so µs < 2⁵², and _ingest_seq is in [0, 2⁶³): the sum
/// stays below 2¹¹⁵ < 10³⁸). A plain `max` over a primitive column runs in DataFusion's
/// vectorised group accumulator; `last_value(seq ORDER BY updated_at, seq)` keeps
/// per-group ordering state and was 2× slower on 3.7 M order-line versions (the largest
/// single cost of `fill_rate`). The remainder modulo 2⁶³ is the winner's sequence number.
pub(crate) fn current_view_sql(t: &TableSpec) -> String {
    let key = t.key.join(", ");
    let cols: Vec<String> = t.fields.iter().map(|f| format!("v.{}", f.name)).collect();
    format!(
        "SELECT {cols}, v.{seq}, v.{src}, v.{part}
         FROM {table} v
         JOIN (
             SELECT {winner} AS winner
             FROM {table}
             WHERE updated_at <= $window_end AND {part} <= $partition_max
             GROUP BY {key}
         ) w ON v.{seq} = w.winner
         WHERE v.{part} <= $partition_max",
        cols = cols.join(", "),
        seq = crate::contract::INGEST_SEQ,
        winner = latest_seq("updated_at", crate::contract::INGEST_SEQ),
        src = crate::contract::SOURCE_FILE,
        part = PARTITION_COLUMN,
        table = t.name,
    )
}

/// 2⁶³ as the DECIMAL(38, 0) of the packed (time, sequence) numbers.
const TWO63: &str = "CAST(9223372036854775808 AS DECIMAL(38, 0))";

/// Timestamp `time` and sequence number `seq` as one DECIMAL(38, 0) that orders like
/// the pair: `time` in µs × 2⁶³ + `seq` (see [`current_view_sql`]).
pub(crate) fn packed(time: &str, seq: &str) -> String {
    format!(
        "CAST(CAST({time} AS BIGINT) AS DECIMAL(38, 0)) * {TWO63} + CAST({seq} AS DECIMAL(38, 0))"
    )
}

/// The sequence number of each group's latest row by (`time`, `seq`): `max` of
/// [`packed`], modulo 2⁶³.
pub(crate) fn latest_seq(time: &str, seq: &str) -> String {
    latest_seq_of(&packed(time, seq), "")
}

/// `max(packed) window` modulo 2⁶³, as the sequence number (BIGINT); `window` is an
/// `OVER (…)` clause or empty.
pub(crate) fn latest_seq_of(packed: &str, window: &str) -> String {
    format!("CAST(max({packed}) {window} % {TWO63} AS BIGINT)")
}

fn physical_memory() -> Option<usize> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kb: usize = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_view_is_shared_when_two_texts_read_it() {
        let reads = ViewUse::of([
            "SELECT * FROM order_totals",
            "SELECT count(*) FROM ORDER_TOTALS t JOIN exception_state e ON true",
            "SELECT 1 FROM return_state",
        ]);
        assert!(reads.shares("order_totals"));
        // One reader each: plain views.
        assert!(!reads.shares("exception_state"));
        assert!(!reads.shares("return_state"));
        assert!(!reads.shares("order_line_fulfilment"));
        assert_eq!(ViewUse::of(["SELECT 1", "SELECT 2"]), ViewUse::ONCE);
        // A name that is not a shared view is never shared.
        assert!(!ViewUse::of(["lake", "lake"]).shares("lake"));
        // The open lines' view reads the per-line one.
        let lines = ViewUse::of([
            "SELECT * FROM open_order_lines",
            "SELECT 1 FROM order_line_fulfilment",
        ]);
        assert!(lines.shares("order_line_fulfilment"));
        assert!(!lines.shares("open_order_lines"));
    }
}
