//! A lake transaction: stage files, commit with one atomic rename, move into place.
//! See the commit protocol in the `lake` module doc.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::{Lake, LogRecord, SourceRecord, txn_file_name};
use crate::error::{Result, io_at};

/// A transaction in progress. Dropping it without [`Txn::commit`] leaves a staging
/// folder that the next writer deletes.
pub struct Txn {
    lake: Lake,
    id: u64,
    staging: PathBuf,
    files: Mutex<Vec<String>>,
    sources: Mutex<Vec<SourceRecord>>,
    /// Lake files this transaction makes obsolete (deleted after the commit).
    retired: Mutex<Vec<String>>,
    committed: bool,
}

impl Txn {
    pub(super) fn new(lake: Lake, id: u64) -> Result<Txn> {
        let staging = lake.staging_root().join(txn_file_name(id, ""));
        fs::create_dir_all(&staging).map_err(io_at(&staging))?;
        Ok(Txn {
            lake,
            id,
            staging,
            files: Mutex::new(Vec::new()),
            sources: Mutex::new(Vec::new()),
            retired: Mutex::new(Vec::new()),
            committed: false,
        })
    }

    pub fn id(&self) -> u64 {
        self.id
    }

    pub fn lake(&self) -> &Lake {
        &self.lake
    }

    /// Where to write the file that will live at lake-relative `rel` once committed.
    pub fn stage(&self, rel: &str) -> Result<PathBuf> {
        let path = self.staging.join(rel);
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).map_err(io_at(dir))?;
        }
        lock(&self.files).push(rel.to_string());
        Ok(path)
    }

    /// Where the staged copy of lake-relative `rel` lives.
    pub fn stage_path(&self, rel: &str) -> PathBuf {
        self.staging.join(rel)
    }

    /// Forget a staged file (it turned out empty); the caller deletes it.
    pub fn unstage(&self, rel: &str) {
        lock(&self.files).retain(|f| f != rel);
    }

    /// A folder for temporary files of this transaction (never committed).
    pub fn scratch_dir(&self) -> PathBuf {
        self.staging.join("_scratch")
    }

    /// Delete this lake file once the transaction is committed.
    pub fn retire(&self, path: PathBuf) {
        if let Ok(rel) = path.strip_prefix(&self.lake.root) {
            lock(&self.retired).push(rel.to_string_lossy().into_owned());
        }
    }

    /// Remember a source file as ingested by this transaction.
    pub fn record_source(&self, source: SourceRecord) {
        lock(&self.sources).push(source);
    }

    /// Does the transaction change anything?
    pub fn is_empty(&self) -> bool {
        lock(&self.files).is_empty() && lock(&self.sources).is_empty()
    }

    /// Make the transaction durable and visible. Returns false when there was
    /// nothing to commit.
    pub fn commit(mut self) -> Result<bool> {
        if self.is_empty() {
            self.committed = true;
            fs::remove_dir_all(&self.staging).map_err(io_at(&self.staging))?;
            return Ok(false);
        }
        let files = std::mem::take(&mut *lock(&self.files));
        let sources = std::mem::take(&mut *lock(&self.sources));
        let retired = std::mem::take(&mut *lock(&self.retired));
        let scratch = self.scratch_dir();
        if scratch.exists() {
            fs::remove_dir_all(&scratch).map_err(io_at(&scratch))?;
        }
        if files.len() > 1 {
            crate::fault::point("lake.commit.sync");
        }
        sync_files(&self.staging, &files)?;
        let record = LogRecord {
            txn: self.id,
            committed_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            files,
            sources,
            retired,
        };
        let log_dir = self.lake.log_dir();
        let tmp = log_dir.join(format!("{}.tmp", txn_file_name(self.id, ".json")));
        let dst = log_dir.join(txn_file_name(self.id, ".json"));
        {
            let mut f = File::create(&tmp).map_err(io_at(&tmp))?;
            f.write_all(serde_json::to_string_pretty(&record)?.as_bytes())
                .and_then(|_| f.sync_all())
                .map_err(io_at(&tmp))?;
        }
        crate::fault::point("lake.commit.before_log_rename");
        fs::rename(&tmp, &dst).map_err(io_at(&dst))?;
        // From here on the transaction is committed: never delete its staging folder.
        self.committed = true;
        sync_dir(&log_dir);
        crate::fault::point("lake.commit.after_log_rename");
        roll_forward(&self.lake, &self.staging, &record)?;
        Ok(true)
    }
}

impl Drop for Txn {
    /// An abandoned transaction (an error, not a kill) cleans up after itself.
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_dir_all(&self.staging);
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Move committed files from `staging` into place (files already moved are skipped)
/// and delete the files the transaction retired.
pub(super) fn roll_forward(lake: &Lake, staging: &Path, record: &LogRecord) -> Result<()> {
    for (i, rel) in record.files.iter().enumerate() {
        let src = staging.join(rel);
        let dst = lake.root.join(rel);
        if !src.exists() {
            continue;
        }
        if let Some(dir) = dst.parent() {
            fs::create_dir_all(dir).map_err(io_at(dir))?;
        }
        fs::rename(&src, &dst).map_err(io_at(&dst))?;
        if i == 0 {
            crate::fault::point("lake.roll_forward.first_move");
        }
    }
    for rel in &record.retired {
        match fs::remove_file(lake.root.join(rel)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(io_at(lake.root.join(rel))(e));
            }
            _ => {}
        }
    }
    fs::remove_dir_all(staging).map_err(io_at(staging))?;
    Ok(())
}

/// Make the staged files durable before the commit record is written. On Linux one
/// `syncfs` on the staging folder flushes them all (a night's ingest can stage a
/// thousand small files: master data is partitioned by its `updated_at` date, and one
/// `fsync` each cost more than writing them); elsewhere, or if `syncfs` fails, each
/// file is synced on its own.
fn sync_files(staging: &Path, files: &[String]) -> Result<()> {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        if let Ok(d) = File::open(staging) {
            // SAFETY: `d` is an open file descriptor for the duration of the call.
            if unsafe { libc::syncfs(d.as_raw_fd()) } == 0 {
                return Ok(());
            }
        }
    }
    for rel in files {
        let p = staging.join(rel);
        File::open(&p)
            .and_then(|f| f.sync_all())
            .map_err(io_at(&p))?;
    }
    Ok(())
}

/// Persist a rename in a folder (best effort: not every file system supports it).
fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}
