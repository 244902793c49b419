//! The same queries on an Apache DataFusion Ballista cluster.
//!
//! A Ballista client plans a query as it would locally, then sends the optimized logical
//! plan (DataFusion protobuf) to the scheduler, which cuts it into stages and hands the
//! tasks to executors; results come back over Arrow Flight. opintel's scheduler and
//! executors are the Ballista ones, started inside the opintel binary
//! ([`run_scheduler`], [`run_executor`]) so that all three sides share what our plans
//! need beyond stock DataFusion:
//!
//! - **The lake's table provider.** A lake table is the file list of one Delta version
//!   (never a folder listing). [`Codec`] writes that list into the plan, so the
//!   scheduler plans exactly the files the client saw, at the same version.
//! - **In-memory tables** (a run's KPI results, which the report's tile queries read):
//!   shipped inside the plan as Arrow IPC. Only small tables go this way; master data
//!   is read from the lake's files on the executors in cluster mode.
//! - **`local_date(ts)`**: its reporting time zone travels with each call in the plan,
//!   so an executor computes the same dates as the client whatever its own zone.
//! - **Object storage**: executors and the scheduler open `s3://` buckets from their own
//!   environment (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`,
//!   `AWS_ENDPOINT_URL`, `AWS_ALLOW_HTTP`); no credential travels in a plan.
//!
//! What does not go to the cluster, on purpose: the shared per-line view is never kept
//! in memory (each query computes what it reads, as a plain view), and a query that
//! reads only `information_schema` runs on the client (Ballista's own rule).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};

use ballista_core::serde::{BallistaLogicalExtensionCodec, BallistaPhysicalExtensionCodec};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::ipc::reader::StreamReader;
use datafusion::arrow::ipc::writer::StreamWriter;
use datafusion::catalog::TableProvider;
use datafusion::common::{DataFusionError, TableReference};
use datafusion::datasource::MemTable;
use datafusion::datasource::file_format::FileFormatFactory;
use datafusion::execution::TaskContext;
use datafusion::execution::object_store::{DefaultObjectStoreRegistry, ObjectStoreRegistry};
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::execution::session_state::{SessionState, SessionStateBuilder};
use datafusion::logical_expr::{Extension, LogicalPlan, ScalarUDF};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::SessionConfig;
use datafusion_proto::logical_plan::LogicalExtensionCodec;
use datafusion_proto::physical_plan::{PhysicalExtensionCodec, PhysicalProtoConverterExtension};
use object_store::ObjectStore;
use url::Url;

use super::lake_table::{LakeFile, LakeTable};
use crate::error::{Error, Result};

type DfResult<T> = datafusion::error::Result<T>;

/// Tags in front of an encoded table provider: which codec wrote it.
const TAG_LAKE: u8 = b'L';
const TAG_MEMORY: u8 = b'M';
const TAG_BALLISTA: u8 = b'B';

/// Largest gRPC message between client, scheduler and executors. Ballista's default
/// (16 MiB) is too small for a plan that carries a month of KPI results or a table
/// version of many thousand files.
pub const MAX_MESSAGE: usize = 256 << 20;

/// The logical codec of the client, the scheduler and the executors (see module doc).
#[derive(Debug, Default)]
pub struct Codec {
    inner: BallistaLogicalExtensionCodec,
}

/// What a lake table's plan node carries.
#[derive(serde::Serialize, serde::Deserialize)]
struct LakeNode {
    store: String,
    files: Vec<LakeFile>,
}

