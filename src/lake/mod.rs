//! The lake: every canonical table and every rejects table is a Delta Lake table,
//! on a local disk or in an S3-compatible object store, plus opintel's own records.
//!
//! ```text
//! LAKE/<table>/_delta_log/…                                   the table's Delta log
//! LAKE/<table>/event_date=YYYY-MM-DD/part-<n>-<k>.parquet     its files (zstd)
//! LAKE/_rejects/<table>/…                                     refused rows, also Delta
//! LAKE/_state/order_lines_v2/…                                per-line state, also Delta
//! LAKE/_opintel/log/<n>.json                                   one record per ingest
//! LAKE/_opintel/log/<n>.done                                   …once every table holds it
//! LAKE/_opintel/index/<table>/<n>.ids                          row identities (dedup)
//! LAKE/_opintel/lock                                           the writer's lock
//! ```
//!
//! **One ingest, several tables.** Delta commits one table at a time; an ingest
//! touches many. An ingest N therefore goes in four steps:
//!
//! 1. every new file (data, rejects, identities) is written to a staging folder
//!    (`LAKE/_opintel/staging/N/` on a local disk; a local temporary folder for an
//!    object store, whose files are then uploaded to their final paths, where no
//!    Delta reader sees them: they are in no table's log yet);
//! 2. the record `_opintel/log/N.json` is written atomically (a rename on a disk, a
//!    put-if-absent on an object store). **This is the commit point**: it lists each
//!    table's files with their statistics, the source files and their counts;
//! 3. on a disk the staged files are moved into place; then each table gets one Delta
//!    commit adding its files, carrying the Delta application transaction
//!    `opintel-ingest-N` (version N), and is skipped when it already carries it;
//! 4. `_opintel/log/N.done` is written.
//!
//! Whoever next writes to the lake finishes what a killed process left: a record
//! without `.done` is rolled forward (steps 3–4 are idempotent: moves skip what is
//! moved, tables that have the transaction are skipped); a staging folder without a
//! record is deleted. So an ingest appears in every table or in none once the lake is
//! next written, and a reader of one table never sees half of a file. Files uploaded
//! by a process killed before step 2 belong to no record and no table: `lake vacuum`
//! removes them.
//!
//! **Derived state.** `_state/order_lines_v2` (computed by `engine::state`) changes in the
//! same transaction as the rows it derives from: its rewritten month partitions are
//! staged like any file, and the files they replace are listed in the record's
//! `removed` and taken out of the table by a Delta `remove` action in the same commit
//! (the files stay on storage for older versions: until the first ingest after
//! `[ingest] state_retain_hours`, see [`Lake::vacuum_state`], or `lake vacuum`).
//!
//! **One writer at a time**: an OS lock on a local disk; on an object store a lease
//! object written with put-if-absent (see `lock`). Delta's own commits are
//! optimistic (put-if-absent of the next log entry, retried on conflict), so other
//! tools appending to the same tables at the same time do not lose commits either.
//!
//! **Identity.** Files are recognised by a content hash recorded in the log; rows by a
//! 64-bit hash of `event_id` (events) or of the whole canonical row (versioned tables),
//! kept in sorted index files and de-duplicated by an external merge (see `index`), so
//! memory does not grow with the input or the lake. With 50 million rows in a table the
//! chance that two different identities share a hash is below 1 in 10,000.

pub mod delta;
mod index;
pub mod location;
mod lock;
mod sink;
mod store;
mod txn;
mod writer;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use crate::config::LakeConfig;
use crate::error::{Error, Result};

pub use delta::{DataFile, RemovedFile, Snapshot, SnapshotFile};
pub use index::{Duplicates, IdSpill};
pub use location::Location;
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

/// Folder of the order-line state: one row per order line, derived from
/// `order_lines` and `shipments` and kept in step with them by every ingest (the
/// `engine` computes it; see `engine::state`). Its second layout, with the lines still
/// open apart: a lake that holds only the first (`_state/order_lines`, whose open lines
/// are mixed with the rest) gets this one whole at its next ingest, and is read from
/// the raw tables until then. The first layout's folder is no longer read.
pub const ORDER_LINE_STATE: &str = "_state/order_lines_v2";

