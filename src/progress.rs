//! Progress of long work, reported to whoever shows it. The library calls a
//! [`Progress`] and never draws anything itself; the binary shows a bar on a terminal
//! and tests pass [`Silent`].

/// Receives progress of one long task.
pub trait Progress: Sync {
    /// A task starts: `what` names it, `total` is its size in bytes (0: unknown).
    fn start(&self, what: &str, total: u64);
    /// `n` more bytes of the task are done.
    fn advance(&self, n: u64);
    /// What is being worked on now (a file name, a query, a day).
    fn message(&self, text: &str);
    /// The task is done (or abandoned).
    fn finish(&self);
}

/// A [`Progress`] that can be handed to several threads and kept by readers.
pub type Shared = std::sync::Arc<dyn Progress + Send>;

/// Progress nobody watches, shared.
pub fn silent() -> Shared {
    std::sync::Arc::new(Silent)
}

/// Progress nobody watches.
#[derive(Debug, Clone, Copy, Default)]
pub struct Silent;

impl Progress for Silent {
    fn start(&self, _: &str, _: u64) {}
    fn advance(&self, _: u64) {}
    fn message(&self, _: &str) {}
    fn finish(&self) {}
}
