//! The Parquet lake: layout, the lock, and the commit protocol that keeps it whole.
//!
//! ```text
//! LAKE/<table>/event_date=YYYY-MM-DD/part-<txn>-<n>.parquet   canonical rows (zstd)
//! LAKE/_rejects/<table>/part-<txn>-<n>.parquet                refused rows with reasons
//! LAKE/_opintel/log/<txn>.json                                 one record per commit
//! LAKE/_opintel/index/<table>/<txn>.ids                        row identities (dedup)
//! LAKE/_opintel/staging/<txn>/…                                a transaction in progress
//! LAKE/_opintel/lock                                           held by the writing process
//! ```
//!
//! **Commit protocol.** A transaction writes every new file under its staging folder,
//! mirroring the final paths, and syncs them. It then writes its log record (write to a
//! temporary name, sync, rename: the rename is the commit point). Finally it moves the
//! staged files into place and removes the staging folder. Opening the lake for writing
//! (under the lock) recovers: a staging folder whose log record exists is rolled
//! forward (moves are idempotent), one without a record is deleted. So a process killed
//! at any instant leaves the lake as it was before the transaction or as it is after it.
//! Readers list the table folders, which only ever receive complete files.
//!
//! **Identity.** Files are recognised by a content hash recorded in the log; rows by a
//! 64-bit hash of `event_id` (events) or of the whole canonical row (versioned tables),
//! kept in sorted index files and de-duplicated by an external merge (see `index`), so
//! memory does not grow with the input or the lake. With 50 million rows in a table the
//! chance that two different identities share a hash is below 1 in 10,000.

mod index;
mod lock;
mod sink;
mod txn;
mod writer;

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result, io_at};

pub use index::{Duplicates, IdSpill};
pub use lock::LakeLock;
pub use sink::TableSink;
pub use txn::Txn;
pub use writer::{PartitionedWriter, RejectWriter, rejects_schema, writer_properties};

/// What the log remembers about one ingested source file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SourceRecord {
    /// Content hash (xxh3-128, hex).
    pub hash: String,
    pub path: String,
    pub table: String,
    pub rows_read: u64,
    pub accepted: u64,
    pub rejected: u64,
    pub duplicates: u64,
}

/// One committed transaction.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LogRecord {
    pub txn: u64,
    pub committed_at: String,
    /// Lake-relative paths of the files this transaction added.
    pub files: Vec<String>,
    pub sources: Vec<SourceRecord>,
    /// Lake-relative paths of files this transaction made obsolete.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub retired: Vec<String>,
}

/// A lake folder.
#[derive(Debug, Clone)]
pub struct Lake {
    root: PathBuf,
}

impl Lake {
    /// A lake at `root` for reading (nothing is created or recovered).
    pub fn at(root: impl Into<PathBuf>) -> Lake {
        Lake { root: root.into() }
    }

    /// Open the lake for writing: create its folders and finish or undo any
    /// transaction a killed process left behind. Call with the lock held.
    pub fn open_for_write(root: impl Into<PathBuf>, _lock: &LakeLock) -> Result<Lake> {
        let lake = Lake::at(root);
        for d in [
            lake.log_dir(),
            lake.meta().join("index"),
            lake.staging_root(),
        ] {
            fs::create_dir_all(&d).map_err(io_at(&d))?;
        }
        lake.recover()?;
        Ok(lake)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Whether a lake exists here (a folder with the lake's records or tables).
    pub fn exists(&self) -> bool {
        self.root.is_dir()
            && (self.meta().is_dir()
                || crate::contract::TABLES
                    .iter()
                    .any(|t| self.table_dir(t.name).is_dir()))
    }

    /// The newest date any event or order-line partition holds (UTC), if any.
    pub fn latest_data_date(&self) -> Option<chrono::NaiveDate> {
        crate::contract::TABLES
            .iter()
            .filter(|t| t.kind != crate::contract::TableKind::Master)
            .filter_map(|t| fs::read_dir(self.table_dir(t.name)).ok())
            .flat_map(|entries| entries.flatten())
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                let date = name.strip_prefix(&format!("{}=", crate::contract::PARTITION_COLUMN))?;
                chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").ok()
            })
            .max()
    }