impl LogicalExtensionCodec for Codec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[LogicalPlan],
        ctx: &TaskContext,
    ) -> DfResult<Extension> {
        self.inner.try_decode(buf, inputs, ctx)
    }

    fn try_encode(&self, node: &Extension, buf: &mut Vec<u8>) -> DfResult<()> {
        self.inner.try_encode(node, buf)
    }

    fn try_decode_table_provider(
        &self,
        buf: &[u8],
        table_ref: &TableReference,
        schema: SchemaRef,
        ctx: &TaskContext,
    ) -> DfResult<Arc<dyn TableProvider>> {
        let Some((tag, body)) = buf.split_first() else {
            return Err(DataFusionError::Internal(format!(
                "table {table_ref}: empty provider in the plan"
            )));
        };
        match *tag {
            TAG_LAKE => {
                let node: LakeNode = serde_json::from_slice(body).map_err(|e| {
                    DataFusionError::Internal(format!("table {table_ref}: bad lake node: {e}"))
                })?;
                let store =
                    datafusion::execution::object_store::ObjectStoreUrl::parse(&node.store)?;
                // The plan's schema is the table's: the file columns, then event_date.
                let n = schema.fields().len().saturating_sub(1);
                let file_schema = Arc::new(schema.project(&(0..n).collect::<Vec<_>>())?);
                Ok(Arc::new(LakeTable::new(file_schema, store, node.files)))
            }
            TAG_MEMORY => {
                let reader = StreamReader::try_new(body, None)?;
                let batches = reader.collect::<std::result::Result<Vec<_>, _>>()?;
                Ok(Arc::new(MemTable::try_new(schema, vec![batches])?))
            }
            TAG_BALLISTA => self
                .inner
                .try_decode_table_provider(body, table_ref, schema, ctx),
            other => Err(DataFusionError::Internal(format!(
                "table {table_ref}: unknown provider tag {other}"
            ))),
        }
    }

    fn try_encode_table_provider(
        &self,
        table_ref: &TableReference,
        node: Arc<dyn TableProvider>,
        buf: &mut Vec<u8>,
    ) -> DfResult<()> {
        let any: &dyn std::any::Any = node.as_ref();
        if let Some(lake) = any.downcast_ref::<LakeTable>() {
            buf.push(TAG_LAKE);
            let node = LakeNode {
                store: lake.store().as_str().to_string(),
                files: lake.files().to_vec(),
            };
            serde_json::to_writer(&mut *buf, &node)
                .map_err(|e| DataFusionError::Internal(format!("table {table_ref}: {e}")))?;
            return Ok(());
        }
        if let Some(mem) = any.downcast_ref::<MemTable>() {
            buf.push(TAG_MEMORY);
            let schema = mem.schema();
            let mut w = StreamWriter::try_new(&mut *buf, &schema)?;
            for part in &mem.batches {
                let batches = part.try_read().map_err(|_| {
                    DataFusionError::Internal(format!(
                        "table {table_ref}: in-memory table busy while planning"
                    ))
                })?;
                for b in batches.iter() {
                    w.write(b)?;
                }
            }
            w.finish()?;
            return Ok(());
        }
        buf.push(TAG_BALLISTA);
        self.inner.try_encode_table_provider(table_ref, node, buf)
    }

    fn try_decode_file_format(
        &self,
        buf: &[u8],
        ctx: &TaskContext,
    ) -> DfResult<Arc<dyn FileFormatFactory>> {
        self.inner.try_decode_file_format(buf, ctx)
    }

    fn try_encode_file_format(
        &self,
        buf: &mut Vec<u8>,
        node: Arc<dyn FileFormatFactory>,
    ) -> DfResult<()> {
        self.inner.try_encode_file_format(buf, node)
    }

    fn try_decode_udf(&self, name: &str, buf: &[u8]) -> DfResult<Arc<ScalarUDF>> {
        match decode_udf(name, buf) {
            Some(udf) => udf,
            None => self.inner.try_decode_udf(name, buf),
        }
    }

    fn try_encode_udf(&self, node: &ScalarUDF, buf: &mut Vec<u8>) -> DfResult<()> {
        encode_udf(node, buf);
        Ok(())
    }
}

/// The physical codec of the scheduler and the executors: Ballista's (shuffle nodes)
/// plus `local_date`'s zone.
#[derive(Debug, Default)]
pub struct PhysicalCodec {
    inner: BallistaPhysicalExtensionCodec,
}

impl PhysicalExtensionCodec for PhysicalCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[Arc<dyn ExecutionPlan>],
        ctx: &TaskContext,
        proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        self.inner.try_decode(buf, inputs, ctx, proto_converter)
    }

    fn try_encode(
        &self,
        node: Arc<dyn ExecutionPlan>,
        buf: &mut Vec<u8>,
        proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> DfResult<()> {
        self.inner.try_encode(node, buf, proto_converter)
    }

    fn try_decode_udf(&self, name: &str, buf: &[u8]) -> DfResult<Arc<ScalarUDF>> {
        match decode_udf(name, buf) {
            Some(udf) => udf,
            None => self.inner.try_decode_udf(name, buf),
        }
    }

    fn try_encode_udf(&self, node: &ScalarUDF, buf: &mut Vec<u8>) -> DfResult<()> {
        encode_udf(node, buf);
        Ok(())
    }
}

