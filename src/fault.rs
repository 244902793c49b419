//! Fault injection for crash tests: named points where a test can make the process
//! die as if killed. Set `OPINTEL_FAULT=<point>` (die at its first pass) or
//! `OPINTEL_FAULT=<point>:<n>` (die at its n-th pass). Without the variable a point
//! costs one cached lookup. Not a user feature; documented in "Operating opintel".

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

struct Fault {
    point: String,
    nth: u64,
    seen: AtomicU64,
}

fn configured() -> Option<&'static Fault> {
    static FAULT: OnceLock<Option<Fault>> = OnceLock::new();
    FAULT
        .get_or_init(|| {
            let spec = std::env::var("OPINTEL_FAULT").ok()?;
            let (point, nth) = match spec.rsplit_once(':') {
                Some((p, n)) => (p.to_string(), n.parse().ok()?),
                None => (spec, 1),
            };
            Some(Fault {
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
        && f.point == name
        && f.seen.fetch_add(1, Ordering::SeqCst) + 1 == f.nth
    {
        eprintln!("opintel: injected fault at {name}");
        std::process::abort();
    }
}
