//! The `opintel` binary: parse the command line, set up logging, resolve flags and the
//! config file into the library's requests (`resolve`), run one command, print what it
//! returned (`print`) and exit with its code (`exit`).

mod cli;
mod exit;
mod print;
mod progress;
mod resolve;
mod shell;

use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

use cli::{Cli, ClusterCommand, Command, LakeCommand, LogFormat};
use opintel::app;
use opintel::error::Result;

// See Cargo.toml: glibc malloc was a fifth of a long-history night's CPU.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    no_huge_pages();
    keep_freed_memory();
    let cli = Cli::parse();
    // delta-rs's kernel logs an error for every table it is asked to open that does
    // not exist yet; opintel handles that case, so its logs are off by default.
    let default = if cli.quiet {
        "error,buoyant_kernel=off"
    } else {
        "warn,buoyant_kernel=off"
    };
    let filter = EnvFilter::try_from_env("OPINTEL_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match cli.log_format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
    match dispatch(&cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("opintel: {}", exit::one_line(&e));
            ExitCode::from(exit::code_of(&e))
        }
    }
}

/// Transparent huge pages off for this process (and what it starts). With them, the
/// kernel zeroed (and, under `defrag = madvise`, compacted) 2 MiB pages each time
/// mimalloc gave memory back and took it again: on the benchmark's 16× lake
/// `order_cycle_time` spent 7 of its 15.6 CPU seconds in the kernel, 41% of all
/// samples in `clear_page_erms` (perf). Off, the same query took 6.1 s instead of 8.3 s
/// (median of 3 and 4 runs) and peaked at 2,284 MiB instead of 2,434 MiB. This is
/// mimalloc's `allow_thp = 0`, set before anything allocates.
fn no_huge_pages() {
    #[cfg(target_os = "linux")]
    // SAFETY: prctl(PR_SET_THP_DISABLE) takes plain integers and sets one flag of the
    // calling process; it touches no memory of ours. A kernel without it returns EINVAL,
    // which changes nothing, so the result is not checked.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}

/// mimalloc's `purge_delay` option: how long freed memory stays mapped before it is
/// given back to the system (the option's place in mimalloc 2's `mi_option_e`; the
/// crate leaves these numbers out of its constants on purpose, see its docs).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Freed memory is given back to the system after 100 ms instead of mimalloc's 10 ms,
/// unless `MIMALLOC_PURGE_DELAY` (or its old name `MIMALLOC_RESET_DELAY`) says
/// otherwise. DataFusion frees and takes again hundreds of MiB of batches, hash tables
/// and Parquet buffers per second; given back each time, every page came back through
/// a page fault that zeroes it: on the benchmark's 16× data the first ingest spent 29
/// of its 145 CPU seconds in the kernel. With 100 ms (2 runs each, the same hour): the
/// ingest 79.3 → 66.3 s at 2,234 → 2,673 MiB peak, the run after it 53.7–56.9 →
/// 48.3–48.9 s at 2,132–2,179 → 2,549–2,705 MiB; a night on the history bench's lakes
/// the same within its spread (2.58 / 4.78 s → 2.56 / 4.74 s, medians of 3) at 60–120
/// MiB more peak. 1,000 ms gained little more (64.8 s; 49.3 s) for 0.2–0.5 GiB more.
fn keep_freed_memory() {
    if purge_delay_from_env() {
        return;
    }
    // SAFETY: mi_option_set stores one integer in mimalloc's option table. It is not
    // thread safe, and this runs first thing in main, before any other thread exists.
    unsafe {
        libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 100);
    }
}

/// Whether the environment sets mimalloc's purge delay (its own name or the old one).
fn purge_delay_from_env() -> bool {
    std::env::var_os("MIMALLOC_PURGE_DELAY").is_some()
        || std::env::var_os("MIMALLOC_RESET_DELAY").is_some()
}