/// `local_date` writes its zone; other functions travel by name.
fn encode_udf(node: &ScalarUDF, buf: &mut Vec<u8>) {
    if let Some(tz) = super::params::local_date_zone(node) {
        buf.extend_from_slice(tz.name().as_bytes());
    }
}

fn decode_udf(name: &str, buf: &[u8]) -> Option<DfResult<Arc<ScalarUDF>>> {
    if name != "local_date" || buf.is_empty() {
        return None;
    }
    let zone = String::from_utf8_lossy(buf);
    Some(
        zone.parse::<chrono_tz::Tz>()
            .map(|tz| Arc::new(super::params::local_date(tz)))
            .map_err(|e| DataFusionError::Plan(format!("local_date: time zone {zone}: {e}"))),
    )
}

/// An object store registry that opens an `s3://` bucket it has not seen from the
/// process's environment, once. Local files need nothing.
#[derive(Debug, Default)]
pub struct EnvStores {
    known: DefaultObjectStoreRegistry,
    opened: RwLock<HashMap<String, Arc<dyn ObjectStore>>>,
}

impl ObjectStoreRegistry for EnvStores {
    fn register_store(
        &self,
        url: &Url,
        store: Arc<dyn ObjectStore>,
    ) -> Option<Arc<dyn ObjectStore>> {
        self.known.register_store(url, store)
    }

    fn deregister_store(&self, url: &Url) -> DfResult<Arc<dyn ObjectStore>> {
        self.known.deregister_store(url)
    }

    fn get_store(&self, url: &Url) -> DfResult<Arc<dyn ObjectStore>> {
        if let Ok(s) = self.known.get_store(url) {
            return Ok(s);
        }
        if !matches!(url.scheme(), "s3" | "s3a") {
            return self.known.get_store(url);
        }
        let bucket = url.host_str().unwrap_or_default().to_string();
        if let Some(s) = self
            .opened
            .read()
            .ok()
            .and_then(|m| m.get(&bucket).cloned())
        {
            return Ok(s);
        }
        let store: Arc<dyn ObjectStore> = Arc::new(
            object_store::aws::AmazonS3Builder::from_env()
                .with_bucket_name(&bucket)
                .build()
                .map_err(|e| {
                    DataFusionError::External(
                        format!(
                            "cannot open s3://{bucket} from this process's AWS_* environment: {e}"
                        )
                        .into(),
                    )
                })?,
        );
        if let Ok(mut m) = self.opened.write() {
            m.insert(bucket, Arc::clone(&store));
        }
        Ok(store)
    }
}

/// A runtime whose object stores come from the environment, spilling into `work_dir`.
fn env_runtime(work_dir: Option<&str>) -> DfResult<Arc<RuntimeEnv>> {
    let mut b = RuntimeEnvBuilder::new().with_object_store_registry(Arc::new(EnvStores::default()));
    if let Some(dir) = work_dir {
        b = b.with_temp_file_path(dir);
    }
    b.build_arc()
}

/// The client side: `state` (our session, tables not yet registered) becomes a
/// session that sends every query to the scheduler at `url` (`df://host:port`).
pub fn client_config(config: SessionConfig) -> SessionConfig {
    use ballista_core::extension::SessionConfigExt;
    config
        .upgrade_for_ballista()
        .with_ballista_logical_extension_codec(Arc::new(Codec::default()))
        .with_ballista_physical_extension_codec(Arc::new(PhysicalCodec::default()))
        // Ballista's adaptive planner lacks executor-failure handling (its tuning guide).
        .with_ballista_adaptive_query_planner(false)
        .with_ballista_grpc_client_max_message_size(MAX_MESSAGE)
        .with_ballista_job_name("opintel")
        // Ballista plans partitioned joins as sort-merge joins (they spill). DataFusion
        // 55's sort-merge join cannot compare time-zoned timestamps (inventory_position
        // failed with "Unsupported data type in sort merge join comparator" once its
        // tables outgrew the broadcast threshold), so the cluster plans the same hash
        // joins as one machine does; executors are sized for them (`--memory-mb`).
        .set_bool("datafusion.optimizer.prefer_hash_join", true)
}

