//! `opintel lake optimize|vacuum|migrate`: keeping the lake's Delta tables in shape,
//! and moving a lake of the older plain-Parquet layout onto Delta Lake.
//!
//! - **optimize** compacts each partition's small files (one per nightly ingest and
//!   date) into files of about the target size: a Delta commit that removes the small
//!   files and adds the big ones, so readers see the same rows throughout;
//! - **vacuum** deletes the files no version younger than the retention references
//!   (those optimize replaced, uploads of killed ingests); time travel to versions
//!   older than the retention stops working;
//! - **rebuild-state** recomputes the order-line state (`engine::state`) from the
//!   event tables in one transaction: for a lake whose state is in doubt, or to check
//!   the state every ingest keeps against a fresh one;
//! - **migrate** reads an older lake's commit log (`_opintel/log`) and replays every
//!   ingest into a new Delta lake, local or on an object store, then checks that each
//!   table holds as many rows as before.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use crate::config::LakeConfig;
use crate::contract::{PARTITION_COLUMN, TABLES};
use crate::error::{Error, Result, io_at};
use crate::lake::{Lake, LakeLock, LogRecord, delta};

/// What maintenance did to one table folder.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TableMaintenance {
    pub table: String,
    pub files_before: usize,
    pub files_after: usize,
    /// optimize: files removed and added; vacuum: files deleted.
    pub removed: u64,
    pub added: u64,
}

fn table_folders() -> Vec<String> {
    TABLES
        .iter()
        .flat_map(|t| [Lake::table_rel(t.name), Lake::rejects_rel(t.name)])
        .chain(crate::lake::STATE_FOLDERS.map(str::to_string))
        .collect()
}

/// Recompute every state table from the event tables, in one lake transaction.
pub fn rebuild_state(
    config: &LakeConfig,
    half_life: f64,
    wait: Option<Duration>,
) -> Result<
    Vec<(
        &'static crate::engine::state::Kind,
        crate::engine::state::StateChange,
    )>,
> {
    let lock = LakeLock::acquire(config, wait)?;
    let lake = Lake::open_for_write(config, &lock)?;
    let txn = lake.begin()?;
    let change = crate::engine::state::rebuild(&lake, &txn, half_life)?;
    txn.commit()?;
    Ok(change)
}

/// Compact every table's small files into files of about `target_mb` MiB.
pub fn optimize(
    config: &LakeConfig,
    target_mb: u64,
    wait: Option<Duration>,
) -> Result<Vec<TableMaintenance>> {
    let lock = LakeLock::acquire(config, wait)?;
    let lake = Lake::open_for_write(config, &lock)?;
    let mut out = Vec::new();
    for rel in table_folders() {
        let before = lake.snapshot(&rel, None)?;
        if before.version.is_none() {
            continue;
        }
        let done =
            crate::runtime::block_on(delta::optimize(lake.location(), &rel, target_mb << 20))??;
        let after = lake.snapshot(&rel, None)?;
        let (removed, added) = done.unwrap_or((0, 0));
        out.push(TableMaintenance {
            table: rel,
            files_before: before.files.len(),
            files_after: after.files.len(),
            removed,
            added,
        });
    }
    Ok(out)
}

/// Delete files no table version younger than `retain_hours` references.
pub fn vacuum(
    config: &LakeConfig,
    retain_hours: u64,
    wait: Option<Duration>,
) -> Result<Vec<TableMaintenance>> {
    let lock = LakeLock::acquire(config, wait)?;
    let lake = Lake::open_for_write(config, &lock)?;
    let mut out = Vec::new();
    for rel in table_folders() {
        let files = lake.snapshot(&rel, None)?.files.len();
        let deleted = crate::runtime::block_on(delta::vacuum(
            lake.location(),
            &rel,
            retain_hours as f64,
            delta::Sweep::Everything,
        ))??;
        if let Some(d) = deleted {
            out.push(TableMaintenance {
                table: rel,
                files_before: files,
                files_after: files,
                removed: d as u64,
                added: 0,
            });
        }
    }
    Ok(out)
}

/// A table's rows before and after a migration.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Migrated {
    pub table: String,
    pub rows_before: i64,
    pub rows_after: i64,
}

