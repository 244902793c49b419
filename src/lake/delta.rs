//! The lake's tables as Delta Lake tables (delta-rs): created on first write with the
//! table's schema and the `event_date` partition column, appended to by committing
//! the Parquet files an ingest wrote (with their statistics), read back as a list of
//! files at a version, compacted and vacuumed.
//!
//! Every commit of an ingest carries a Delta *application transaction*
//! (`txn` action) `opintel-ingest-<N>` with version N, the ingest's number: a table
//! that already has it has that ingest's files, so finishing an interrupted ingest
//! commits each table at most once (see the protocol in `lake`).

use std::collections::HashMap;
use std::sync::Arc;

use chrono::NaiveDate;
use datafusion::arrow::datatypes::{Schema, SchemaRef};
use deltalake::DeltaTable;
use deltalake::kernel::engine::arrow_conversion::TryIntoKernel as _;
use deltalake::kernel::transaction::{CommitBuilder, CommitProperties};
use deltalake::kernel::{Action, Add, Remove, StructType, Transaction};
use deltalake::protocol::{DeltaOperation, SaveMode};
use serde::{Deserialize, Serialize};

use super::location::Location;
use crate::contract::PARTITION_COLUMN;
use crate::error::{Error, Result};

/// A data file of a table, as a Delta `add` action needs it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DataFile {
    /// Path inside the table folder (`event_date=2026-11-20/part-….parquet`).
    pub path: String,
    pub size: i64,
    /// The `event_date` partition value.
    pub date: String,
    pub rows: i64,
    /// Delta statistics (JSON: numRecords, minValues, maxValues, nullCount).
    pub stats: String,
}

/// A data file a transaction takes out of its table (a Delta `remove` action). The
/// file stays on storage for readers of older versions until a vacuum.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RemovedFile {
    /// Path inside the table folder.
    pub path: String,
    /// The `event_date` partition value.
    pub date: String,
    pub size: i64,
}

/// A table's files at one version.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// None: the table does not exist yet.
    pub version: Option<u64>,
    pub files: Vec<SnapshotFile>,
}

#[derive(Debug, Clone)]
pub struct SnapshotFile {
    /// Path inside the table folder.
    pub path: String,
    pub size: u64,
    pub date: Option<NaiveDate>,
    pub rows: Option<usize>,
}

fn delta_err(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Lake {
        path: what.into(),
        message: e.to_string(),
    }
}

/// The application id of ingest `n`'s commits.
pub fn app_id(n: u64) -> String {
    format!("opintel-ingest-{n}")
}

/// The Delta tables a [`Location`] (and its clones) has opened, by lake-relative
/// folder, each as of the last version read or committed through it. Opening a table
/// again reads only the log entries written since (just a listing of its log when
/// there are none) instead of replaying the whole log: a night's run otherwise
/// replays each table's log three times (the ingest's reads, its commit, the
/// queries), every one of them longer with every night of history.
///
/// Another writer's commits are never missed: every open brings the kept table up to
/// the log's newest version. Only a log deleted and written anew at the same place
/// while one command runs would be misread, and nothing in opintel does that.
#[derive(Clone, Default)]
pub struct Opened(Arc<std::sync::Mutex<HashMap<String, DeltaTable>>>);

impl std::fmt::Debug for Opened {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Opened")
    }
}

impl Opened {
    fn get(&self, rel: &str) -> Option<DeltaTable> {
        self.0.lock().ok()?.get(rel).cloned()
    }

    /// Keep `table` (a created table, at its newest version known here).
    fn keep(&self, rel: &str, table: &DeltaTable) {
        if !exists(table) {
            return;
        }
        if let Ok(mut kept) = self.0.lock() {
            let newer = kept.get(rel).is_none_or(|k| k.version() <= table.version());
            if newer {
                kept.insert(rel.to_string(), table.clone());
            }
        }
    }
}