/// A Ballista session over `state` for the scheduler at `url`.
pub async fn remote(url: &str, state: SessionState) -> Result<datafusion::prelude::SessionContext> {
    use ballista::prelude::SessionContextExt;
    let parsed = scheduler_address(url)?;
    datafusion::prelude::SessionContext::remote_with_state(&format!("df://{parsed}"), state)
        .await
        .map_err(|e| Error::setting("cluster", format!("{url}: {e}")))
}

/// The ids of the executors the scheduler at `url` has registered, from its REST API
/// (`/api/executors`); `None` when it does not answer. Ballista removes an executor it
/// has lost from this list before it reruns that executor's tasks, so a run whose
/// executors at the end include every one of the start saw no such rerun.
pub fn executor_ids(url: &str) -> Option<std::collections::BTreeSet<String>> {
    let addr = scheduler_address(url).ok()?;
    let body = ureq::get(&format!("http://{addr}/api/executors"))
        .timeout(std::time::Duration::from_secs(10))
        .call()
        .ok()?
        .into_string()
        .ok()?;
    let list: Vec<serde_json::Value> = serde_json::from_str(&body).ok()?;
    Some(
        list.iter()
            .filter_map(|e| e.get("id")?.as_str().map(str::to_string))
            .collect(),
    )
}

/// How often a watched command asks the scheduler for its executors.
const WATCH_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

async fn executor_ids_now(url: &str) -> Option<std::collections::BTreeSet<String>> {
    let url = url.to_string();
    tokio::task::spawn_blocking(move || executor_ids(&url))
        .await
        .ok()
        .flatten()
}

/// Run `work` (a command's queries, `what` in errors) on the cluster at `url`, watched.
///
/// Ballista 55 does not make a lost executor safe for us: its rerun of the lost
/// executor's tasks once gave a wrong count (6 rows for 4), and once left the job
/// running for good. So the executors the scheduler lists (`/api/executors`) are read
/// at the start, every [`WATCH_EVERY`] while the work runs, and at the end; when one
/// of the start is gone the work is dropped and this fails. The work also fails when
/// `timeout` passes. Either way the caller publishes nothing. The jobs already sent
/// stay the scheduler's to finish or fail.
pub async fn watched<T>(
    url: &str,
    timeout: Option<std::time::Duration>,
    what: &str,
    work: impl std::future::Future<Output = Result<T>>,
) -> Result<T> {
    let failed = |message: String| Error::Cluster {
        scheduler: url.to_string(),
        name: what.to_string(),
        message,
    };
    let lost_since = |before: &std::collections::BTreeSet<String>,
                      now: &std::collections::BTreeSet<String>| {
        let gone: Vec<&str> = before.difference(now).map(String::as_str).collect();
        (!gone.is_empty()).then(|| {
            failed(format!(
                "executor(s) {} were lost while they ran; Ballista's rerun of their tasks is not trusted, so nothing was published: run again",
                gone.join(", ")
            ))
        })
    };
    let before = executor_ids_now(url).await;
    if before.is_none() {
        tracing::warn!(
            "the scheduler's REST API (/api/executors) did not answer: a lost executor cannot be noticed"
        );
    }
    let watch = async {
        let Some(before) = &before else {
            return std::future::pending::<Error>().await;
        };
        loop {
            tokio::time::sleep(WATCH_EVERY).await;
            if let Some(lost) = executor_ids_now(url)
                .await
                .and_then(|now| lost_since(before, &now))
            {
                return lost;
            }
        }
    };
    let deadline = async {
        match timeout {
            Some(t) => {
                tokio::time::sleep(t).await;
                failed(format!(
                    "not done after {} minutes (cluster.timeout_minutes); nothing was published",
                    t.as_secs_f64() / 60.0
                ))
            }
            None => std::future::pending::<Error>().await,
        }
    };
    tokio::select! {
        done = work => {
            let done = done?;
            if let Some(before) = &before {
                match executor_ids_now(url).await {
                    Some(now) => {
                        if let Some(lost) = lost_since(before, &now) {
                            return Err(lost);
                        }
                    }
                    // The watcher read the list every 2 s while the work ran; one
                    // unanswered request at the end is not a lost executor.
                    None => tracing::warn!(
                        "the scheduler's REST API (/api/executors) did not answer after the queries: the last seconds were not checked for a lost executor"
                    ),
                }
            }
            Ok(done)
        }
        lost = watch => Err(lost),
        late = deadline => Err(late),
    }
}

