//! Fault injection for crash tests: named points where a test can make the process
//! die as if killed. Set `OPINTEL_FAULT=<point>` (die at its first pass) or
//! `OPINTEL_FAULT=<point>:<n>` (die at its n-th pass). `OPINTEL_FAULT=enospc@<point>`
//! makes the I/O at an [`io`] point fail as if the disk were full. Without the
//! variable a point costs one cached lookup. Not a user feature; documented in
//! "Operating opintel".

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

struct Fault {
    /// Fail I/O with ENOSPC instead of dying.
    enospc: bool,
    point: String,
    nth: u64,
    seen: AtomicU64,
}

fn configured() -> Option<&'static Fault> {
    static FAULT: OnceLock<Option<Fault>> = OnceLock::new();
    FAULT
        .get_or_init(|| {
            let spec = std::env::var("OPINTEL_FAULT").ok()?;
            let (enospc, spec) = match spec.strip_prefix("enospc@") {
                Some(rest) => (true, rest.to_string()),
                None => (false, spec),
            };
            let (point, nth) = match spec.rsplit_once(':') {
                Some((p, n)) => (p.to_string(), n.parse().ok()?),
                None => (spec, 1),
            };
            Some(Fault {
                enospc,
                point,
                nth,
                seen: AtomicU64::new(0),
            })
        })
        .as_ref()
}

/// Die here, without any clean-up, when the test asked for it.
pub fn point(name: &str) {
    if let Some(f) = configured()
        && !f.enospc
        && f.point == name
        && f.seen.fetch_add(1, Ordering::SeqCst) + 1 == f.nth
    {
        tracing::error!(point = name, "injected fault: aborting");
        std::process::abort();
    }
}

/// An I/O step that a test can make fail with "no space left on device" (from its
/// n-th pass on).
pub fn io(name: &str) -> std::io::Result<()> {
    if let Some(f) = configured()
        && f.enospc
        && f.point == name
        && f.seen.fetch_add(1, Ordering::SeqCst) + 1 >= f.nth
    {
        return Err(std::io::Error::from_raw_os_error(28));
    }
    Ok(())
}

/// The crash points, for tests and the README.
pub const POINTS: &[&str] = &[
    "ingest.file",
    "ingest.batch",
    "ingest.dedup",
    "lake.writer.closed",
    "ingest.before_commit",
    "lake.commit.sync",
    "lake.commit.before_log_rename",
    "lake.commit.after_log_rename",
    "lake.roll_forward.first_move",
    "run.after_ingest",
    "run.query",
    "run.report",
    "publish.before_swap",
    "publish.after_swap",
];