/// Open the Delta table at lake-relative folder `rel` at its newest version (it may
/// not exist yet: its folder is created on a disk). A table opened before through
/// `loc` is brought up to date from where it was (see [`Opened`]).
pub async fn open(loc: &Location, rel: &str) -> Result<DeltaTable> {
    super::location::register_delta_s3();
    if let Some(mut table) = loc.opened().get(rel) {
        match table.update_incremental(None).await {
            Ok(()) => {
                loc.opened().keep(rel, &table);
                return Ok(table);
            }
            // Read the whole log again (and report its error, if it has one).
            Err(e) => tracing::debug!(table = rel, error = %e, "kept Delta table not updated"),
        }
    }
    if let Some(root) = loc.local_root() {
        let dir = root.join(rel);
        std::fs::create_dir_all(&dir).map_err(crate::error::io_at(&dir))?;
    }
    let url = loc.url_of(rel)?;
    let table = DeltaTable::try_from_url_with_storage_options(url, loc.delta_options())
        .await
        .map_err(|e| delta_err(rel, e))?;
    loc.opened().keep(rel, &table);
    Ok(table)
}

/// Whether the table has been created.
pub fn exists(table: &DeltaTable) -> bool {
    table.version().is_some()
}

/// The Delta schema of a table whose files have columns `schema`: those columns and
/// the `event_date` partition.
fn delta_schema(rel: &str, schema: &SchemaRef) -> Result<StructType> {
    let mut fields: Vec<datafusion::arrow::datatypes::Field> =
        schema.fields().iter().map(|f| f.as_ref().clone()).collect();
    fields.push(datafusion::arrow::datatypes::Field::new(
        PARTITION_COLUMN,
        datafusion::arrow::datatypes::DataType::Date32,
        true,
    ));
    (&Schema::new(fields))
        .try_into_kernel()
        .map_err(|e| delta_err(rel, e))
}

/// Create the table with `schema` (the file columns) and the `event_date` partition.
pub async fn create(table: DeltaTable, rel: &str, schema: &SchemaRef) -> Result<DeltaTable> {
    let kernel = delta_schema(rel, schema)?;
    table
        .create()
        .with_table_name(rel.replace('/', "_"))
        .with_columns(kernel.fields().cloned())
        .with_partition_columns([PARTITION_COLUMN])
        // Two writers creating the same table at once: the second finds it made.
        .with_save_mode(SaveMode::Ignore)
        .await
        .map_err(|e| delta_err(rel, e))
}

/// A `metaData` action that adds the columns of `schema` the table does not have yet
/// (a contract that gained an optional field, e.g. `receipts.available_at`); None when
/// it has them all. Columns are only ever added, and nullable, so older files stay
/// valid: readers see NULL for the new column in them.
fn added_columns(table: &DeltaTable, rel: &str, schema: &SchemaRef) -> Result<Option<Action>> {
    use deltalake::kernel::MetadataExt as _;
    let snapshot = table.snapshot().map_err(|e| delta_err(rel, e))?;
    let current = snapshot.schema();
    let missing: Vec<_> = schema
        .fields()
        .iter()
        .filter(|f| current.field(f.name()).is_none())
        .collect();
    if missing.is_empty() {
        return Ok(None);
    }
    if let Some(f) = missing.iter().find(|f| !f.is_nullable()) {
        return Err(delta_err(
            rel,
            format!(
                "the table has no column `{}` and it cannot be added: it is required",
                f.name()
            ),
        ));
    }
    let mut fields: Vec<_> = current.fields().cloned().collect();
    let wanted = delta_schema(rel, schema)?;
    fields.extend(
        wanted
            .fields()
            .filter(|f| current.field(f.name()).is_none())
            .cloned(),
    );
    let merged = StructType::try_new(fields).map_err(|e| delta_err(rel, e))?;
    let metadata = snapshot
        .metadata()
        .clone()
        .with_schema(&merged)
        .map_err(|e| delta_err(rel, e))?;
    Ok(Some(Action::Metadata(metadata)))
}

