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

/// `work` for every item on up to `threads` threads (at least one), each taking the
/// next item in order when it is free; the outputs in the items' order, or the first
/// error in that order. After a failure no thread takes another item (the ones already
/// taken run to their end). A panic in `work` is raised again here.
pub fn on_threads<T, R, F>(threads: usize, items: Vec<T>, work: F) -> Result<Vec<R>>
where
    T: Send,
    R: Send,
    F: Fn(T) -> Result<R> + Sync,
{
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicBool, Ordering};
    let count = items.len();
    let queue = Mutex::new(items.into_iter().enumerate());
    let failed = AtomicBool::new(false);
    let done: Mutex<Vec<Option<Result<R>>>> = Mutex::new((0..count).map(|_| None).collect());
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads.clamp(1, count.max(1)))
            .map(|_| {
                s.spawn(|| {
                    loop {
                        if failed.load(Ordering::SeqCst) {
                            break;
                        }
                        let next = queue.lock().ok().and_then(|mut q| q.next());
                        let Some((i, item)) = next else { break };
                        let result = work(item);
                        if result.is_err() {
                            failed.store(true, Ordering::SeqCst);
                        }
                        if let Ok(mut slots) = done.lock() {
                            slots[i] = Some(result);
                        }
                    }
                })
            })
            .collect();
        for h in handles {
            if let Err(panic) = h.join() {
                std::panic::resume_unwind(panic);
            }
        }
    });
    let mut out = Vec::with_capacity(count);
    for slot in done.into_inner().unwrap_or_else(|e| e.into_inner()) {
        match slot {
            Some(Ok(r)) => out.push(r),
            Some(Err(e)) => return Err(e),
            // Not taken: an item before it failed, and its error comes first.
            None => {}
        }
    }
    Ok(out)
}