    pub fn table_dir(&self, table: &str) -> PathBuf {
        self.root.join(table)
    }

    pub fn rejects_dir(&self, table: &str) -> PathBuf {
        self.root.join("_rejects").join(table)
    }

    fn meta(&self) -> PathBuf {
        self.root.join("_opintel")
    }

    fn log_dir(&self) -> PathBuf {
        self.meta().join("log")
    }

    fn staging_root(&self) -> PathBuf {
        self.meta().join("staging")
    }

    fn index_dir(&self, table: &str) -> PathBuf {
        self.meta().join("index").join(table)
    }

    /// Every committed log record, oldest first.
    pub fn log(&self) -> Result<Vec<LogRecord>> {
        let dir = self.log_dir();
        let mut records = Vec::new();
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(records),
            Err(e) => return Err(io_at(&dir)(e)),
        };
        for entry in entries {
            let path = entry.map_err(io_at(&dir))?.path();
            if txn_id_of(&path, ".json").is_none() {
                continue;
            }
            let text = fs::read_to_string(&path).map_err(io_at(&path))?;
            let rec: LogRecord = serde_json::from_str(&text).map_err(|e| Error::Lake {
                path: path.clone(),
                message: format!("corrupt log record: {e}"),
            })?;
            records.push(rec);
        }
        records.sort_by_key(|r| r.txn);
        Ok(records)
    }

    /// Source files already in the lake, by content hash.
    pub fn ingested_files(&self) -> Result<HashMap<String, SourceRecord>> {
        Ok(self
            .log()?
            .into_iter()
            .flat_map(|r| r.sources)
            .map(|s| (s.hash.clone(), s))
            .collect())
    }

    /// Start a transaction.
    pub fn begin(&self) -> Result<Txn> {
        let mut next = 1;
        for dir in [self.log_dir(), self.staging_root()] {
            if let Ok(entries) = fs::read_dir(&dir) {
                for e in entries.flatten() {
                    let p = e.path();
                    if let Some(id) = txn_id_of(&p, ".json").or_else(|| txn_id_of(&p, "")) {
                        next = next.max(id + 1);
                    }
                }
            }
        }
        Txn::new(self.clone(), next)
    }

    /// Finish or undo transactions left by a killed process.
    fn recover(&self) -> Result<()> {
        let staging = self.staging_root();
        let entries = fs::read_dir(&staging).map_err(io_at(&staging))?;
        for entry in entries {
            let path = entry.map_err(io_at(&staging))?.path();
            let Some(id) = txn_id_of(&path, "") else {
                continue;
            };
            let record = self.log_dir().join(txn_file_name(id, ".json"));
            if record.is_file() {
                let text = fs::read_to_string(&record).map_err(io_at(&record))?;
                let rec: LogRecord = serde_json::from_str(&text).map_err(|e| Error::Lake {
                    path: record.clone(),
                    message: format!("corrupt log record: {e}"),
                })?;
                tracing::warn!(
                    txn = id,
                    "finishing a transaction interrupted after its commit"
                );
                txn::roll_forward(self, &path, &rec)?;
            } else {
                tracing::warn!(
                    txn = id,
                    "discarding a transaction interrupted before its commit"
                );
                fs::remove_dir_all(&path).map_err(io_at(&path))?;
            }
        }
        // Temporary log records never renamed into place.
        if let Ok(entries) = fs::read_dir(self.log_dir()) {
            for e in entries.flatten() {
                if e.file_name().to_string_lossy().ends_with(".tmp") {
                    let _ = fs::remove_file(e.path());
                }
            }
        }
        Ok(())
    }
}

fn txn_file_name(id: u64, ext: &str) -> String {
    format!("{id:08}{ext}")
}

/// The transaction number in a `00000012.json` / `00000012` file name.
fn txn_id_of(path: &Path, ext: &str) -> Option<u64> {
    let name = path.file_name()?.to_str()?;
    let stem = name.strip_suffix(ext)?;
    (stem.len() == 8 && stem.bytes().all(|b| b.is_ascii_digit()))
        .then(|| stem.parse().ok())
        .flatten()
}