/// Run the command; its exit code.
fn dispatch(cli: &Cli) -> Result<u8> {
    let progress = progress::for_terminal(cli.quiet);
    match &cli.command {
        Command::Generate(a) => {
            let summary = app::generate::generate(&resolve::generate(a), &progress)?;
            if !cli.quiet {
                print::generated(&summary, &a.out);
            }
            Ok(exit::OK)
        }
        Command::Demo(a) => {
            let outcome = app::demo::demo(&resolve::demo(a), &progress)?;
            if !cli.quiet {
                print::demo(&outcome);
            }
            Ok(exit::run_code(&outcome.run.manifest, false, false))
        }
        Command::Ingest(a) => {
            let config = resolve::config(cli, &a.lake, None)?;
            let report =
                app::ingest::ingest_command(&config, &a.paths, resolve::wait(&a.write), &progress)?;
            if let Some(path) = &a.report {
                print::json_file(path, &report)?;
            }
            if !cli.quiet {
                print!("{}", report.summary());
            }
            Ok(exit::ingest_code(&report, a.write.strict))
        }
        Command::Run(a) => {
            let (config, req) = resolve::run(cli, a)?;
            let outcome = app::run::run(&config, &req, &progress)?;
            if !cli.quiet {
                print::run(&outcome);
            }
            let stale = print::stale_feeds(&outcome.manifest);
            if a.fail_on_stale && !stale.is_empty() {
                eprintln!("opintel: stale or missing feeds: {}", stale.join(", "));
                return Ok(exit::STALE);
            }
            Ok(exit::run_code(&outcome.manifest, a.write.strict, false))
        }
        Command::Sql(a) => {
            let config = resolve::config(cli, &a.lake, None)?;
            let text = app::sql::query_text(a.sql.as_deref(), a.file.as_deref())?;
            let session = app::sql::Analyst::open(
                &config,
                &resolve::session(&a.as_of, &a.report, &a.params, &text),
            )?;
            if !cli.quiet {
                print::session_note(&session);
            }
            let text = if a.explain {
                format!("EXPLAIN ANALYZE {text}")
            } else {
                text
            };
            let (schema, batches) = session.query(&text)?;
            print::result(a.format, a.out.as_deref(), &schema, &batches)?;
            Ok(exit::OK)
        }
        Command::Explain(a) => {
            let config = resolve::config(cli, &a.lake, None)?;
            let report = match (&a.report.report, a.as_of) {
                (Some(r), _) => Some(r.clone()),
                (None, Some(d)) => Some(config.reports.join(d.to_string())),
                (None, None) => None,
            };
            let (schema, batches) =
                app::explain::explain(&config, report.as_deref(), &a.kpi, &a.by, a.top)?;
            print::result(a.format, None, &schema, &batches)?;
            Ok(exit::OK)
        }
        Command::Tables(a) => {
            let config = resolve::config(cli, &a.lake, None)?;
            print!(
                "{}",
                app::tables::listing(&config, a.report.report.as_deref())?
            );
            Ok(exit::OK)
        }
        Command::Shell(a) => {
            let config = resolve::config(cli, &a.lake, None)?;
            shell::shell(&config, &resolve::session(&a.as_of, &a.report, &[], ""))?;
            Ok(exit::OK)
        }
        Command::Check(a) => {
            let config = resolve::config(cli, &a.lake, Some(&a.queries))?;
            let as_of = resolve::as_of_or_latest(&config, &a.as_of, Some(&a.report));
            let results = app::check::check(&config, as_of, a.report.report.as_deref())?;
            let failed = print::checks(&results, as_of);
            Ok(if failed { exit::PARTIAL } else { exit::OK })
        }
        Command::EvaluatePriority(a) => {
            let config = resolve::config(cli, &a.lake, Some(&a.queries))?;
            let as_of = resolve::as_of_or_latest(&config, &a.as_of, None);
            let e = app::priority::evaluate(&config, as_of, &a.truth, !a.default_weights)?;
            print::evaluation(&e, a.out.as_deref())?;
            Ok(exit::OK)
        }
        Command::Lake(LakeCommand::Optimize(a)) => {
            let config = resolve::config(cli, &a.lake, None)?;
            let done = app::lake::optimize(
                &config.lake,
                a.target_mb,
                a.wait.map(std::time::Duration::from_secs),
            )?;
            print::maintenance("optimize", &done);
            Ok(exit::OK)
        }
        Command::Lake(LakeCommand::Vacuum(a)) => {
            let config = resolve::config(cli, &a.lake, None)?;
            let done = app::lake::vacuum(
                &config.lake,
                a.retain_hours,
                a.wait.map(std::time::Duration::from_secs),
            )?;
            print::maintenance("vacuum", &done);
            Ok(exit::OK)
        }
        Command::Lake(LakeCommand::RebuildState(a)) => {
            let config = resolve::config(cli, &a.lake, None)?;
            let done = app::lake::rebuild_state(
                &config.lake,
                opintel::kpi::priority_half_life(&config.params),
                a.wait.map(std::time::Duration::from_secs),
            )?;
            print::state_rebuilt(&done);
            Ok(exit::OK)
        }
        Command::Lake(LakeCommand::Migrate(a)) => {
            let mut config = resolve::config(
                cli,
                &cli::LakeOpt {
                    lake: None,
                    cluster: None,
                },
                None,
            )?;
            config.lake.root = a.new.clone();
            let done = app::lake::migrate(
                &a.old,
                &config.lake,
                opintel::kpi::priority_half_life(&config.params),
                None,
            )?;
            print::migrated(&done, &a.new);
            Ok(exit::OK)
        }
        Command::Cluster(ClusterCommand::Scheduler(a)) => {
            app::cluster::scheduler(&opintel::engine::cluster::SchedulerOptions {
                bind: a.bind,
                external_host: a.external_host.clone(),
                executor_timeout_seconds: a.executor_timeout,
            })?;
            Ok(exit::OK)
        }
        Command::Cluster(ClusterCommand::Executor(a)) => {
            let work_dir = a.work_dir.clone().unwrap_or_else(|| {
                std::env::temp_dir().join(format!("opintel-executor-{}-{}", a.port, a.grpc_port))
            });
            app::cluster::executor(&opintel::engine::cluster::ExecutorOptions {
                scheduler: a.scheduler.clone(),
                bind_host: a.bind_host.clone(),
                external_host: a.external_host.clone(),
                port: a.port,
                grpc_port: a.grpc_port,
                concurrent_tasks: a.concurrent_tasks,
                work_dir: work_dir.to_string_lossy().into_owned(),
                memory_limit: a.memory_mb.map(|m| m << 20),
                heartbeat_seconds: 5,
            })?;
            Ok(exit::OK)
        }
        Command::BacktestPriority(a) => {
            let config = resolve::config(cli, &a.lake, Some(&a.queries))?;
            let e = app::priority::backtest(&config, a.as_of, a.horizon, !a.default_weights)?;
            print::evaluation(&e, a.out.as_deref())?;
            Ok(exit::OK)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The option number is mimalloc's `purge_delay`: before it is set it holds that
    /// option's documented default (10 ms; the options beside it default to 1 and 0),
    /// and what is set is what mimalloc reads back.
    #[test]
    fn the_purge_delay_option_is_the_one_set() {
        if purge_delay_from_env() {
            return;
        }
        // SAFETY: reading and setting one option; no other test touches mimalloc's
        // options.
        unsafe {
            assert_eq!(libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY), 10);
            keep_freed_memory();
            assert_eq!(libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY), 100);
        }
    }
}