/// Replay the ingests of the plain-Parquet lake at `old` into the Delta lake `new`
/// (which must hold no ingest yet), then compare each table's rows.
pub fn migrate(
    old: &Path,
    new: &LakeConfig,
    half_life: f64,
    wait: Option<Duration>,
) -> Result<Vec<Migrated>> {
    let log_dir = old.join("_opintel/log");
    if !log_dir.is_dir() {
        return Err(Error::input(
            old,
            "not a lake of the older layout (it has no _opintel/log folder)",
        ));
    }
    if TABLES
        .iter()
        .any(|t| old.join(t.name).join("_delta_log").is_dir())
    {
        return Err(Error::input(
            old,
            "this lake is already a Delta lake: nothing to migrate",
        ));
    }
    let mut records: Vec<LogRecord> = Vec::new();
    for e in std::fs::read_dir(&log_dir)
        .map_err(io_at(&log_dir))?
        .flatten()
    {
        let p = e.path();
        if p.extension().is_some_and(|x| x == "json") {
            let text = std::fs::read_to_string(&p).map_err(io_at(&p))?;
            records.push(serde_json::from_str(&text).map_err(|e| Error::Lake {
                path: p.clone(),
                message: format!("corrupt log record: {e}"),
            })?);
        }
    }
    records.sort_by_key(|r| r.txn);
    let lock = LakeLock::acquire(new, wait)?;
    let lake = Lake::open_for_write(new, &lock)?;
    if !lake.log()?.is_empty() {
        return Err(Error::input(
            &new.root,
            "the new lake already holds ingests: migrate into an empty one",
        ));
    }
    let mut before: BTreeMap<String, i64> = BTreeMap::new();
    for rec in &records {
        let txn = lake.begin_numbered(rec.txn)?;
        for rel in &rec.files {
            let src = old.join(rel);
            // Derived state is not replayed: it is computed once at the end.
            if rel.starts_with("_state/") {
                continue;
            }
            if !src.is_file() {
                // Retired by a later ingest (an identity file merged away).
                continue;
            }
            let dst_rel = new_path(rel, &rec.committed_at);
            let dst = txn.stage(&dst_rel)?;
            std::fs::copy(&src, &dst).map_err(io_at(&dst))?;
            if let Some(table) = data_table(rel) {
                *before.entry(table).or_default() += parquet_rows(&src)?;
            }
        }
        for r in &rec.retired {
            txn.retire(r.clone());
        }
        for s in &rec.sources {
            txn.record_source(s.clone());
        }
        txn.commit()?;
    }
    let txn = lake.begin()?;
    crate::engine::state::rebuild(&lake, &txn, half_life)?;
    txn.commit()?;
    let mut out = Vec::new();
    for rel in table_folders()
        .into_iter()
        .filter(|r| !crate::lake::STATE_FOLDERS.contains(&r.as_str()))
    {
        let after: i64 = lake
            .snapshot(&rel, None)?
            .files
            .iter()
            .map(|f| f.rows.unwrap_or(0) as i64)
            .sum();
        let rows_before = before.get(&rel).copied().unwrap_or(0);
        if rows_before != after {
            return Err(Error::Lake {
                path: rel.into(),
                message: format!("{rows_before} rows before the migration, {after} after"),
            });
        }
        if rows_before > 0 {
            out.push(Migrated {
                table: rel,
                rows_before,
                rows_after: after,
            });
        }
    }
    Ok(out)
}

/// The table folder a data file belongs to (`shipments/event_date=…/x.parquet` →
/// `shipments`; rejects → `_rejects/<table>`; identity files → none).
fn data_table(rel: &str) -> Option<String> {
    if rel.starts_with("_opintel/") {
        return None;
    }
    let parts: Vec<&str> = rel.split('/').collect();
    match parts.as_slice() {
        ["_rejects", t, ..] => Some(format!("_rejects/{t}")),
        [t, ..] if crate::contract::table(t).is_some() => Some((*t).to_string()),
        _ => None,
    }
}

/// Rejects of the older layout were not partitioned: they go to the date of their
/// ingest.
fn new_path(rel: &str, committed_at: &str) -> String {
    let parts: Vec<&str> = rel.split('/').collect();
    match parts.as_slice() {
        ["_rejects", t, file] if !file.starts_with(PARTITION_COLUMN) => {
            let date = committed_at.get(..10).unwrap_or("1970-01-01");
            format!("_rejects/{t}/{PARTITION_COLUMN}={date}/{file}")
        }
        _ => rel.to_string(),
    }
}

fn parquet_rows(path: &Path) -> Result<i64> {
    use datafusion::parquet::file::reader::{FileReader, SerializedFileReader};
    let f = std::fs::File::open(path).map_err(io_at(path))?;
    Ok(SerializedFileReader::new(f)?
        .metadata()
        .file_metadata()
        .num_rows())
}
