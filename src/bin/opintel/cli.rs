//! The command line (stable surface): clap structs that mirror the flags, built from
//! small shared groups (`--lake`, `--as-of`, `--report`, `--queries`, `--wait`)
//! flattened into each command. `resolve` turns them and the config file into the
//! library's requests in one step; nothing here reaches the library.

use std::path::PathBuf;

use chrono::NaiveDate;
use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "opintel",
    version,
    about = "Operational intelligence for warehouses: exports → lake → KPIs → report",
    after_help = "Exit status: 0 ok · 1 unexpected failure · 2 bad command line, config or SQL · \
                  3 published with a failed file, KPI or check · 4 unusable input · \
                  5 the lake is locked · 6 published with a stale feed (--fail-on-stale)"
)]
pub struct Cli {
    /// Config file (default: opintel.toml in the current folder, when present).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Only errors on stderr; no progress bars.
    #[arg(long, short, global = true)]
    pub quiet: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Generate a sample operation, ingest it, compute every KPI and write the report.
    Demo(DemoArgs),
    /// Write sample exports of a realistic operation (deterministic by seed).
    Generate(GenerateArgs),
    /// Ingest export files or folders into the lake.
    Ingest(IngestArgs),
    /// The nightly job: ingest PATHs if given, compute every KPI, write the report.
    Run(RunArgs),
    /// Read-only SQL over the lake, the <table>_current views, the rejects and the KPIs.
    Sql(SqlArgs),
    /// The drivers of a headline figure's change: its split by segment (kpi_drivers).
    Explain(ExplainArgs),
    /// List the tables analysts can query, with their columns and meanings.
    Tables(TablesArgs),
    /// An interactive SQL shell (history, multi-line statements ending with ;).
    Shell(ShellArgs),
    /// Run the data checks (queries/checks): exit 3 when a check finds violations.
    Check(CheckArgs),
    /// Score the cycle-count priority against a list of known wrong records.
    EvaluatePriority(EvaluatePriorityArgs),
    /// Backtest the cycle-count priority: rank as of D, check what the next days revealed.
    BacktestPriority(BacktestPriorityArgs),
    /// Lake maintenance: compact small files, drop unreferenced ones, migrate an older lake.
    #[command(subcommand)]
    Lake(LakeCommand),
    /// Serve a Ballista cluster for `--cluster` runs: one scheduler, any number of executors.
    #[command(subcommand)]
    Cluster(ClusterCommand),
}

#[derive(Debug, Subcommand)]
pub enum ClusterCommand {
    /// The scheduler: plans jobs and hands tasks to executors. gRPC, the REST API
    /// (/api/jobs, /api/executors) and /healthz share one port.
    Scheduler(SchedulerArgs),
    /// An executor: runs tasks, keeps shuffle files in --work-dir, serves them over Arrow Flight.
    Executor(ExecutorArgs),
}

#[derive(Debug, Args)]
pub struct SchedulerArgs {
    /// Address to listen on.
    #[arg(long, value_name = "HOST:PORT", default_value = "0.0.0.0:50050")]
    pub bind: std::net::SocketAddr,
    /// The name executors reach this scheduler by (default: the bind address).
    #[arg(long, value_name = "HOST")]
    pub external_host: Option<String>,
    /// Seconds without a heartbeat before an executor is lost and its tasks rerun.
    #[arg(long, value_name = "SECONDS", default_value_t = 30)]
    pub executor_timeout: u64,
}

#[derive(Debug, Args)]
pub struct ExecutorArgs {
    /// The scheduler.
    #[arg(long, value_name = "HOST:PORT")]
    pub scheduler: String,
    /// Tasks run at once (default: one per core).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub concurrent_tasks: usize,
    /// Shuffle files and spills (default: a folder named after the ports in the system's temp dir).
    #[arg(long, value_name = "DIR")]
    pub work_dir: Option<PathBuf>,
    /// Address to listen on.
    #[arg(long, value_name = "HOST", default_value = "0.0.0.0")]
    pub bind_host: String,
    /// The name the scheduler and clients reach this executor by (default: the address
    /// the scheduler sees it connect from).
    #[arg(long, value_name = "HOST")]
    pub external_host: Option<String>,
    /// Port serving task results (Arrow Flight).
    #[arg(long, value_name = "PORT", default_value_t = 50051)]
    pub port: u16,
    /// Port taking tasks from the scheduler.
    #[arg(long, value_name = "PORT", default_value_t = 50052)]
    pub grpc_port: u16,
    /// Memory for all running tasks together, in MiB (default: 70% of the machine).
    #[arg(long, value_name = "MIB")]
    pub memory_mb: Option<u64>,
}

#[derive(Debug, Subcommand)]
pub enum LakeCommand {
    /// Compact each partition's small files into bigger ones (one Delta commit per table).
    Optimize(OptimizeArgs),
    /// Delete files no table version younger than the retention references.
    Vacuum(VacuumArgs),
    /// Convert a lake of the older plain-Parquet layout into a Delta lake.
    Migrate(MigrateArgs),
    /// Recompute the state tables (order lines, exceptions; kept by every ingest) from the event tables.
    RebuildState(RebuildStateArgs),
}