/// Commit `files` (and take `removed` out of it) as ingest `n`, unless the table
/// already holds that ingest.
/// `schema` is the columns of the files (the contract's table now): columns it added
/// since the table was created are added to the table's schema in the same commit.
pub async fn commit(
    loc: &Location,
    table: &mut DeltaTable,
    rel: &str,
    schema: &SchemaRef,
    files: &[DataFile],
    removed: &[RemovedFile],
    n: u64,
) -> Result<bool> {
    let app = app_id(n);
    let done = table
        .snapshot()
        .map_err(|e| delta_err(rel, e))?
        .transaction_version(table.log_store().as_ref(), &app)
        .await
        .map_err(|e| delta_err(rel, e))?;
    if done.is_some_and(|v| v >= n as i64) {
        return Ok(false);
    }
    let now = chrono::Utc::now().timestamp_millis();
    let mut actions: Vec<Action> = added_columns(table, rel, schema)?.into_iter().collect();
    actions.extend(files.iter().map(|f| {
        Action::Add(Add {
            path: f.path.clone(),
            partition_values: HashMap::from([(PARTITION_COLUMN.to_string(), Some(f.date.clone()))]),
            size: f.size,
            modification_time: now,
            data_change: true,
            stats: Some(f.stats.clone()),
            ..Default::default()
        })
    }));
    actions.extend(removed.iter().map(|f| {
        Action::Remove(Remove {
            path: f.path.clone(),
            data_change: true,
            deletion_timestamp: Some(now),
            extended_file_metadata: Some(true),
            partition_values: Some(HashMap::from([(
                PARTITION_COLUMN.to_string(),
                Some(f.date.clone()),
            )])),
            size: Some(f.size),
            tags: None,
            deletion_vector: None,
            base_row_id: None,
            default_row_commit_version: None,
        })
    }));
    let op = DeltaOperation::Write {
        mode: SaveMode::Append,
        partition_by: Some(vec![PARTITION_COLUMN.to_string()]),
        predicate: None,
    };
    let props =
        CommitProperties::default().with_application_transaction(Transaction::new(&app, n as i64));
    let snapshot = table.snapshot().map_err(|e| delta_err(rel, e))?;
    let done = CommitBuilder::from(props)
        .with_actions(actions)
        .build(Some(snapshot), table.log_store(), op)
        .await
        .map_err(|e| delta_err(rel, e))?;
    let version = done.version();
    table.state = Some(done.snapshot());
    if version > 0 && version % CHECKPOINT_EVERY == 0 {
        // The commit is done either way: without the checkpoint, readers replay
        // more of the log.
        if let Err(e) = deltalake::checkpoints::create_checkpoint(table, None).await {
            tracing::warn!(table = rel, error = %e, "Delta checkpoint not written");
        }
    }
    loc.opened().keep(rel, table);
    Ok(true)
}

/// A table's log gets a checkpoint (its state in one Parquet file) every this many
/// versions, so a reader opening it replays at most this many JSON commits after the
/// latest checkpoint. delta-rs writes one every 100 by default; with one commit a
/// night per table and state, a process then replayed up to 99 commits of each of
/// about 25 tables before its first query.
const CHECKPOINT_EVERY: u64 = 10;

/// How many Delta logs [`snapshots`] loads at once. delta-kernel replays a log with
/// synchronous calls on Tokio's blocking pool, so every concurrent load holds pool
/// threads (and their allocator heaps) while it waits for its files: with the ~40
/// tables and states of a lake loaded at once, a 16x run held 47-67 threads and
/// about 1.2 GB more at its peak than with four at a time, for no faster opening.
const CONCURRENT_LOG_LOADS: usize = 4;

/// Several tables' files at once, each at its version (its latest when None): the
/// Delta logs are read and replayed concurrently on the runtime's threads, at most
/// [`CONCURRENT_LOG_LOADS`] at a time. A table whose load failed (or whose task
/// panicked) is missing from the map, or holds its error: the caller loads it again,
/// or reports the error, at its turn.
pub async fn snapshots(
    loc: &Location,
    rels: impl IntoIterator<Item = (String, Option<u64>)>,
) -> HashMap<String, Result<Snapshot>> {
    let gate = Arc::new(tokio::sync::Semaphore::new(CONCURRENT_LOG_LOADS));
    let tasks: Vec<_> = rels
        .into_iter()
        .map(|(rel, version)| {
            let loc = loc.clone();
            let gate = Arc::clone(&gate);
            tokio::spawn(async move {
                // Never closed, so acquiring cannot fail; on failure, load anyway.
                let _permit = gate.acquire_owned().await.ok();
                let snap = snapshot(&loc, &rel, version).await;
                (rel, snap)
            })
        })
        .collect();
    let mut out = HashMap::new();
    for task in tasks {
        if let Ok((rel, snap)) = task.await {
            out.insert(rel, snap);
        }
    }
    out
}

