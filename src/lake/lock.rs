//! One writer at a time.
//!
//! On a local disk: an OS file lock on `LAKE/_opintel/lock`, released by the
//! operating system when the holding process dies, so a stale lock from a killed run
//! never blocks the next one. The file records who holds it (pid, host, start time) so
//! that a refused run can say whom it waited for.
//!
//! On an object store no OS lock can be shared, so the lock is a lease: objects
//! `_opintel/lock/<generation>.json` naming the holder and when the lease expires.
//! Taking the lock is creating the next generation with put-if-absent (of two
//! writers, exactly one succeeds); the holder renews its lease every few seconds and
//! releases it with a `<generation>.released` marker. A lease that has expired, or
//! whose holder ran on this host and is no longer running, is free.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures::TryStreamExt;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use serde::{Deserialize, Serialize};

use super::location::Location;
use crate::config::LakeConfig;
use crate::error::{Error, Result, io_at};

/// How long a lease lasts without renewal, and how often it is renewed.
const LEASE: Duration = Duration::from_secs(60);
const RENEW: Duration = Duration::from_secs(10);

/// Holds the lake's write lock until dropped.
#[derive(Debug)]
pub struct LakeLock {
    _inner: Inner,
}

#[derive(Debug)]
enum Inner {
    /// Held for as long as it lives (the OS lock, the lease's renewal).
    Local(#[allow(dead_code)] File),
    Remote(#[allow(dead_code)] Lease),
}

impl LakeLock {
    /// Take the lock of the lake `config` names; with `wait`, wait up to that long.
    pub fn acquire(config: &LakeConfig, wait: Option<Duration>) -> Result<LakeLock> {
        let loc = Location::new(config)?;
        match loc.local_root() {
            Some(root) => Ok(LakeLock {
                _inner: Inner::Local(lock_file(root, wait)?),
            }),
            None => Ok(LakeLock {
                _inner: Inner::Remote(Lease::take(&loc, wait)?),
            }),
        }
    }
}

/// The OS lock of a local lake.
fn lock_file(root: &Path, wait: Option<Duration>) -> Result<File> {
    {
        let dir = root.join("_opintel");
        fs::create_dir_all(&dir).map_err(io_at(&dir))?;
        let path = dir.join("lock");
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io_at(&path))?;
        let started = Instant::now();
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(fs::TryLockError::WouldBlock) => {
                    let waited_enough = wait.is_none_or(|w| started.elapsed() >= w);
                    if waited_enough {
                        let mut holder = String::new();
                        let _ = file.read_to_string(&mut holder);
                        let holder = holder.trim();
                        return Err(Error::Locked {
                            holder: format!(
                                "{} is held by {} (use --wait to wait for it)",
                                path.display(),
                                if holder.is_empty() {
                                    "another process"
                                } else {
                                    holder
                                }
                            ),
                        });
                    }
                    std::thread::sleep(Duration::from_millis(200));
                }
                Err(fs::TryLockError::Error(e)) => return Err(io_at(&path)(e)),
            }
        }
        let me = format!(
            "pid {} on {} since {}",
            std::process::id(),
            hostname(),
            chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        );
        file.set_len(0)
            .and_then(|_| file.seek(SeekFrom::Start(0)))
            .and_then(|_| file.write_all(me.as_bytes()))
            .and_then(|_| file.flush())
            .map_err(io_at(&path))?;
        Ok(file)
    }
}

/// Who holds a lease, until when.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Holder {
    pid: u32,
    host: String,
    since: String,
    /// Milliseconds since the epoch.
    expires_ms: i64,
}

impl Holder {
    fn me() -> Holder {
        Holder {
            pid: std::process::id(),
            host: hostname(),
            since: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            expires_ms: chrono::Utc::now().timestamp_millis() + LEASE.as_millis() as i64,
        }
    }

    fn is_dead(&self) -> bool {
        self.expires_ms < chrono::Utc::now().timestamp_millis()
            || (self.host == hostname() && !Path::new(&format!("/proc/{}", self.pid)).exists())
    }