#[derive(Debug, Args)]
pub struct RebuildStateArgs {
    #[command(flatten)]
    pub lake: LakeOpt,
    /// Wait up to this many seconds for another run to release the lake.
    #[arg(long, value_name = "SECONDS", num_args = 0..=1, default_missing_value = "3600")]
    pub wait: Option<u64>,
}

#[derive(Debug, Args)]
pub struct OptimizeArgs {
    #[command(flatten)]
    pub lake: LakeOpt,
    /// Size of the compacted files, in MiB.
    #[arg(long, value_name = "MIB", default_value_t = 128)]
    pub target_mb: u64,
    /// Wait up to this many seconds for another run to release the lake.
    #[arg(long, value_name = "SECONDS", num_args = 0..=1, default_missing_value = "3600")]
    pub wait: Option<u64>,
}

#[derive(Debug, Args)]
pub struct VacuumArgs {
    #[command(flatten)]
    pub lake: LakeOpt,
    /// Keep files that versions of the last N hours read (time travel stops there).
    #[arg(long, value_name = "N", default_value_t = 168)]
    pub retain_hours: u64,
    /// Wait up to this many seconds for another run to release the lake.
    #[arg(long, value_name = "SECONDS", num_args = 0..=1, default_missing_value = "3600")]
    pub wait: Option<u64>,
}

#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// The lake of the older layout (a folder with _opintel/log).
    #[arg(value_name = "OLD")]
    pub old: PathBuf,
    /// The new Delta lake: a folder or an s3:// URL (storage settings from the config).
    #[arg(value_name = "NEW")]
    pub new: PathBuf,
}

/// `--lake`.
#[derive(Debug, Clone, Args)]
pub struct LakeOpt {
    /// The lake (default: `lake` of the config, else data/lake).
    #[arg(long, value_name = "DIR")]
    pub lake: Option<PathBuf>,
    /// Run the queries on the Ballista cluster whose scheduler is here (default:
    /// `[cluster] scheduler` of the config, else this machine).
    #[arg(long, value_name = "df://HOST:PORT")]
    pub cluster: Option<String>,
}

/// `--as-of` for analysts' commands.
#[derive(Debug, Clone, Args)]
pub struct AsOfOpt {
    /// As-of date (default: the as-of date of the report whose KPI tables are loaded,
    /// else the lake's latest data date).
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub as_of: Option<NaiveDate>,
}

/// `--report`.
#[derive(Debug, Clone, Args)]
pub struct ReportOpt {
    /// Report folder whose KPI tables are `kpi.<name>` (default: <reports>/latest).
    #[arg(long, value_name = "DIR")]
    pub report: Option<PathBuf>,
}

/// `--queries`.
#[derive(Debug, Clone, Args)]
pub struct QueriesOpt {
    /// A folder of .sql KPI files that add to or override the built-in ones (and its
    /// checks/ and report/ subfolders).
    #[arg(long, value_name = "DIR")]
    pub queries: Option<PathBuf>,
}

/// `--wait` and `--strict`, for commands that write the lake.
#[derive(Debug, Clone, Args)]
pub struct WriteOpt {
    /// Wait up to this many seconds for another run to release the lake.
    #[arg(long, value_name = "SECONDS", num_args = 0..=1, default_missing_value = "3600")]
    pub wait: Option<u64>,
    /// Exit with the partial-success code when any row is rejected.
    #[arg(long)]
    pub strict: bool,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Report folder.
    #[arg(long, value_name = "DIR", default_value = "reports/demo")]
    pub out: PathBuf,
    /// Where the sample exports and the demo lake go (replaced on every demo).
    #[arg(long, value_name = "DIR", default_value = "data/demo")]
    pub data: PathBuf,
    /// Size of the sample operation (1 = a mid-size retailer's month).
    #[arg(long, default_value_t = 1.0)]
    pub scale: f64,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Output folder (must be empty or absent).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Days of history.
    #[arg(long, default_value_t = 35)]
    pub days: u32,
    /// Size (1 = ~3 warehouses, thousands of SKUs, ~300k order lines).
    #[arg(long, default_value_t = 1.0)]
    pub scale: f64,
    /// Last day generated.
    #[arg(long, value_name = "YYYY-MM-DD", default_value = "2026-11-20")]
    pub end: NaiveDate,
}

