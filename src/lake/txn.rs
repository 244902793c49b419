//! An ingest as a lake transaction: stage files, write the record (the commit point),
//! put the files in place and commit each table to Delta. See the protocol in the
//! `lake` module doc.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use datafusion::parquet::file::reader::{FileReader, SerializedFileReader};

use super::delta::{self, DataFile, RemovedFile};
use super::{Lake, LogRecord, LoggedIngest, SourceRecord};
use crate::contract::PARTITION_COLUMN;
use crate::error::{Error, Result, io_at};

/// An ingest in progress. Dropping it without [`Txn::commit`] leaves a staging
/// folder that the next writer deletes.
pub struct Txn {
    lake: Lake,
    id: u64,
    staging: PathBuf,
    files: Mutex<Vec<String>>,
    sources: Mutex<Vec<SourceRecord>>,
    /// Lake files this transaction makes obsolete (deleted after the commit).
    retired: Mutex<Vec<String>>,
    /// Data files this transaction takes out of each table (kept on storage).
    removed: Mutex<BTreeMap<String, Vec<RemovedFile>>>,
    committed: bool,
    /// The lake's committed ingests when this one began: under the writer's lock no
    /// other ingest commits before this one does.
    log: Vec<Arc<LoggedIngest>>,
}

impl Txn {
    pub(super) fn new(lake: Lake, id: u64, log: Vec<Arc<LoggedIngest>>) -> Result<Txn> {
        let staging = lake.store().staging_dir(id);
        fs::create_dir_all(&staging).map_err(io_at(&staging))?;
        Ok(Txn {
            lake,
            id,
            staging,
            files: Mutex::new(Vec::new()),
            sources: Mutex::new(Vec::new()),
            retired: Mutex::new(Vec::new()),
            removed: Mutex::new(BTreeMap::new()),
            committed: false,
            log,
        })
    }