/// The table's files at `version` (its latest when None).
pub async fn snapshot(loc: &Location, rel: &str, version: Option<u64>) -> Result<Snapshot> {
    let Some(table) = table_at(loc, rel, version).await? else {
        return Ok(Snapshot::default());
    };
    let state = table.snapshot().map_err(|e| delta_err(rel, e))?;
    let files = state
        .log_data()
        .iter()
        .map(|f| SnapshotFile {
            path: f.path().to_string(),
            size: f.size().max(0) as u64,
            date: f
                .partition_values_map()
                .get(PARTITION_COLUMN)
                .cloned()
                .flatten()
                .and_then(|d| NaiveDate::parse_from_str(&d, "%Y-%m-%d").ok()),
            rows: f.num_records(),
        })
        .collect();
    Ok(Snapshot {
        version: table.version(),
        files,
    })
}

/// The table at lake-relative folder `rel` at `version` (its latest when None); None
/// when nobody has written to it yet.
async fn table_at(loc: &Location, rel: &str, version: Option<u64>) -> Result<Option<DeltaTable>> {
    // A table nobody has written to yet (and, on a disk, no folder to create for it).
    if let Some(root) = loc.local_root()
        && !root.join(rel).join("_delta_log").is_dir()
    {
        return Ok(None);
    }
    // A version's files never change: the kept table at that version serves it
    // without listing the log again (a LIST request on an object store).
    if let Some(v) = version
        && let Some(kept) = loc.opened().get(rel)
        && kept.version() == Some(v)
    {
        return Ok(Some(kept));
    }
    let mut table = open(loc, rel).await?;
    if !exists(&table) {
        return Ok(None);
    }
    if let Some(v) = version
        && table.version() != Some(v)
    {
        table
            .load_version(v)
            .await
            .map_err(|e| delta_err(rel, format!("version {v}: {e}")))?;
    }
    Ok(Some(table))
}

/// The smallest and largest value of string column `column` in each data file of the
/// table at `rel` at `version` (its latest when None), by the files' Delta statistics,
/// keyed by path as in [`SnapshotFile::path`]. A file whose statistics do not give
/// both is not in the map: nothing is known of what it holds.
pub async fn string_ranges(
    loc: &Location,
    rel: &str,
    version: Option<u64>,
    column: &str,
) -> Result<HashMap<String, (String, String)>> {
    let Some(table) = table_at(loc, rel, version).await? else {
        return Ok(HashMap::new());
    };
    let state = table.snapshot().map_err(|e| delta_err(rel, e))?;
    let mut out = HashMap::new();
    for f in state.log_data().iter() {
        let Some(stats) = f.stats() else { continue };
        let Ok(stats) = serde_json::from_str::<serde_json::Value>(&stats) else {
            continue;
        };
        let value = |side: &str| stats.get(side)?.get(column)?.as_str().map(str::to_string);
        if let (Some(min), Some(max)) = (value("minValues"), value("maxValues")) {
            out.insert(f.path().to_string(), (min, max));
        }
    }
    Ok(out)
}

