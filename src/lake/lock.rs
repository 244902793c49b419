//! One writer at a time: an OS file lock on `LAKE/_opintel/lock`.
//!
//! The lock is released by the operating system when the holding process dies, so a
//! stale lock from a killed run never blocks the next one. The file also records who
//! holds it (pid, host, start time) so that a refused run can say whom it waited for.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::error::{Error, Result, io_at};

/// Holds the lake's write lock until dropped.
#[derive(Debug)]
pub struct LakeLock {
    _file: File,
}

impl LakeLock {
    /// Take the lock of the lake at `root`; with `wait`, wait up to that long for it.
    pub fn acquire(root: &Path, wait: Option<Duration>) -> Result<LakeLock> {
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
        Ok(LakeLock { _file: file })
    }
}

fn hostname() -> String {
    fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "this host".into())
}
