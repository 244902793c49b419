//! The process's one async runtime. The library's own work is synchronous (ingest
//! reads files on threads); the lake's storage (Delta Lake, object stores) and the
//! query engine are async, and both run their futures here.

use std::sync::OnceLock;

use crate::error::{Error, Result};

/// The shared multi-threaded runtime, started on first use.
pub fn shared() -> Result<&'static tokio::runtime::Runtime> {
    static RUNTIME: OnceLock<std::result::Result<tokio::runtime::Runtime, String>> =
        OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| Error::Runtime(std::io::Error::other(e.clone())))
}

/// Run `work` to completion on the shared runtime (from synchronous code only).
pub fn block_on<F: std::future::Future>(work: F) -> Result<F::Output> {
    Ok(shared()?.block_on(work))
}