/// `df://host:port` (or `host:port`) → `host:port`, checked.
pub fn scheduler_address(url: &str) -> Result<String> {
    let rest = url
        .strip_prefix("df://")
        .or_else(|| url.strip_prefix("http://"))
        .unwrap_or(url)
        .trim_end_matches('/');
    let bad = || {
        Error::setting(
            "cluster",
            format!("{url:?} is not a scheduler address: expected df://HOST:PORT"),
        )
    };
    let (host, port) = rest.rsplit_once(':').ok_or_else(bad)?;
    if host.is_empty() || port.parse::<u16>().is_err() {
        return Err(bad());
    }
    Ok(format!("{host}:{port}"))
}

/// How to run a scheduler.
#[derive(Debug, Clone)]
pub struct SchedulerOptions {
    pub bind: SocketAddr,
    /// The name executors and clients reach this scheduler by (default: the bind host).
    pub external_host: Option<String>,
    /// Seconds without a heartbeat before an executor counts as lost.
    pub executor_timeout_seconds: u64,
}

/// Run a Ballista scheduler (gRPC, REST `/api/*` and `/healthz` on one port) until the
/// process is stopped.
pub async fn run_scheduler(opts: &SchedulerOptions) -> Result<()> {
    use ballista_scheduler::cluster::BallistaCluster;
    use ballista_scheduler::config::SchedulerConfig;
    let session_builder: ballista_scheduler::scheduler_server::SessionBuilder =
        Arc::new(|cfg: SessionConfig| {
            use ballista_core::extension::{
                ballista_aggregate_functions, ballista_scalar_functions, ballista_window_functions,
            };
            Ok(SessionStateBuilder::new()
                .with_default_features()
                .with_config(cfg)
                .with_runtime_env(env_runtime(None)?)
                .with_optimizer_rules(ballista_core::optimizer::ballista_default_optimizer_rules())
                .with_scalar_functions(ballista_scalar_functions())
                .with_aggregate_functions(ballista_aggregate_functions())
                .with_window_functions(ballista_window_functions())
                .build())
        });
    let config = SchedulerConfig {
        bind_host: opts.bind.ip().to_string(),
        bind_port: opts.bind.port(),
        external_host: opts
            .external_host
            .clone()
            .unwrap_or_else(|| opts.bind.ip().to_string()),
        executor_timeout_seconds: opts.executor_timeout_seconds,
        expire_dead_executor_interval_seconds: 5,
        no_executors_grace_period_seconds: opts.executor_timeout_seconds,
        grpc_server_max_decoding_message_size: MAX_MESSAGE as u32,
        grpc_server_max_encoding_message_size: MAX_MESSAGE as u32,
        grpc_client_max_message_size: MAX_MESSAGE as u32,
        override_session_builder: Some(session_builder),
        override_logical_codec: Some(Arc::new(Codec::default())),
        override_physical_codec: Some(Arc::new(PhysicalCodec::default())),
        ..Default::default()
    };
    let cluster = BallistaCluster::new_from_config(&config)
        .await
        .map_err(|e| Error::setting("cluster scheduler", e.to_string()))?;
    ballista_scheduler::scheduler_process::start_server(cluster, opts.bind, Arc::new(config))
        .await
        .map_err(|e| Error::setting("cluster scheduler", e.to_string()))
}

/// How to run an executor.
#[derive(Debug, Clone)]
pub struct ExecutorOptions {
    /// The scheduler's `host:port`.
    pub scheduler: String,
    /// The address to listen on; `port` serves results (Arrow Flight), `grpc_port`
    /// takes tasks from the scheduler.
    pub bind_host: String,
    pub external_host: Option<String>,
    pub port: u16,
    pub grpc_port: u16,
    /// Tasks at once (0 = one per core).
    pub concurrent_tasks: usize,
    /// Where shuffle files and spills go.
    pub work_dir: String,
    /// Memory for all tasks together (bytes); None = 70% of the machine.
    pub memory_limit: Option<u64>,
    /// Seconds between heartbeats to the scheduler.
    pub heartbeat_seconds: u64,
}