/// Folder of the exception state: one row per exception, derived from
/// `exception_events` and kept in step with it by every ingest (see `engine::state`).
pub const EXCEPTION_STATE: &str = "_state/exceptions";

/// Folder of the return state: one row per return event, derived from
/// `return_events` and kept in step with it by every ingest (see `engine::state`).
pub const RETURN_STATE: &str = "_state/returns";

/// Folders of the master states: every version of a master table (`items`,
/// `locations`, `suppliers`) in one file per month of `updated_at`, kept in step with
/// it by every ingest (see `engine::state`).
pub const ITEM_STATE: &str = "_state/items";
pub const LOCATION_STATE: &str = "_state/locations";
pub const SUPPLIER_STATE: &str = "_state/suppliers";

/// Folder of the pick months: per SKU-location and old UTC month, its picks, their
/// exposure at the month's end and the picks after its last count in the month (what
/// the count priority reads a year of), with the table rows they summarise.
pub const PICK_STATE: &str = "_state/pick_months";

/// Folders of the month copies: every row of an event or snapshot table as it is, in
/// a few files per month of its `event_date` instead of one or more per day, kept in
/// step with it by every ingest (see `engine::state`).
pub const MONTH_COPIES: [&str; 7] = [
    "_state/shipments",
    "_state/receipts",
    "_state/cycle_counts",
    "_state/adjustments",
    "_state/exception_events",
    "_state/return_events",
    "_state/inventory_snapshots",
];

/// The folders of the derived state tables.
pub const STATE_FOLDERS: [&str; 14] = [
    ORDER_LINE_STATE,
    PICK_STATE,
    EXCEPTION_STATE,
    RETURN_STATE,
    ITEM_STATE,
    LOCATION_STATE,
    SUPPLIER_STATE,
    MONTH_COPIES[0],
    MONTH_COPIES[1],
    MONTH_COPIES[2],
    MONTH_COPIES[3],
    MONTH_COPIES[4],
    MONTH_COPIES[5],
    MONTH_COPIES[6],
];

/// The file schema (its partition column, `event_date`, apart) of state folder `rel`;
/// None when `rel` is not one.
pub fn state_schema(rel: &str) -> Option<datafusion::arrow::datatypes::SchemaRef> {
    match rel {
        ORDER_LINE_STATE => Some(order_line_state_schema()),
        EXCEPTION_STATE => Some(exception_state_schema()),
        RETURN_STATE => Some(return_state_schema()),
        ITEM_STATE | LOCATION_STATE | SUPPLIER_STATE => {
            copy_state_schema(rel.trim_start_matches("_state/"))
        }
        _ if MONTH_COPIES.contains(&rel) => copy_state_schema(rel.trim_start_matches("_state/")),
        PICK_STATE => Some(pick_state_schema()),
        _ => None,
    }
}

/// The pick months' file columns: one row per SKU-location with picks in an old UTC
/// month (the partition column is the month's first day): the month's bounds, its
/// picks, Σ exp(−(month_end − shipped_at) in days × ln 2 / half_life_days) over them,
/// the SKU-location's last cycle count in the month and the picks after it (all of
/// them without one); the half-life used, and the rows `shipments` and `cycle_counts`
/// held in the month when it was written (a reader checks them against the tables').
pub fn pick_state_schema() -> datafusion::arrow::datatypes::SchemaRef {
    use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
    let ts = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    std::sync::Arc::new(Schema::new(vec![
        Field::new("warehouse_id", DataType::Utf8, true),
        Field::new("location_id", DataType::Utf8, true),
        Field::new("sku", DataType::Utf8, true),
        Field::new("month_start", ts.clone(), true),
        Field::new("month_end", ts.clone(), true),
        Field::new("picks", DataType::Int64, true),
        Field::new("exposure_at_month_end", DataType::Float64, true),
        Field::new("last_counted_at", ts, true),
        Field::new("picks_after_last_count", DataType::Int64, true),
        Field::new("half_life_days", DataType::Float64, true),
        Field::new("shipment_rows", DataType::Int64, true),
        Field::new("count_rows", DataType::Int64, true),
    ]))
}

