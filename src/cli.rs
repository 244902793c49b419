//! The command line (CONTRACT §5): clap structs that mirror the flags, one step that
//! merges them over the config file, and one function per command. The core never
//! sees a flag. Exit codes are defined here (README, "Operating opintel").

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use chrono::NaiveDate;
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::config::Config;
use crate::error::{Error, Result};
use crate::ingest::IngestReport;
use crate::manifest::{FeedState, RunStatus};
use crate::run::{self, RunOptions};

/// Exit codes.
pub mod exit {
    /// Everything worked.
    pub const OK: u8 = 0;
    /// An unexpected failure (I/O error, bug): nothing was published.
    pub const FAILURE: u8 = 1;
    /// Bad command line or config.
    pub const CONFIG: u8 = 2;
    /// Published, but something failed: a file not ingested, a KPI query failed, or
    /// (with --strict) rows were rejected.
    pub const PARTIAL: u8 = 3;
    /// The input cannot be used at all (e.g. a path does not exist).
    pub const DATA: u8 = 4;
    /// Another run holds the lake.
    pub const LOCKED: u8 = 5;
    /// Published, but a feed is stale or missing and --fail-on-stale was given.
    pub const STALE: u8 = 6;
}

#[derive(Debug, Parser)]
#[command(
    name = "opintel",
    version,
    about = "Operational intelligence for warehouses: exports → Parquet lake → KPIs → report"
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
}

#[derive(Debug, Args)]
pub struct EvaluatePriorityArgs {
    /// The Parquet lake (default from the config, else data/lake).
    #[arg(long, value_name = "DIR")]
    pub lake: Option<PathBuf>,
    /// As-of date of the ranking (default: yesterday, UTC).
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub as_of: Option<NaiveDate>,
    /// CSV of wrong records with warehouse_id, location_id, sku columns (e.g. the
    /// generator's ground_truth/record_errors.csv).
    #[arg(long, value_name = "FILE")]
    pub truth: PathBuf,
    /// A folder of .sql files; its count_priority.sql overrides the built-in one.
    #[arg(long, value_name = "DIR")]
    pub queries: Option<PathBuf>,
    /// Also write the scores as JSON.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct BacktestPriorityArgs {
    /// The Parquet lake (default from the config, else data/lake).
    #[arg(long, value_name = "DIR")]
    pub lake: Option<PathBuf>,
    /// Rank as of this date, from data up to its end only.
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub as_of: NaiveDate,
    /// Days after the as-of date whose counts and adjustments decide a hit.
    #[arg(long, value_name = "DAYS", default_value_t = 14)]
    pub horizon: u32,
    /// A folder of .sql files; its count_priority.sql overrides the built-in one.
    #[arg(long, value_name = "DIR")]
    pub queries: Option<PathBuf>,
    /// Also write the scores as JSON.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct TablesArgs {
    /// The Parquet lake (default from the config, else data/lake).
    #[arg(long, value_name = "DIR")]
    pub lake: Option<PathBuf>,
    /// Report folder whose KPI tables to list (default: <reports>/latest).
    #[arg(long, value_name = "DIR")]
    pub report: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ShellArgs {
    /// The Parquet lake (default from the config, else data/lake).
    #[arg(long, value_name = "DIR")]
    pub lake: Option<PathBuf>,
    /// Bind the views and $parameters to this as-of date (default: all data).
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub as_of: Option<NaiveDate>,
    /// Report folder whose KPI tables are `kpi.<name>` (default: <reports>/latest).
    #[arg(long, value_name = "DIR")]
    pub report: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The Parquet lake (default from the config, else data/lake).
    #[arg(long, value_name = "DIR")]
    pub lake: Option<PathBuf>,
    /// As-of date (default: yesterday, UTC).
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub as_of: Option<NaiveDate>,
    /// Report folder whose KPI tables the checks may read (default: <reports>/latest).
    #[arg(long, value_name = "DIR")]
    pub report: Option<PathBuf>,
    /// A folder of .sql KPI files; its checks/ subfolder adds or overrides checks.
    #[arg(long, value_name = "DIR")]
    pub queries: Option<PathBuf>,
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
    /// The Parquet lake (default from the config, else data/lake).
    #[arg(long, value_name = "DIR")]
    pub lake: Option<PathBuf>,
    /// Bind the views and $parameters to this as-of date (default: all data).
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub as_of: Option<NaiveDate>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = SqlFormat::Table)]
    pub format: SqlFormat,
    /// Write the result to this file instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Print the query plan with timings instead of the result.
    #[arg(long)]
    pub explain: bool,
    /// Report folder whose KPI tables are `kpi.<name>` (default: <reports>/latest).
    #[arg(long, value_name = "DIR")]
    pub report: Option<PathBuf>,
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
pub struct LakeArgs {
    /// The Parquet lake (default from the config, else data/lake).
    #[arg(long, value_name = "DIR")]
    pub lake: Option<PathBuf>,
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
    pub lake: LakeArgs,
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
    pub lake: LakeArgs,
    /// As-of date (default: yesterday, UTC).
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub as_of: Option<NaiveDate>,
    /// Report folder (default: <reports>/<as-of>).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// A folder of .sql KPI files that add to or override the built-in ones.
    #[arg(long, value_name = "DIR")]
    pub queries: Option<PathBuf>,
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
    /// Export files or folders to ingest first.
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,
}