#[derive(Debug, Args)]
pub struct IngestArgs {
    #[command(flatten)]
    pub lake: LakeOpt,
    #[command(flatten)]
    pub write: WriteOpt,
    /// Also write the ingest report (per file and per table counts) as JSON.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Export files or folders.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub lake: LakeOpt,
    #[command(flatten)]
    pub write: WriteOpt,
    #[command(flatten)]
    pub queries: QueriesOpt,
    /// As-of date (default: yesterday, UTC).
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub as_of: Option<NaiveDate>,
    /// Report folder (default: <reports>/<as-of>).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Days in the KPI window.
    #[arg(long, value_name = "N")]
    pub window_days: Option<u32>,
    /// Exit with an error code when a feed is stale or missing (the report is still published).
    #[arg(long)]
    pub fail_on_stale: bool,
    /// Compute only these KPIs (comma-separated names); the report shows what they feed
    /// and the data checks are skipped.
    #[arg(long, value_name = "NAME,…", value_delimiter = ',')]
    pub kpis: Vec<String>,
    /// Write the KPI tables and manifest.json only: no index.html or charts, and none of
    /// the report's comparison and trend queries (freshness is still checked).
    #[arg(long)]
    pub no_report: bool,
    /// Recompute the report a manifest describes from exactly the lake table versions
    /// it read (newer data is ignored): same as-of date, window and parameters.
    #[arg(long, value_name = "MANIFEST", conflicts_with_all = ["as_of", "window_days"])]
    pub reproduce: Option<PathBuf>,
    /// Export files or folders to ingest first.
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SqlFormat {
    Table,
    Csv,
    Json,
    Parquet,
}

#[derive(Debug, Args)]
pub struct SqlArgs {
    #[command(flatten)]
    pub lake: LakeOpt,
    #[command(flatten)]
    pub as_of: AsOfOpt,
    #[command(flatten)]
    pub report: ReportOpt,
    /// Output format.
    #[arg(long, value_enum, default_value_t = SqlFormat::Table)]
    pub format: SqlFormat,
    /// Write the result to this file instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Print the query plan with timings instead of the result.
    #[arg(long)]
    pub explain: bool,
    /// Bind `$name` (repeatable): --param w_shortage=2, --param as_of=2026-11-20
    #[arg(long = "param", value_name = "NAME=VALUE")]
    pub params: Vec<String>,
    /// Read the query from a file (its `-- param:` header lines give defaults).
    #[arg(long, value_name = "FILE", conflicts_with = "sql")]
    pub file: Option<PathBuf>,
    /// The query.
    #[arg(value_name = "SQL", required_unless_present = "file")]
    pub sql: Option<String>,
}

#[derive(Debug, Args)]
pub struct ExplainArgs {
    #[command(flatten)]
    pub lake: LakeOpt,
    /// The report of this as-of date (<reports>/<date>; default: <reports>/latest).
    #[arg(long, value_name = "YYYY-MM-DD", conflicts_with = "report")]
    pub as_of: Option<NaiveDate>,
    #[command(flatten)]
    pub report: ReportOpt,
    /// Only these dimensions (columns of the KPI table; a pair as `a*b`), e.g.
    /// --by warehouse_id,channel or --by 'warehouse_id*channel'.
    #[arg(long, value_name = "DIM,…", value_delimiter = ',')]
    pub by: Vec<String>,
    /// At most this many segments (largest contributions first).
    #[arg(long, default_value_t = 20)]
    pub top: usize,
    /// Output format.
    #[arg(long, value_enum, default_value_t = SqlFormat::Table)]
    pub format: SqlFormat,
    /// The tile's key, e.g. unit_fill_rate (the `tile` column of kpis/tiles.csv).
    #[arg(value_name = "KPI")]
    pub kpi: String,
}

#[derive(Debug, Args)]
pub struct TablesArgs {
    #[command(flatten)]
    pub lake: LakeOpt,
    #[command(flatten)]
    pub report: ReportOpt,
}

#[derive(Debug, Args)]
pub struct ShellArgs {
    #[command(flatten)]
    pub lake: LakeOpt,
    #[command(flatten)]
    pub as_of: AsOfOpt,
    #[command(flatten)]
    pub report: ReportOpt,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub lake: LakeOpt,
    #[command(flatten)]
    pub as_of: AsOfOpt,
    #[command(flatten)]
    pub report: ReportOpt,
    #[command(flatten)]
    pub queries: QueriesOpt,
}

#[derive(Debug, Args)]
pub struct EvaluatePriorityArgs {
    #[command(flatten)]
    pub lake: LakeOpt,
    #[command(flatten)]
    pub as_of: AsOfOpt,
    #[command(flatten)]
    pub queries: QueriesOpt,
    /// CSV of wrong records with warehouse_id, location_id, sku columns (e.g. the
    /// generator's ground_truth/record_errors.csv).
    #[arg(long, value_name = "FILE")]
    pub truth: PathBuf,
    /// Rank with the documented weights instead of weights fitted on the lake's
    /// history up to the as-of date.
    #[arg(long)]
    pub default_weights: bool,
    /// Also write the scores as JSON.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct BacktestPriorityArgs {
    #[command(flatten)]
    pub lake: LakeOpt,
    #[command(flatten)]
    pub queries: QueriesOpt,
    /// Rank as of this date, from data up to its end only.
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub as_of: NaiveDate,
    /// Days after the as-of date whose counts and adjustments decide a hit.
    #[arg(long, value_name = "DAYS", default_value_t = 14)]
    pub horizon: u32,
    /// Rank with the documented weights instead of weights fitted on the lake's
    /// history up to the as-of date.
    #[arg(long)]
    pub default_weights: bool,
    /// Also write the scores as JSON.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}