/// The file columns of a master state or a month copy: the table's own (its fields,
/// `_ingest_seq`, `_source_file`) and `version_date`, the row's `event_date` in the
/// table (the UTC day of its main timestamp). The partition column is the first day
/// of that month. None when `table` is not a table of the contract.
pub fn copy_state_schema(table: &str) -> Option<datafusion::arrow::datatypes::SchemaRef> {
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    let t = crate::contract::table(table)?;
    let mut fields: Vec<Field> = t
        .lake_schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    fields.push(Field::new("version_date", DataType::Date32, true));
    Some(std::sync::Arc::new(Schema::new(fields)))
}

/// The return state's file columns: one row per return event, the state the return
/// was in from that event (`valid_from`) until its next one (`valid_to`, NULL for its
/// current state): its first "received" time so far and its latest "dispositioned"
/// event so far (time, warehouse, disposition); the event's ingest sequence number and
/// the date of the return's first event. Partitioned like the exception state, by the
/// month of `valid_to` (a current state: the month of `valid_from` 7000 years on).
pub fn return_state_schema() -> datafusion::arrow::datatypes::SchemaRef {
    use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
    let ts = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    std::sync::Arc::new(Schema::new(vec![
        Field::new("return_id", DataType::Utf8, true),
        Field::new("valid_from", ts.clone(), true),
        Field::new("valid_to", ts.clone(), true),
        Field::new("received_at", ts.clone(), true),
        Field::new("dispositioned_at", ts, true),
        Field::new("warehouse_id", DataType::Utf8, true),
        Field::new("disposition", DataType::Utf8, true),
        Field::new("event_seq", DataType::Int64, true),
        Field::new("first_date", DataType::Date32, true),
    ]))
}

/// The exception state's file columns: one row per exception event, the state the
/// exception was in from that event (`valid_from`) until its next one (`valid_to`,
/// NULL for its current state), with the event's attributes and ingest sequence
/// number, when the exception opened and the date of its first event. The partition
/// column, `event_date`, is the first day of the month of `valid_to` (for a current
/// state the month of `valid_from` 7000 years on: 2026-11 → 9026-11-01), so a reader
/// as of a date skips every state that ended before that month.
pub fn exception_state_schema() -> datafusion::arrow::datatypes::SchemaRef {
    use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
    let ts = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    let mut fields = vec![
        Field::new("exception_id", DataType::Utf8, true),
        Field::new("opened_at", ts.clone(), true),
        Field::new("valid_from", ts.clone(), true),
        Field::new("valid_to", ts, true),
    ];
    if let Some(t) = crate::contract::table("exception_events") {
        fields.extend(
            t.fields
                .iter()
                .filter(|f| EXCEPTION_STATE_ATTRIBUTES.contains(&f.name))
                .map(|f| Field::new(f.name, f.ty.arrow(), true)),
        );
    }
    fields.extend([
        Field::new("event_seq", DataType::Int64, true),
        Field::new("first_date", DataType::Date32, true),
    ]);
    std::sync::Arc::new(Schema::new(fields))
}

/// The attributes of an exception's latest event its state keeps (the columns of the
/// `exception_state` view after `opened_at` and `latest_at`).
pub const EXCEPTION_STATE_ATTRIBUTES: [&str; 8] = [
    "status",
    "exception_type",
    "severity",
    "owner",
    "warehouse_id",
    "location_id",
    "sku",
    "supplier_id",
];

