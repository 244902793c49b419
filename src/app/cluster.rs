//! `opintel cluster scheduler|executor`: the Ballista processes a `--cluster` run
//! uses, each on a runtime of its own with deep stacks (plans are decoded
//! recursively), running until the process is stopped.

use crate::engine::cluster::{self, ExecutorOptions, SchedulerOptions};
use crate::error::{Error, Result};

fn server_runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(32 << 20)
        .build()
        .map_err(Error::Runtime)
}

/// Serve a scheduler on `opts.bind` until stopped.
pub fn scheduler(opts: &SchedulerOptions) -> Result<()> {
    tracing::info!(bind = %opts.bind, "Ballista scheduler starting");
    server_runtime()?.block_on(cluster::run_scheduler(opts))
}

/// Serve an executor for `opts.scheduler` until stopped.
pub fn executor(opts: &ExecutorOptions) -> Result<()> {
    tracing::info!(scheduler = %opts.scheduler, port = opts.port, "Ballista executor starting");
    server_runtime()?.block_on(cluster::run_executor(opts))
}