/// Run a Ballista executor until the process is stopped or the scheduler stops it.
pub async fn run_executor(opts: &ExecutorOptions) -> Result<()> {
    use ballista_executor::executor_process::{ExecutorProcessConfig, start_executor_process};
    let (host, port) = scheduler_address(&opts.scheduler)?
        .rsplit_once(':')
        .map(|(h, p)| (h.to_string(), p.parse::<u16>().unwrap_or(50050)))
        .ok_or_else(|| Error::setting("--scheduler", "expected HOST:PORT"))?;
    std::fs::create_dir_all(&opts.work_dir).map_err(crate::error::io_at(&opts.work_dir))?;
    let wd = opts.work_dir.clone();
    let runtime: ballista_core::RuntimeProducer =
        Arc::new(move |_cfg: &SessionConfig| env_runtime(Some(&wd)));
    // Every function a session of ours knows (DataFusion's defaults leave out the
    // nested ones, e.g. array_element), plus local_date for plans that name it bare.
    let state = SessionStateBuilder::new().with_default_features().build();
    let mut functions = ballista_core::registry::BallistaFunctionRegistry::from(&state);
    let udf = Arc::new(super::params::local_date(chrono_tz::Tz::UTC));
    functions
        .scalar_functions
        .insert(udf.name().to_string(), udf);
    let config = ExecutorProcessConfig {
        bind_host: opts.bind_host.clone(),
        external_host: opts.external_host.clone(),
        port: opts.port,
        grpc_port: opts.grpc_port,
        scheduler_host: host,
        scheduler_port: port,
        scheduler_connect_timeout_seconds: 30,
        vcores: opts.concurrent_tasks,
        work_dir: Some(opts.work_dir.clone()),
        memory_pool_size: opts.memory_limit,
        executor_heartbeat_interval_seconds: opts.heartbeat_seconds,
        grpc_max_decoding_message_size: MAX_MESSAGE as u32,
        grpc_max_encoding_message_size: MAX_MESSAGE as u32,
        override_runtime_producer: Some(runtime),
        override_function_registry: Some(Arc::new(functions)),
        override_execution_engine: Some(Arc::new(WithoutOperatorMetrics(
            ballista_executor::execution_engine::DefaultExecutionEngine::new(),
        ))),
        override_logical_codec: Some(Arc::new(Codec::default())),
        override_physical_codec: Some(Arc::new(PhysicalCodec::default())),
        ..Default::default()
    };
    start_executor_process(Arc::new(config))
        .await
        .map_err(|e| Error::setting("cluster executor", e.to_string()))
}

/// Ballista 55.0's execution engine, reporting no per-operator metrics. Its scheduler
/// merges each task's operator metrics into the stage's by position and rejects the
/// whole task status when two tasks of a stage report different numbers of operator
/// metric sets (an operator reports none until it has run); the job then waits
/// forever for a task that finished. Seen on our KPI plans; with no metrics the merge
/// is skipped and the status goes through.
struct WithoutOperatorMetrics(ballista_executor::execution_engine::DefaultExecutionEngine);

impl ballista_executor::execution_engine::ExecutionEngine for WithoutOperatorMetrics {
    fn create_query_stage_exec(
        &self,
        job_id: ballista_core::JobId,
        stage_id: usize,
        task_id: usize,
        global_output_partition_ids: Vec<usize>,
        plan: Arc<dyn ExecutionPlan>,
        work_dir: &str,
        config: &SessionConfig,
    ) -> DfResult<Arc<dyn ballista_executor::execution_engine::QueryStageExecutor>> {
        let inner = self.0.create_query_stage_exec(
            job_id,
            stage_id,
            task_id,
            global_output_partition_ids,
            plan,
            work_dir,
            config,
        )?;
        Ok(Arc::new(StageWithoutMetrics(inner)))
    }
}

#[derive(Debug)]
struct StageWithoutMetrics(Arc<dyn ballista_executor::execution_engine::QueryStageExecutor>);