/// The order-line state's file columns (its partition column, `event_date`, is the
/// first day of the month of `first_date`). Every column is nullable: an order line
/// only shipments name has no version columns.
pub fn order_line_state_schema() -> datafusion::arrow::datatypes::SchemaRef {
    use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
    let ts = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    let mut fields = vec![
        Field::new("order_id", DataType::Utf8, true),
        Field::new("line_id", DataType::Utf8, true),
        Field::new("known_line", DataType::Boolean, true),
    ];
    if let Some(t) = crate::contract::table("order_lines") {
        fields.extend(
            t.fields
                .iter()
                .filter(|f| f.name != "order_id" && f.name != "line_id")
                .map(|f| Field::new(f.name, f.ty.arrow(), true)),
        );
    }
    fields.extend([
        Field::new("version_seq", DataType::Int64, true),
        Field::new("version_source_file", DataType::Utf8, true),
        Field::new("version_date", DataType::Date32, true),
        Field::new("units_shipped", DataType::Float64, true),
        Field::new("units_shipped_by_promise", DataType::Float64, true),
        Field::new("last_shipped_at", ts.clone(), true),
        Field::new("first_shipment_id", DataType::Utf8, true),
        Field::new("last_shipment_id", DataType::Utf8, true),
        Field::new("changed_at", ts, true),
        Field::new("first_date", DataType::Date32, true),
    ]);
    std::sync::Arc::new(Schema::new(fields))
}

/// A committed ingest as the readers of the log use it ([`Lake::log`]): what it
/// added, retired and read. The record's Delta commits of its tables (each new file
/// with its statistics: three quarters of a record's bytes) are skipped unparsed;
/// only finishing an interrupted ingest reads them, from the whole [`LogRecord`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoggedIngest {
    pub txn: u64,
    pub committed_at: String,
    /// Lake-relative paths of the files this ingest added.
    pub files: Vec<String>,
    pub sources: Vec<SourceRecord>,
    /// Lake-relative paths of files this ingest made obsolete.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub retired: Vec<String>,
}

/// One committed ingest: its [`LoggedIngest`] fields (at the top level of the
/// record's JSON, and readable through it as `record.files`) and its tables' Delta
/// commits.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LogRecord {
    #[serde(flatten)]
    pub ingest: LoggedIngest,
    /// Each table's (lake-relative folder's) new data files, for its Delta commit.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tables: BTreeMap<String, Vec<DataFile>>,
    /// Each table's data files this ingest takes out of it (derived state it
    /// rewrote); they stay on storage until a vacuum.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub removed: BTreeMap<String, Vec<RemovedFile>>,
}

impl std::ops::Deref for LogRecord {
    type Target = LoggedIngest;
    fn deref(&self) -> &LoggedIngest {
        &self.ingest
    }
}

/// A lake.
#[derive(Debug, Clone)]
pub struct Lake {
    loc: Location,
    store: store::Store,
    /// The log records read so far, by number (shared by clones; see [`Lake::log`]).
    parsed: Arc<Mutex<BTreeMap<u64, Arc<LoggedIngest>>>>,
}

impl Lake {
    /// The lake of a config's `lake` setting, for reading (nothing is created).
    pub fn open(config: &LakeConfig) -> Result<Lake> {
        let loc = Location::new(config)?;
        Ok(Lake {
            store: store::Store::new(&loc)?,
            loc,
            parsed: Arc::default(),
        })
    }

    /// A local lake at `root`, for reading.
    pub fn at(root: impl Into<PathBuf>) -> Lake {
        let loc = Location::local(root);
        Lake {
            store: store::Store::local(&loc),
            loc,
            parsed: Arc::default(),
        }
    }

    /// Open the lake for writing: create its folders and finish or undo any ingest a
    /// killed process left behind. Call with the lock held.
    pub fn open_for_write(config: &LakeConfig, _lock: &LakeLock) -> Result<Lake> {
        let lake = Lake::open(config)?;
        lake.check_layout()?;
        lake.store.prepare()?;
        lake.recover()?;
        Ok(lake)
    }