/// Delta statistics of a Parquet file we wrote, from its footer: the row count and,
/// per column, min, max and null count (timestamps to the millisecond, as Delta
/// readers expect them).
pub fn stats_of(
    meta: &datafusion::parquet::file::metadata::ParquetMetaData,
    schema: &SchemaRef,
) -> String {
    use datafusion::parquet::file::statistics::Statistics as S;
    let rows: i64 = meta.file_metadata().num_rows();
    let mut min = serde_json::Map::new();
    let mut max = serde_json::Map::new();
    let mut nulls = serde_json::Map::new();
    for (i, field) in schema.fields().iter().enumerate() {
        let mut lo: Option<serde_json::Value> = None;
        let mut hi: Option<serde_json::Value> = None;
        let mut null_count: i64 = 0;
        let mut complete = true;
        for rg in meta.row_groups() {
            let Some(col) = rg.columns().get(i) else {
                complete = false;
                continue;
            };
            let Some(st) = col.statistics() else {
                complete = false;
                continue;
            };
            null_count += st.null_count_opt().unwrap_or(0) as i64;
            let pair: Option<(serde_json::Value, serde_json::Value)> = match st {
                S::Int64(s) => match (s.min_opt(), s.max_opt()) {
                    (Some(a), Some(b)) => Some(match field.data_type() {
                        datafusion::arrow::datatypes::DataType::Timestamp(_, _) => {
                            (ts_json(*a, false).into(), ts_json(*b, true).into())
                        }
                        _ => ((*a).into(), (*b).into()),
                    }),
                    _ => None,
                },
                S::Double(s) => match (s.min_opt(), s.max_opt()) {
                    (Some(a), Some(b)) if a.is_finite() && b.is_finite() => {
                        Some(((*a).into(), (*b).into()))
                    }
                    _ => None,
                },
                S::ByteArray(s) => match (s.min_opt(), s.max_opt()) {
                    (Some(a), Some(b)) => match (a.as_utf8(), b.as_utf8()) {
                        // Long strings are left out (statistics may be truncated).
                        (Ok(a), Ok(b)) if a.len() <= 32 && b.len() <= 32 => {
                            Some((a.to_string().into(), b.to_string().into()))
                        }
                        _ => None,
                    },
                    _ => None,
                },
                _ => None,
            };
            match pair {
                Some((a, b)) => {
                    lo = Some(match lo {
                        Some(x) if json_le(&x, &a) => x,
                        _ => a,
                    });
                    hi = Some(match hi {
                        Some(x) if json_le(&b, &x) => x,
                        _ => b,
                    });
                }
                None => complete = false,
            }
        }
        nulls.insert(field.name().clone(), null_count.into());
        if complete && let (Some(a), Some(b)) = (lo, hi) {
            min.insert(field.name().clone(), a);
            max.insert(field.name().clone(), b);
        }
    }
    serde_json::json!({
        "numRecords": rows,
        "minValues": min,
        "maxValues": max,
        "nullCount": nulls,
    })
    .to_string()
}

/// A timestamp in µs as Delta writes it in statistics (milliseconds; the max rounded
/// up so that it still bounds the column).
fn ts_json(us: i64, up: bool) -> String {
    let ms = if up {
        (us + 999).div_euclid(1000)
    } else {
        us.div_euclid(1000)
    };
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .unwrap_or_default()
}

fn json_le(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    match (a, b) {
        (serde_json::Value::Number(x), serde_json::Value::Number(y)) => {
            x.as_f64().unwrap_or(0.0) <= y.as_f64().unwrap_or(0.0)
        }
        (serde_json::Value::String(x), serde_json::Value::String(y)) => x <= y,
        _ => true,
    }
}

/// Compact each partition's small files into files of about `target` bytes.
pub async fn optimize(loc: &Location, rel: &str, target: u64) -> Result<Option<(u64, u64)>> {
    let table = open(loc, rel).await?;
    if !exists(&table) {
        return Ok(None);
    }
    let target =
        std::num::NonZeroU64::new(target.max(1 << 20)).unwrap_or(std::num::NonZeroU64::MIN);
    let schema = table
        .snapshot()
        .map_err(|e| delta_err(rel, e))?
        .snapshot()
        .arrow_schema();
    let (_, metrics) = table
        .optimize()
        .with_target_size(target)
        .with_writer_properties(super::writer_properties(&schema))
        .await
        .map_err(|e| delta_err(rel, e))?;
    Ok(Some((metrics.num_files_removed, metrics.num_files_added)))
}

/// How much a vacuum looks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sweep {
    /// The files the log says a commit removed, once no version younger than the
    /// retention reads them: read from the log alone, no listing.
    Removed,
    /// Those, and every file in the folder no version lists at all (an upload an
    /// ingest killed before its commit left behind): lists the whole folder.
    Everything,
}