impl std::fmt::Display for StageWithoutMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

#[async_trait::async_trait]
impl ballista_executor::execution_engine::QueryStageExecutor for StageWithoutMetrics {
    async fn execute_query_stage(
        &self,
        task_id: usize,
        context: Arc<TaskContext>,
    ) -> DfResult<Vec<ballista_core::serde::protobuf::ShuffleWritePartition>> {
        self.0.execute_query_stage(task_id, context).await
    }

    fn collect_plan_metrics(&self) -> Vec<datafusion::physical_plan::metrics::MetricsSet> {
        Vec::new()
    }

    fn collect_runtime_stats_reports(
        &self,
    ) -> Vec<ballista_core::serde::protobuf::RuntimeStatsReport> {
        self.0.collect_runtime_stats_reports()
    }

    fn collect_window_state_reports(
        &self,
    ) -> DfResult<Vec<ballista_core::serde::protobuf::WindowStateReport>> {
        self.0.collect_window_state_reports()
    }

    fn collect_column_stats(&self) -> Vec<ballista_core::serde::protobuf::TaskColumnStats> {
        self.0.collect_column_stats()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Int64Array, StringArray};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use datafusion::arrow::record_batch::RecordBatch;

    #[test]
    fn addresses() {
        assert_eq!(
            scheduler_address("df://10.0.0.5:50050").unwrap(),
            "10.0.0.5:50050"
        );
        assert_eq!(scheduler_address("sched:7").unwrap(), "sched:7");
        assert!(scheduler_address("df://nohost").is_err());
        assert!(scheduler_address("df://h:notaport").is_err());
    }

    #[test]
    fn local_date_keeps_its_zone_through_the_codec() {
        let udf = super::super::params::local_date(chrono_tz::Tz::America__New_York);
        let mut buf = Vec::new();
        Codec::default().try_encode_udf(&udf, &mut buf).unwrap();
        assert_eq!(buf, b"America/New_York");
        let back = Codec::default().try_decode_udf("local_date", &buf).unwrap();
        assert_eq!(
            super::super::params::local_date_zone(&back),
            Some(chrono_tz::Tz::America__New_York)
        );
    }

    #[test]
    fn tables_round_trip() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("k", DataType::Utf8, false),
            Field::new("n", DataType::Int64, true),
        ]));
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![
                Arc::new(StringArray::from(vec!["a", "b"])),
                Arc::new(Int64Array::from(vec![Some(1), None])),
            ],
        )
        .unwrap();
        let mem =
            Arc::new(MemTable::try_new(Arc::clone(&schema), vec![vec![batch.clone()]]).unwrap());
        let codec = Codec::default();
        let t = TableReference::bare("t");
        let mut buf = Vec::new();
        codec.try_encode_table_provider(&t, mem, &mut buf).unwrap();
        let ctx = TaskContext::default();
        let back = codec
            .try_decode_table_provider(&buf, &t, Arc::clone(&schema), &ctx)
            .unwrap();
        let any: &dyn std::any::Any = back.as_ref();
        let mem = any.downcast_ref::<MemTable>().unwrap();
        let got = mem.batches[0].try_read().unwrap().clone();
        assert_eq!(got, vec![batch]);

        let files = vec![LakeFile {
            path: "lake/shipments/x.parquet".into(),
            size: 10,
            date: Some(20_000),
            rows: Some(3),
        }];
        let store = datafusion::execution::object_store::ObjectStoreUrl::parse("s3://b").unwrap();
        let lake = Arc::new(LakeTable::new(Arc::clone(&schema), store, files));
        let full = lake.schema();
        let mut buf = Vec::new();
        codec.try_encode_table_provider(&t, lake, &mut buf).unwrap();
        let back = codec
            .try_decode_table_provider(&buf, &t, Arc::clone(&full), &ctx)
            .unwrap();
        assert_eq!(back.schema(), full);
        let any: &dyn std::any::Any = back.as_ref();
        let lake = any.downcast_ref::<LakeTable>().unwrap();
        assert_eq!(lake.files()[0].path, "lake/shipments/x.parquet");
        assert_eq!(lake.files()[0].date, Some(20_000));
        assert_eq!(lake.store().as_str(), "s3://b/");
    }
}