    /// Refuse a lake of the older plain-Parquet layout (its ingests hold table files
    /// but no Delta commits): it must be migrated first.
    pub fn check_layout(&self) -> Result<()> {
        // The first record tells: reading every record would cost a reader the whole
        // log (a year of nightly ingests: ~19 MiB of JSON).
        let Some(&n) = self.store.record_numbers()?.first() else {
            return Ok(());
        };
        let first: LogRecord = self.parse_record(n)?;
        let holds_tables = first.files.iter().any(|f| !f.starts_with("_opintel/"));
        if holds_tables && first.tables.is_empty() {
            return Err(Error::Input {
                path: self.display().into(),
                message: "this lake has the older plain-Parquet layout: convert it with \
                          `opintel lake migrate OLD NEW` (it writes a Delta lake at NEW)"
                    .into(),
            });
        }
        Ok(())
    }

    /// Log record `n` read and parsed as `T` (not kept).
    fn parse_record<T: serde::de::DeserializeOwned>(&self, n: u64) -> Result<T> {
        let bytes = self.store.record(n)?;
        serde_json::from_slice(&bytes).map_err(|e| Error::Lake {
            path: format!("_opintel/log/{n:08}.json").into(),
            message: format!("corrupt log record: {e}"),
        })
    }

    pub fn location(&self) -> &Location {
        &self.loc
    }

    /// The root as people write it.
    pub fn display(&self) -> String {
        self.loc.display()
    }

    /// The lake-relative folder of a canonical table's Delta table.
    pub fn table_rel(table: &str) -> String {
        table.to_string()
    }

    /// The lake-relative folder of a table's rejects.
    pub fn rejects_rel(table: &str) -> String {
        format!("_rejects/{table}")
    }

    /// Whether a lake exists here (a folder or prefix with the lake's records or tables).
    pub fn exists(&self) -> Result<bool> {
        self.store.exists()
    }

    /// The newest date any event or order-line partition holds (UTC), if any.
    pub fn latest_data_date(&self) -> Option<chrono::NaiveDate> {
        let tables: Vec<&str> = crate::contract::TABLES
            .iter()
            .filter(|t| t.kind != crate::contract::TableKind::Master)
            .map(|t| t.name)
            .collect();
        let rels = tables.into_iter().map(|t| (Lake::table_rel(t), None));
        crate::runtime::block_on(delta::snapshots(&self.loc, rels))
            .ok()?
            .into_values()
            .filter_map(|s| s.ok())
            .filter_map(|s| s.files.iter().filter_map(|f| f.date).max())
            .max()
    }

    /// Delete the files of the state tables ([`STATE_FOLDERS`]) that a commit removed
    /// and no version younger than `retain_hours` reads: the files each ingest's
    /// upkeep replaced (see [`delta::Sweep::Removed`]). The states are opintel's own,
    /// rewritten a few months at a time every night; without this, a year of nights
    /// leaves about six times the live state's size in old files (the history bench's
    /// 365-day lake: 3.5 GB of 4.1). The canonical tables keep their history for
    /// readers' time travel until `opintel lake vacuum`. Returns the files deleted;
    /// the first error, after every table was tried.
    pub fn vacuum_state(&self, retain_hours: f64) -> Result<usize> {
        let sweeps = STATE_FOLDERS
            .iter()
            .map(|rel| delta::vacuum(&self.loc, rel, retain_hours, delta::Sweep::Removed));
        let mut deleted = 0;
        for r in crate::runtime::block_on(futures::future::join_all(sweeps))? {
            deleted += r?.unwrap_or(0);
        }
        Ok(deleted)
    }

    /// A table's files at `version` (the latest when None); `rel` is a table folder.
    pub fn snapshot(&self, rel: &str, version: Option<u64>) -> Result<Snapshot> {
        crate::runtime::block_on(delta::snapshot(&self.loc, rel, version))?
    }