    fn describe(&self) -> String {
        format!("pid {} on {} since {}", self.pid, self.host, self.since)
    }
}

/// A held lease on an object-store lake; renewed by a thread until dropped.
#[derive(Debug)]
struct Lease {
    store: Arc<dyn ObjectStore>,
    marker: object_store::path::Path,
    stop: Arc<AtomicBool>,
    renewer: Option<std::thread::JoinHandle<()>>,
}

impl Lease {
    fn take(loc: &Location, wait: Option<Duration>) -> Result<Lease> {
        let store = loc.store()?;
        let dir = loc.object_path("_opintel/lock")?;
        let err = |e: object_store::Error| Error::Lake {
            path: format!("{}/_opintel/lock", loc.display()).into(),
            message: e.to_string(),
        };
        let started = Instant::now();
        loop {
            // The newest generation, and whether it is released.
            let names: Vec<String> =
                crate::runtime::block_on(store.list(Some(&dir)).try_collect::<Vec<_>>())?
                    .map_err(err)?
                    .into_iter()
                    .filter_map(|m| m.location.filename().map(str::to_string))
                    .collect();
            let newest = names
                .iter()
                .filter_map(|n| n.strip_suffix(".json").and_then(|g| g.parse::<u64>().ok()))
                .max();
            let held_by = match newest {
                Some(g) if !names.contains(&format!("{g:010}.released")) => {
                    let path = dir.clone().join(format!("{g:010}.json"));
                    let bytes =
                        crate::runtime::block_on(async { store.get(&path).await?.bytes().await })?
                            .map_err(err)?;
                    serde_json::from_slice::<Holder>(&bytes)
                        .ok()
                        .filter(|h| !h.is_dead())
                }
                _ => None,
            };
            if let Some(h) = held_by {
                if wait.is_none_or(|w| started.elapsed() >= w) {
                    return Err(Error::Locked {
                        holder: format!(
                            "{}/_opintel/lock is held by {} (use --wait to wait for it)",
                            loc.display(),
                            h.describe()
                        ),
                    });
                }
                std::thread::sleep(Duration::from_millis(500));
                continue;
            }
            let generation = newest.map_or(1, |g| g + 1);
            let path = dir.clone().join(format!("{generation:010}.json"));
            let body = serde_json::to_vec(&Holder::me())?;
            let opts = PutOptions {
                mode: PutMode::Create,
                ..Default::default()
            };
            match crate::runtime::block_on(store.put_opts(&path, PutPayload::from(body), opts))? {
                Ok(_) => {
                    let stop = Arc::new(AtomicBool::new(false));
                    let renewer = {
                        let (store, path, stop) =
                            (Arc::clone(&store), path.clone(), Arc::clone(&stop));
                        std::thread::spawn(move || renew(store, path, stop))
                    };
                    return Ok(Lease {
                        store,
                        marker: dir.clone().join(format!("{generation:010}.released")),
                        stop,
                        renewer: Some(renewer),
                    });
                }
                // Another writer took this generation first: look again.
                Err(object_store::Error::AlreadyExists { .. }) => continue,
                Err(e) => return Err(err(e)),
            }
        }
    }
}

/// Renew the lease at `path` until `stop`.
fn renew(store: Arc<dyn ObjectStore>, path: object_store::path::Path, stop: Arc<AtomicBool>) {
    let mut last = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(200));
        if last.elapsed() < RENEW {
            continue;
        }
        last = Instant::now();
        if let Ok(body) = serde_json::to_vec(&Holder::me()) {
            let _ = crate::runtime::block_on(store.put(&path, PutPayload::from(body)));
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.renewer.take() {
            let _ = t.join();
        }
        let _ =
            crate::runtime::block_on(self.store.put(&self.marker, PutPayload::from_static(b"")));
    }
}

fn hostname() -> String {
    fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "this host".into())
}