/// Delete the files no version younger than `retain_hours` references (see [`Sweep`]);
/// the file count, None when there is no table.
pub async fn vacuum(
    loc: &Location,
    rel: &str,
    retain_hours: f64,
    sweep: Sweep,
) -> Result<Option<usize>> {
    use deltalake::operations::vacuum::VacuumMode;
    // Opening a table on a disk makes its folder: one not written yet (a state no
    // ingest needed so far) stays without one, as its readers expect.
    if loc
        .local_root()
        .is_some_and(|root| !root.join(rel).join("_delta_log").is_dir())
    {
        return Ok(None);
    }
    let table = open(loc, rel).await?;
    if !exists(&table) {
        return Ok(None);
    }
    let store = table.object_store();
    let (_, metrics) = table
        .vacuum()
        .with_retention_period(chrono::Duration::milliseconds(
            (retain_hours * 3_600_000.0) as i64,
        ))
        .with_enforce_retention_duration(false)
        .with_mode(match sweep {
            Sweep::Removed => VacuumMode::Lite,
            Sweep::Everything => VacuumMode::Full,
        })
        // The nightly sweep only plans with Delta's rules and deletes the files
        // itself: a vacuum that deletes commits twice to the log (its start and its
        // end), two versions a night on every state table for nothing a reader needs.
        .with_dry_run(sweep == Sweep::Removed)
        .await
        .map_err(|e| delta_err(rel, e))?;
    if sweep == Sweep::Removed {
        use futures::StreamExt;
        use object_store::ObjectStoreExt as _;
        let deletes = futures::stream::iter(metrics.files_deleted.iter())
            .map(|f| {
                let store = Arc::clone(&store);
                async move {
                    match store
                        .delete(&object_store::path::Path::from(f.as_str()))
                        .await
                    {
                        Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                        Err(e) => Err(Error::Lake {
                            path: format!("{rel}/{f}").into(),
                            message: format!("could not delete a replaced file: {e}"),
                        }),
                    }
                }
            })
            .buffer_unordered(16)
            .collect::<Vec<_>>()
            .await;
        deletes.into_iter().collect::<Result<Vec<()>>>()?;
    }
    Ok(Some(metrics.files_deleted.len()))
}

/// A shared handle to an opened table (for commits of several files of one table).
pub type Shared = Arc<tokio::sync::Mutex<DeltaTable>>;

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::datatypes::{DataType, Field};

    fn added(path: &str) -> DataFile {
        DataFile {
            path: path.to_string(),
            size: 10,
            date: "2026-11-01".to_string(),
            rows: 1,
            stats: r#"{"numRecords":1}"#.to_string(),
        }
    }

    fn paths(s: &Snapshot) -> Vec<String> {
        let mut p: Vec<String> = s.files.iter().map(|f| f.path.clone()).collect();
        p.sort();
        p
    }

    /// A table kept open by one location is brought up to date with the commits
    /// another writer made since: it lists what a first reading of the log lists.
    #[test]
    fn a_kept_table_sees_the_commits_of_another_writer() -> Result<()> {
        let dir = tempfile::tempdir().map_err(crate::error::io_at(std::env::temp_dir()))?;
        let ours = Location::local(dir.path());
        let theirs = Location::local(dir.path());
        let schema: SchemaRef = Arc::new(Schema::new(vec![Field::new("x", DataType::Int64, true)]));
        crate::runtime::block_on(async {
            let table = open(&ours, "t").await?;
            let mut table = create(table, "t", &schema).await?;
            let a = added("event_date=2026-11-01/a.parquet");
            commit(&ours, &mut table, "t", &schema, &[a], &[], 1).await?;
            assert_eq!(snapshot(&ours, "t", None).await?.files.len(), 1);

            let mut other = open(&theirs, "t").await?;
            let b = added("event_date=2026-11-01/b.parquet");
            let gone = RemovedFile {
                path: "event_date=2026-11-01/a.parquet".to_string(),
                date: "2026-11-01".to_string(),
                size: 10,
            };
            commit(&theirs, &mut other, "t", &schema, &[b], &[gone], 2).await?;

            let seen = snapshot(&ours, "t", None).await?;
            let first_reading = snapshot(&Location::local(dir.path()), "t", None).await?;
            assert_eq!(seen.version, first_reading.version);
            assert_eq!(seen.version, Some(2), "create, then two commits");
            assert_eq!(paths(&seen), paths(&first_reading));
            assert_eq!(paths(&seen), vec!["event_date=2026-11-01/b.parquet"]);
            // What `ours` keeps is the newest version, not the one it committed.
            let kept = ours.opened().get("t").and_then(|t| t.version());
            assert_eq!(kept, Some(2));
            Ok(())
        })?
    }
}