    /// The latest files of several table folders, loaded at once (see
    /// [`delta::snapshots`]): a table whose load failed is missing from the map.
    pub fn snapshots<'a>(
        &self,
        rels: impl IntoIterator<Item = &'a str>,
    ) -> HashMap<String, Snapshot> {
        let rels: Vec<(String, Option<u64>)> =
            rels.into_iter().map(|r| (r.to_string(), None)).collect();
        crate::runtime::block_on(delta::snapshots(&self.loc, rels))
            .map(|m| {
                m.into_iter()
                    .filter_map(|(rel, s)| s.ok().map(|s| (rel, s)))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Every committed ingest record, oldest first.
    ///
    /// A record never changes once written, so each is parsed once per process: the
    /// log is listed on every call and only records not seen before are read (a
    /// year of nightly records is ~19 MiB of JSON, of which ~4.5 MiB is parsed: see
    /// [`LoggedIngest`]; an ingest reads the log for its list of ingested files and
    /// again when it begins, [`Txn::log`]).
    pub fn log(&self) -> Result<Vec<Arc<LoggedIngest>>> {
        self.log_of(self.store.record_numbers()?)
    }

    /// The records `numbers` of a listing of the log, oldest first (see [`Lake::log`]).
    fn log_of(&self, numbers: Vec<u64>) -> Result<Vec<Arc<LoggedIngest>>> {
        self.parsed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|n, _| numbers.binary_search(n).is_ok());
        let mut records = numbers
            .into_iter()
            .map(|n| self.record(n))
            .collect::<Result<Vec<_>>>()?;
        records.sort_by_key(|r| r.txn);
        Ok(records)
    }

    /// Log record `n` as [`LoggedIngest`], parsed once per process (see [`Lake::log`]).
    fn record(&self, n: u64) -> Result<Arc<LoggedIngest>> {
        if let Some(rec) = self
            .parsed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&n)
        {
            return Ok(Arc::clone(rec));
        }
        let rec = Arc::new(self.parse_record::<LoggedIngest>(n)?);
        self.parsed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(n, Arc::clone(&rec));
        Ok(rec)
    }

    /// Source files already in the lake, by (content hash, table): the same bytes may
    /// feed two tables through two mappings, but each table only once.
    pub fn ingested_files(&self) -> Result<HashMap<(String, String), SourceRecord>> {
        Ok(self
            .log()?
            .iter()
            .flat_map(|r| r.sources.iter())
            .map(|s| ((s.hash.clone(), s.table.clone()), s.clone()))
            .collect())
    }

    /// Start an ingest.
    pub fn begin(&self) -> Result<Txn> {
        let listing = self.store.log_listing()?;
        let next = self.store.next_txn(&listing);
        Txn::new(self.clone(), next, self.log_of(listing.records)?)
    }

    /// Start ingest `n` (a migration replays another lake's numbers; `n` must be
    /// above every ingest this lake holds).
    pub fn begin_numbered(&self, n: u64) -> Result<Txn> {
        let listing = self.store.log_listing()?;
        let next = self.store.next_txn(&listing);
        if n < next {
            return Err(Error::Lake {
                path: "_opintel/log".into(),
                message: format!(
                    "ingest {n} is not after the lake's last ingest ({})",
                    next - 1
                ),
            });
        }
        Txn::new(self.clone(), n, self.log_of(listing.records)?)
    }

    /// Finish ingests a killed process committed but did not complete, and drop the
    /// staging of those it never committed.
    fn recover(&self) -> Result<()> {
        let store::LogListing {
            records: numbers,
            done,
        } = self.store.log_listing()?;
        for &n in numbers.iter().filter(|n| !done.contains(n)) {
            let rec: LogRecord = self.parse_record(n)?;
            tracing::warn!(
                txn = rec.txn,
                "finishing an ingest interrupted after its commit"
            );
            txn::roll_forward(self, &rec)?;
        }
        let committed: std::collections::BTreeSet<u64> = numbers.into_iter().collect();
        self.store.drop_stale_staging(&committed)
    }

    /// The identity files of `table` that the committed ingests `log` hold, as local
    /// paths (downloaded into `scratch` from an object store), with their lake paths.
    pub(crate) fn identity_files(
        &self,
        log: &[Arc<LoggedIngest>],
        table: &str,
        scratch: &Path,
    ) -> Result<Vec<(String, PathBuf)>> {
        let prefix = format!("_opintel/index/{table}/");
        let mut live: BTreeMap<String, ()> = BTreeMap::new();
        for rec in log {
            for f in rec.files.iter().filter(|f| f.starts_with(&prefix)) {
                live.insert(f.clone(), ());
            }
            for r in &rec.retired {
                live.remove(r);
            }
        }
        live.into_keys()
            .map(|rel| {
                let local = self.store.fetch(&rel, scratch)?;
                Ok((rel, local))
            })
            .collect()
    }

    pub(crate) fn store(&self) -> &store::Store {
        &self.store
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_record(root: &Path, txn: u64) {
        let rec = LogRecord {
            ingest: LoggedIngest {
                txn,
                committed_at: "2026-01-01T00:00:00Z".into(),
                files: vec![format!("_opintel/index/items/{txn:08}.ids")],
                sources: Vec::new(),
                retired: Vec::new(),
            },
            tables: BTreeMap::new(),
            removed: BTreeMap::new(),
        };
        let dir = root.join("_opintel").join("log");
        std::fs::create_dir_all(&dir).expect("log folder");
        let bytes = serde_json::to_vec(&rec).expect("json");
        std::fs::write(dir.join(format!("{txn:08}.json")), bytes).expect("record");
    }

    #[test]
    fn the_log_follows_records_written_and_removed_after_it_was_read() {
        let dir = tempfile::tempdir().expect("tempdir");
        let lake = Lake::at(dir.path());
        assert!(lake.log().expect("log").is_empty());
        write_record(dir.path(), 2);
        write_record(dir.path(), 1);
        let first = lake.log().expect("log");
        assert_eq!(first.iter().map(|r| r.txn).collect::<Vec<_>>(), [1, 2]);
        // A clone (as the ingest's workers hold) sees a record written since.
        write_record(dir.path(), 3);
        let second = lake.clone().log().expect("log");
        assert_eq!(second.iter().map(|r| r.txn).collect::<Vec<_>>(), [1, 2, 3]);
        assert_eq!(second[2].files, ["_opintel/index/items/00000003.ids"]);
        // Records read before are not parsed again.
        assert!(Arc::ptr_eq(&first[0], &second[0]) && Arc::ptr_eq(&first[1], &second[1]));
        std::fs::remove_file(dir.path().join("_opintel/log/00000002.json")).expect("remove");
        let third = lake.log().expect("log");
        assert_eq!(third.iter().map(|r| r.txn).collect::<Vec<_>>(), [1, 3]);
    }

    #[test]
    fn an_ingest_reads_the_log_once_when_it_begins() {
        let dir = tempfile::tempdir().expect("tempdir");
        write_record(dir.path(), 1);
        write_record(dir.path(), 2);
        // A done marker past the last record still takes its number.
        std::fs::write(dir.path().join("_opintel/log/00000004.done"), b"").expect("done");
        let lake = Lake::at(dir.path());
        let txn = lake.begin().expect("begin");
        assert_eq!(txn.id(), 5);
        let txns = |log: &[Arc<LoggedIngest>]| log.iter().map(|r| r.txn).collect::<Vec<_>>();
        assert_eq!(txns(txn.log()), [1, 2]);
        // Its identity files are those of the records it began with.
        write_record(dir.path(), 3);
        let ids = lake
            .identity_files(txn.log(), "items", dir.path())
            .expect("identity files");
        let rels: Vec<&str> = ids.iter().map(|(rel, _)| rel.as_str()).collect();
        assert_eq!(
            rels,
            [
                "_opintel/index/items/00000001.ids",
                "_opintel/index/items/00000002.ids"
            ]
        );
        assert_eq!(txns(&lake.log().expect("log")), [1, 2, 3]);
    }
}