/// Run the parsed command line; the error's message is the one line shown to people.
pub fn main(cli: Cli) -> ExitCode {
    match dispatch(&cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("opintel: {}", one_line(&e));
            ExitCode::from(code_of(&e))
        }
    }
}

fn one_line(e: &Error) -> String {
    let mut msg = e.to_string();
    let mut source = std::error::Error::source(e);
    let full = std::iter::successors(source, |s| s.source()).any(|s| {
        s.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::StorageFull)
    });
    if full
        || matches!(e, Error::Io { source, .. } | Error::PlainIo(source) if source.kind() == std::io::ErrorKind::StorageFull)
    {
        msg.push_str(
            " — the disk is full; nothing was committed and the lake and reports are as they were",
        );
    }
    while let Some(s) = source {
        let text = s.to_string();
        if !msg.contains(&text) {
            msg.push_str(": ");
            msg.push_str(&text);
        }
        source = s.source();
    }
    msg.replace('\n', " ")
}

fn code_of(e: &Error) -> u8 {
    match e {
        Error::Config(_) => exit::CONFIG,
        Error::Data(_) => exit::DATA,
        Error::Locked(_) => exit::LOCKED,
        _ => exit::FAILURE,
    }
}

fn load_config(cli: &Cli, lake: Option<&LakeArgs>) -> Result<Config> {
    let mut config = Config::load(cli.config.as_deref())?;
    if let Some(l) = lake.and_then(|l| l.lake.clone()) {
        config.lake = l;
    }
    Ok(config)
}

fn with_lake(mut config: Config, lake: &Option<PathBuf>) -> Config {
    if let Some(l) = lake {
        config.lake = l.clone();
    }
    config
}

fn wait_of(l: &LakeArgs) -> Option<Duration> {
    l.wait.map(Duration::from_secs)
}