    /// The records of the ingests committed before this one (read once, when it
    /// began: one listing of the log per ingest, not one per table on an object
    /// store).
    pub fn log(&self) -> &[Arc<LoggedIngest>] {
        &self.log
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

    /// Delete lake file `rel` once the transaction is committed.
    pub fn retire(&self, rel: String) {
        lock(&self.retired).push(rel);
    }

    /// Take data file `file` out of table folder `table` in this transaction's Delta
    /// commit (the file itself stays for older versions' readers until a vacuum).
    pub fn remove_from_table(&self, table: &str, file: RemovedFile) {
        lock(&self.removed)
            .entry(table.to_string())
            .or_default()
            .push(file);
    }

    /// The lake-relative paths of the files staged so far under folder `prefix`.
    pub fn staged_under(&self, prefix: &str) -> Vec<String> {
        let prefix = format!("{}/", prefix.trim_end_matches('/'));
        lock(&self.files)
            .iter()
            .filter(|f| f.starts_with(&prefix))
            .cloned()
            .collect()
    }

    /// Remember a source file as ingested by this transaction.
    pub fn record_source(&self, source: SourceRecord) {
        lock(&self.sources).push(source);
    }

    /// Does the transaction change anything?
    pub fn is_empty(&self) -> bool {
        lock(&self.files).is_empty()
            && lock(&self.sources).is_empty()
            && lock(&self.removed).is_empty()
    }

    /// Make the transaction durable and visible. Returns false when there was
    /// nothing to commit.
    pub fn commit(mut self) -> Result<bool> {
        let store = self.lake.store().clone();
        if self.is_empty() {
            self.committed = true;
            store.finish_staging(self.id)?;
            return Ok(false);
        }
        let mut files = std::mem::take(&mut *lock(&self.files));
        files.sort();
        let sources = std::mem::take(&mut *lock(&self.sources));
        let retired = std::mem::take(&mut *lock(&self.retired));
        let removed = std::mem::take(&mut *lock(&self.removed));
        let scratch = self.scratch_dir();
        if scratch.exists() {
            fs::remove_dir_all(&scratch).map_err(io_at(&scratch))?;
        }
        if files.len() > 1 {
            crate::fault::point("lake.commit.sync");
        }
        let t = std::time::Instant::now();
        sync_files(&self.staging, &files)?;
        // `syncfs` flushes the whole file system: slow when other writes are pending.
        tracing::debug!(
            files = files.len(),
            seconds = t.elapsed().as_secs_f64(),
            "staged files synced"
        );
        let tables = data_files(&self.staging, &files)?;
        for rel in &files {
            store.upload(self.id, rel)?;
        }
        let record = LogRecord {
            ingest: LoggedIngest {
                txn: self.id,
                committed_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                files,
                sources,
                retired,
            },
            tables,
            removed,
        };
        store.write_record(self.id, serde_json::to_string_pretty(&record)?.as_bytes())?;
        // From here on the transaction is committed: never delete its staging folder.
        self.committed = true;
        crate::fault::point("lake.commit.after_log_rename");
        roll_forward(&self.lake, &record)?;
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

/// Each Delta table's new files among the staged `files` (identity files are not
/// table files), with their sizes and statistics.
fn data_files(staging: &Path, files: &[String]) -> Result<BTreeMap<String, Vec<DataFile>>> {
    let mut out: BTreeMap<String, Vec<DataFile>> = BTreeMap::new();
    let marker = format!("/{PARTITION_COLUMN}=");
    for rel in files.iter().filter(|f| !f.starts_with("_opintel/")) {
        let Some(i) = rel.find(&marker) else { continue };
        let table = &rel[..i];
        let in_table = &rel[i + 1..];
        let date = in_table
            .split('/')
            .next()
            .and_then(|p| p.split_once('='))
            .map(|(_, d)| d.to_string())
            .unwrap_or_default();
        let path = staging.join(rel);
        let file = File::open(&path).map_err(io_at(&path))?;
        let size = file.metadata().map_err(io_at(&path))?.len() as i64;
        let reader = SerializedFileReader::new(file)?;
        let meta = reader.metadata();
        let schema = datafusion::parquet::arrow::parquet_to_arrow_schema(
            meta.file_metadata().schema_descr(),
            meta.file_metadata().key_value_metadata(),
        )?;
        out.entry(table.to_string()).or_default().push(DataFile {
            path: in_table.to_string(),
            size,
            date,
            rows: meta.file_metadata().num_rows(),
            stats: delta::stats_of(meta, &std::sync::Arc::new(schema)),
        });
    }
    Ok(out)
}

/// Put a committed ingest's files in place and commit each of its tables to Delta
/// (a table that already holds it is skipped), delete the files it retired, and mark
/// it done. Idempotent: run again after a crash at any point of it.
pub(super) fn roll_forward(lake: &Lake, record: &LogRecord) -> Result<()> {
    let store = lake.store();
    for (i, rel) in record.files.iter().enumerate() {
        if store.place(record.txn, rel)? && i == 0 {
            crate::fault::point("lake.roll_forward.first_move");
        }
    }
    let t = std::time::Instant::now();
    let loc = lake.location().clone();
    let tables = record.tables.clone();
    let removed = record.removed.clone();
    let n = record.txn;
    // Each table's commit is its own (idempotent: a table that holds this
    // transaction's number is skipped), so they run at once: replaying each Delta
    // log is CPU work, and on object storage each is a few round trips.
    crate::runtime::block_on(async move {
        let folders: std::collections::BTreeSet<&String> =
            tables.keys().chain(removed.keys()).collect();
        let tasks: Vec<_> = folders
            .into_iter()
            .map(|rel| {
                let rel = rel.clone();
                let files = tables.get(&rel).cloned().unwrap_or_default();
                let gone = removed.get(&rel).cloned().unwrap_or_default();
                let loc = loc.clone();
                tokio::spawn(async move { commit_table(&loc, &rel, &files, &gone, n).await })
            })
            .collect();
        let mut first_error = None;
        for task in tasks {
            let done = task.await.map_err(|e| Error::Lake {
                path: "_opintel".into(),
                message: format!("a table commit failed: {e}"),
            });
            if let Err(e) = done.and_then(|r| r) {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    })??;
    tracing::debug!(seconds = t.elapsed().as_secs_f64(), "delta logs committed");
    for rel in &record.retired {
        store.delete(rel)?;
    }
    store.mark_done(record.txn)?;
    store.finish_staging(record.txn)
}

/// Commit transaction `n`'s new and removed files of table folder `rel` to its Delta
/// log, creating the table first if needed.
async fn commit_table(
    loc: &super::Location,
    rel: &str,
    files: &[DataFile],
    gone: &[RemovedFile],
    n: u64,
) -> Result<()> {
    let mut table = delta::open(loc, rel).await?;
    let schema = table_schema(rel).ok_or_else(|| Error::Lake {
        path: rel.into(),
        message: "not a table of the contract".into(),
    })?;
    if !delta::exists(&table) {
        table = delta::create(table, rel, &schema).await?;
    }
    delta::commit(loc, &mut table, rel, &schema, files, gone, n).await?;
    crate::fault::point("lake.delta.committed");
    Ok(())
}

/// The file schema (without the partition column) of a lake table folder: a
/// canonical table, `_rejects/<table>` or a derived state table.
fn table_schema(rel: &str) -> Option<datafusion::arrow::datatypes::SchemaRef> {
    if let Some(schema) = super::state_schema(rel) {
        return Some(schema);
    }
    match rel.strip_prefix("_rejects/") {
        Some(t) => crate::contract::table(t).map(|_| super::rejects_schema()),
        None => crate::contract::table(rel).map(|t| t.lake_schema()),
    }
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