fn dispatch(cli: &Cli) -> Result<u8> {
    let progress = !cli.quiet;
    match &cli.command {
        Command::Generate(a) => {
            let opts = crate::generate::GenerateOptions {
                out: a.out.clone(),
                seed: a.seed,
                days: a.days,
                scale: a.scale,
                end: a.end,
            };
            let summary = crate::generate::generate_with_progress(&opts, progress)?;
            if !cli.quiet {
                println!(
                    "generated {} rows in {} files into {} ({} planted stock-record errors)",
                    crate::ingest::group(summary.rows_total),
                    summary.files.len(),
                    a.out.display(),
                    summary.planted_errors
                );
            }
            Ok(exit::OK)
        }
        Command::Ingest(a) => {
            let config = load_config(cli, Some(&a.lake))?;
            let report = run::ingest_only(&config, &a.paths, wait_of(&a.lake), progress)?;
            if let Some(path) = &a.report {
                std::fs::write(path, serde_json::to_string_pretty(&report)?)
                    .map_err(crate::error::io_at(path))?;
            }
            if !cli.quiet {
                print!("{}", report.summary());
            }
            Ok(ingest_code(&report, a.lake.strict))
        }
        Command::Run(a) => {
            let mut config = load_config(cli, Some(&a.lake))?;
            if let Some(q) = &a.queries {
                config.queries = Some(q.clone());
            }
            if let Some(w) = a.window_days {
                config.window_days = w;
                config.validate()?;
            }
            let as_of = a.as_of.unwrap_or_else(run::default_as_of);
            let default_out = a.out.is_none();
            let out = a
                .out
                .clone()
                .unwrap_or_else(|| config.reports.join(as_of.to_string()));
            let opts = RunOptions {
                as_of,
                out,
                inputs: a.paths.clone(),
                wait: wait_of(&a.lake),
                progress,
                point_latest: default_out,
                command: std::env::args().collect::<Vec<_>>().join(" "),
                only: a.kpis.clone(),
                report: !a.no_report,
            };
            let outcome = run::run(&config, &opts)?;
            if !cli.quiet {
                if let Some(r) = &outcome.manifest.ingest {
                    print!("{}", r.summary());
                }
                print_run(&outcome);
            }
            let mut code = if outcome.manifest.status == RunStatus::Ok {
                exit::OK
            } else {
                exit::PARTIAL
            };
            if let Some(r) = &outcome.manifest.ingest
                && ingest_code(r, a.lake.strict) != exit::OK
            {
                code = exit::PARTIAL;
            }
            let stale: Vec<&str> = outcome
                .manifest
                .freshness
                .iter()
                .filter(|f| matches!(f.state, FeedState::Stale | FeedState::Missing))
                .map(|f| f.table.as_str())
                .collect();
            if a.fail_on_stale && !stale.is_empty() {
                eprintln!("opintel: stale or missing feeds: {}", stale.join(", "));
                code = exit::STALE;
            }
            Ok(code)
        }
        Command::Demo(a) => crate::demo::demo(a, cli.quiet),
        Command::Sql(a) => {
            let config = with_lake(Config::load(cli.config.as_deref())?, &a.lake);
            crate::sql::sql(&config, a)?;
            Ok(exit::OK)
        }
        Command::Tables(a) => {
            let config = with_lake(Config::load(cli.config.as_deref())?, &a.lake);
            crate::sql::tables(&config, a.report.as_deref())?;
            Ok(exit::OK)
        }
        Command::Shell(a) => {
            let config = with_lake(Config::load(cli.config.as_deref())?, &a.lake);
            crate::sql::shell(&config, a)?;
            Ok(exit::OK)
        }
        Command::EvaluatePriority(a) => {
            let mut config = with_lake(Config::load(cli.config.as_deref())?, &a.lake);
            if let Some(q) = &a.queries {
                config.queries = Some(q.clone());
            }
            let as_of = a.as_of.unwrap_or_else(run::default_as_of);
            let e = crate::priority::against_truth(&config, as_of, &a.truth)?;
            print_evaluation(&e, a.out.as_deref())?;
            Ok(exit::OK)
        }
        Command::BacktestPriority(a) => {
            let mut config = with_lake(Config::load(cli.config.as_deref())?, &a.lake);
            if let Some(q) = &a.queries {
                config.queries = Some(q.clone());
            }
            let e = crate::priority::backtest(&config, a.as_of, a.horizon)?;
            print_evaluation(&e, a.out.as_deref())?;
            Ok(exit::OK)
        }
        Command::Check(a) => {
            let mut config = with_lake(Config::load(cli.config.as_deref())?, &a.lake);
            if let Some(q) = &a.queries {
                config.queries = Some(q.clone());
            }
            let as_of = a.as_of.unwrap_or_else(run::default_as_of);
            let failed = crate::sql::checks::check_command(&config, as_of, a.report.as_deref())?;
            Ok(if failed { exit::PARTIAL } else { exit::OK })
        }
    }
}

fn ingest_code(report: &IngestReport, strict: bool) -> u8 {
    if report.failed().next().is_some() || (strict && report.rejected() > 0) {
        exit::PARTIAL
    } else {
        exit::OK
    }
}

/// The end-of-run summary.
pub fn print_run(outcome: &run::RunOutcome) {
    let m = &outcome.manifest;
    println!(
        "KPIs as of {} (window {} – {}):",
        m.as_of, m.window_start, m.window_end
    );
    for k in &m.kpis {
        match &k.error {
            None => println!("  {:<30} {:>8} rows", k.name, k.rows),
            Some(e) => println!(
                "  {:<30} FAILED: {}",
                k.name,
                e.lines().next().unwrap_or("")
            ),
        }
    }
    for w in &m.warnings {
        println!("warning: {w}");
    }
    let page = outcome.out.join("index.html");
    if page.exists() {
        println!("report: {}", page.display());
    } else {
        println!("KPI tables: {}", outcome.out.join("kpis").display());
    }
}

fn print_evaluation(e: &crate::priority::Evaluation, out: Option<&std::path::Path>) -> Result<()> {
    let what = match e.horizon_days {
        Some(h) => format!(
            "backtest as of {}: {} SKU-locations ranked from data up to {}; {} showed a count variance or an unexplained adjustment in the next {h} days",
            e.as_of, e.candidates, e.as_of, e.positives
        ),
        None => format!(
            "ground truth as of {}: {} SKU-locations ranked; {} known wrong records",
            e.as_of, e.candidates, e.positives
        ),
    };
    println!("{what}\n");
    print!("{}", e.markdown());
    if let (Some(p), Some((name, best))) = (e.precision("score", 50), e.best_baseline(50)) {
        let ratio = if best > 0.0 {
            format!("{:.1}×", p / best)
        } else {
            "∞".into()
        };
        println!("\nprecision@50: score {p:.2}, best baseline {name} {best:.2} ({ratio})");
    }
    if let Some(path) = out {
        std::fs::write(path, serde_json::to_string_pretty(e)?)
            .map_err(crate::error::io_at(path))?;
    }
    Ok(())
}
