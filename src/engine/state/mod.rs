//! The kept state: what the KPIs about order lines, exceptions and returns need, kept per
//! entity by every ingest so a nightly run reads the night's changes, not the lake's
//! history, and every other table in a few files a month. Thirteen tables, one generic
//! upkeep ([`Kind`]): the order-line state (below), the exception and return states,
//! the master states and the month copies (at the end); and a fourteenth, the count
//! priority's pick months, with an upkeep of its own ([`picks`]). After them, in the
//! same transaction, the event tables' days that got rows are merged with their small
//! files ([`merge_days`]): not a state, but the same staged files, lake listings and
//! object-store registration as the upkeep.
//!
//! # What the order-line state holds
//!
//! `_state/order_lines_v2` is a Delta table with one row per order line ever named by an
//! `order_lines` version or a shipment (key `order_id`, `line_id`). A row is the line's
//! **final** state over everything in the lake: its winning version (latest
//! `updated_at`, ties to the later ingested row: the rule of `order_lines_current`),
//! with that version's `_ingest_seq`, source file and `event_date`; the units shipped
//! against it, those shipped by its promise, its last shipment and its smallest and
//! largest `shipment_id`; `known_line` (false when only shipments name it); and two
//! dates that make the final state usable for older as-of dates:
//!
//! - `changed_at`: the latest instant of anything of the line (its newest version's
//!   `updated_at`, its last `shipped_at`);
//! - `first_date`: the earliest `event_date` of any of its rows.
//!
//! The table is partitioned by the month of `first_date`, so an ingest rewrites the
//! months its lines began in, not the table; a line **open** in its final state
//! (known, demand left to ship) is in that month moved 7000 years on (2026-10 →
//! 9026-10-01), after every real month. The readers of the open lines alone
//! (`open_order_lines`: backorders, inventory position) read those partitions: about
//! 50 k of the 3.1 M lines on the history bench's 365-day lake. A line that ships in
//! full moves back to its month in the commit that adds the shipment. (The first
//! layout, `_state/order_lines`, kept open lines in their months; a lake that has only
//! it gets this table whole at its next ingest.)
//!
//! # Why it is exact for any as-of date
//!
//! As of date D (end(D) its last instant), a line's current version and shipments are
//! its rows with event times ≤ end(D). When `changed_at` ≤ end(D), that is all of its
//! rows, so its as-of-D row **is** its final row: the state row serves it unchanged.
//! So a settled line open at D is open in its final state: the open partitions hold
//! every settled line `open_order_lines` can return.
//! Only the lines with `changed_at` > end(D) (for the night's own run: those its
//! exports touch after midnight, a few thousand; for the previous window, the trend
//! weeks, the priority's fit and backtest, or a re-run of an old date after newer data
//! arrived: the lines active since D) are computed from the raw tables, restricted to
//! those lines and to the partitions from the smallest of their `first_date`s on
//! ([`bind_views`](super::bind_views); their rows are kept per binding when they are
//! few and several queries read the lines). Of those,
//! a line whose `first_date` is after D's last UTC date has no row by end(D): it does
//! not exist as of D and is left out (for a trend week three weeks back, most of the
//! lines changed since). A late
//! event moves its line's `changed_at` or `first_date` (and the partition it lives in)
//! in the same commit that adds the event, so the rule holds after any ingest order.
//!
//! # How an ingest keeps it
//!
//! [`maintain`] runs inside the ingest's lake transaction, after de-duplication, on
//! the rows that transaction adds (its staged `order_lines` and `shipments` files):
//!
//! 1. the touched lines are the keys of those rows;
//! 2. their old state rows give the partitions they live in and the smallest
//!    `first_date`: none of their rows in the lake is older. They are looked for only
//!    in the state files whose range of `order_id` (by the file's Delta statistics)
//!    holds a touched id, and in any file without such statistics: order ids are
//!    given out in time order by most systems, so a night's lines are in a file or
//!    two of the month they began in, not in every month of the year (the same for
//!    the exception and return states by their ids);
//! 3. their new state is computed from their rows in the lake from that date on plus
//!    the staged rows;
//! 4. each affected month is rewritten (its untouched lines plus the touched lines now
//!    in it); the old files of those months are removed from the table in the same
//!    commit (they stay on storage for older versions, until an ingest six days later
//!    deletes them: `Lake::vacuum_state`).
//!
//! A whole build (a lake's first ingest, a rebuild) computes the lines of one group
//! of order ids at a time, about 3 M rows of versions and shipments per group, so its
//! memory stays bounded whatever the lake holds.
//!
//! A lake without the table (built before it existed) gets it whole at its next ingest;
//! `opintel lake rebuild-state` recomputes it from the event tables at any time.
//! Readers fall back to the raw tables when the table does not exist.
//!
//! # The exception state: states valid from, valid to
//!
//! `_state/exceptions` holds one row per exception **event**: the state the exception
//! was in from that event (`valid_from`, the event's time) until its next event in
//! (`event_at`, `_ingest_seq`) order (`valid_to`; NULL for the current state), with the
//! event's attributes and sequence number, the exception's `opened_at` (its first
//! event) and `first_date`. As of any date D the `exception_state` view is exactly the
//! rows with `valid_from` ≤ end(D) < `valid_to`: the latest event at or before end(D),
//! ties to the later ingested row (two events at one instant give the earlier a state
//! valid for no instant), with the first event's time. No exception is ever recomputed
//! from raw events at read time, whatever D is.
//!
//! The table is partitioned by the month of `valid_to`, so a reader as of D skips every
//! state that ended before D's month: the night's run reads the current states and
//! this month's, not a year of events. Current states are partitioned by the month of
//! their `valid_from`, moved 7000 years on (a current state since 2026-11-03 is in
//! 9026-11-01): after every real month, so readers take them all, and apart by month,
//! so an ingest does not rewrite every exception's current state.
//!
//! An ingest recomputes the exceptions its staged events name, from their old state
//! rows (one per event already in the lake: together they are its events) plus the
//! staged events, and rewrites the months those rows lived in and now live in (this
//! month's, and those of the touched exceptions' earlier events). A whole build reads
//! `exception_events`. A lake whose current states are still in one 9999-12-01
//! partition (written before this layout) is read the same way: that partition is
//! after every month too, and it empties as its exceptions move.
//!
//! `_state/returns` is built the same way for returns: per event, the return's first
//! "received" time and its latest "dispositioned" event (time, warehouse, disposition)
//! up to that event, valid until its next event; `return_state` as of D is the rows
//! valid at end(D). Its rows keep running values, not each event's own, so an update
//! reads the touched returns' events from the lake (from their first date on: a
//! return's events span days, not the lake's history).
//!
//! # The master states
//!
//! `_state/items`, `_state/locations` and `_state/suppliers` hold every row of their
//! master table as it is (its `event_date` kept as `version_date`), partitioned by the
//! month of `version_date`. The table itself has a partition, and so at least one
//! small file, for every day a version was written, and every session reads it whole
//! into memory (see `load_master` in the engine): from the state, a year of daily
//! files is a dozen monthly ones. An ingest adds its staged rows to their months
//! (ingest only ever adds rows to a table); a whole build copies the table.
//!
//! # The month copies
//!
//! `_state/shipments`, `_state/receipts`, `_state/cycle_counts`, `_state/adjustments`,
//! `_state/exception_events`, `_state/return_events` and `_state/inventory_snapshots`
//! hold every row of their table's **old months** as it is, its `event_date` kept as
//! `version_date`, partitioned by month. A month is old once the table holds data
//! [`COPY_AFTER_DAYS`] days past its last day ([`copied_month`]). Sessions read the
//! table as the copy's months plus the table's own files of every other month (see
//! `copy_split` in the engine): a query over a year reads a dozen monthly files and
//! a month or two of daily ones instead of 365 daily ones. Measured on the history
//! bench's 365-day lake (scale 1): `count_priority` took 1.27 s over the daily files
//! and 0.43 s over monthly ones. Most of a small file's cost is fixed: opening it,
//! its footer, and a zstd context per column chunk.
//!
//! Young months are not copied: a first load or a night does not write its rows
//! twice (copying every month cost 19 s of a 16× first load of 35 days, 100 → 119
//! s). An ingest whose table now holds an old month the copy lacks writes that month
//! whole from the table, once. Late rows for a month already copied are appended:
//! one new file a month, merged with the month's smallest files while each is no
//! larger than what is merged so far ([`to_merge`]), so a month of equal late nights
//! holds one file per bit of their count and a row is rewritten once per doubling.
//! A copy's month must hold exactly its table's rows of that month (by the Delta
//! logs' counts); one that does not (another tool wrote to the table) is read from
//! the table, and the next ingest of that table writes it again.

//! # When a state is not read
//!
//! The exception, return and master states hold exactly one row per row of their
//! source table ([`Kind::one_per_row`]); a month copy, per month of it. A write to
//! the source that did not keep the state (another tool appending to the Delta
//! table, an older opintel) leaves the counts in the two Delta logs apart: a session
//! then reads the source instead (see `kept_files` and `copy_split` in the engine)
//! and the next ingest builds the state (or the month) again. The order-line state
//! has no such count: one row per line, of two sources.

mod bucket;
mod days;
mod events;
mod lines;
pub mod picks;

pub use days::{DayMerge, merge_days};
pub use events::{
    EXCEPTION_STATE_TABLE, RETURN_STATE_TABLE, exception_state_sql, return_state_sql,
};
pub use lines::{
    STATE_TABLE, UNSETTLED_CURRENT, UNSETTLED_SHIPMENTS, Unsettled, bind_unsettled, current_sql,
    fulfilment_sql, open_lines_sql, unsettled_current_sql, unsettled_shipments_sql,
};

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use chrono::NaiveDate;
use datafusion::arrow::array::{Array, AsArray, BooleanArray, RecordBatch};
use datafusion::arrow::compute::filter_record_batch;
use datafusion::arrow::datatypes::{Date32Type, SchemaRef};
use datafusion::datasource::MemTable;
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::prelude::SessionContext;
use futures::StreamExt;

use super::lake_table::{LakeFile, LakeTable};
use crate::contract::PARTITION_COLUMN;
use crate::error::{Error, Result, io_at};
use crate::lake::{
    EXCEPTION_STATE, ITEM_STATE, LOCATION_STATE, Lake, MONTH_COPIES, ORDER_LINE_STATE,
    RETURN_STATE, RemovedFile, SUPPLIER_STATE, Snapshot, Txn,
};
use events::{exception_events_from_state, exception_sql, master_sql, return_sql};
use lines::order_line_sql;

/// One kind of kept state: a Delta table derived from some lake tables and kept by
/// every ingest, of one row per entity (an order line) or per source row (an
/// exception's or a return's event, a master version).
#[derive(Debug)]
pub struct Kind {
    /// The lake folder.
    pub rel: &'static str,
    /// The name a session registers it under.
    pub table: &'static str,
    /// What one row is, for messages ("lines").
    pub unit: &'static str,
    /// The event tables it derives from, each with the relation name [`Kind::sql`]
    /// reads it as.
    sources: &'static [(&'static str, &'static str)],
    /// The entity's key columns (in every source).
    key: &'static [&'static str],
    /// The state rows (file columns, then `event_date`, the partition) of every
    /// entity in the source relations.
    sql: fn(&Kind) -> String,
    /// When the state holds every source row of its entities (a kind of one source):
    /// that source relation for an ingest's update, as SQL over the `old_state` rows
    /// of the `touched` entities plus the staged rows, instead of the lake's events.
    from_state: Option<fn() -> String>,
    /// Each source row is one state row, in a month of its own (a master state, a
    /// month copy): an ingest adds the staged rows to their months, whatever else
    /// the entity has (see [`to_merge`]).
    append: bool,
    /// The state holds exactly one row per row of its one source, so a state whose
    /// row count differs from its source's was not kept by the last write to the
    /// source (another tool, an older opintel): readers then read the source, and the
    /// next ingest rebuilds the state.
    pub one_per_row: bool,
    /// A month copy: it holds the source's old months only ([`copied_month`]), each
    /// exactly, and readers check each month's row count (see `copy_split` in the
    /// engine).
    pub old_months_only: bool,
}

impl Kind {
    /// The state file's columns (its partition column, `event_date`, apart).
    pub fn schema(&self) -> SchemaRef {
        crate::lake::state_schema(self.rel)
            .unwrap_or_else(|| Arc::new(datafusion::arrow::datatypes::Schema::empty()))
    }

    /// The source table of a state of one source.
    pub fn source(&self) -> &'static str {
        self.sources.first().map_or("", |(t, _)| *t)
    }
}

/// The order-line state (module doc).
pub const ORDER_LINES: Kind = Kind {
    rel: ORDER_LINE_STATE,
    table: STATE_TABLE,
    unit: "lines",
    sources: &[("order_lines", "versions"), ("shipments", "ships")],
    key: &["order_id", "line_id"],
    sql: order_line_sql,
    from_state: None,
    append: false,
    one_per_row: false,
    old_months_only: false,
};

/// The exception state: every state each exception was in, valid from one of its
/// events until its next (see `exception_state_schema`).
pub const EXCEPTIONS: Kind = Kind {
    rel: EXCEPTION_STATE,
    table: EXCEPTION_STATE_TABLE,
    unit: "exception states",
    sources: &[("exception_events", "events")],
    key: &["exception_id"],
    sql: exception_sql,
    from_state: Some(exception_events_from_state),
    append: false,
    one_per_row: true,
    old_months_only: false,
};

/// The return state: every state each return was in, valid from one of its events
/// until its next (see `return_state_schema`).
pub const RETURNS: Kind = Kind {
    rel: RETURN_STATE,
    table: RETURN_STATE_TABLE,
    unit: "return states",
    sources: &[("return_events", "events")],
    key: &["return_id"],
    sql: return_sql,
    // The state keeps running values, not each event's own stage and disposition:
    // an update reads the touched returns' events (their lifecycles are short).
    from_state: None,
    append: false,
    one_per_row: true,
    old_months_only: false,
};

/// The item master's versions (see "The master states" in the module doc).
pub const ITEMS: Kind = copy_kind(
    ITEM_STATE,
    "items_state_kept",
    "item versions",
    &[("items", "versions")],
    &["sku"],
    false,
);

/// The location master's versions.
pub const LOCATIONS: Kind = copy_kind(
    LOCATION_STATE,
    "locations_state_kept",
    "location versions",
    &[("locations", "versions")],
    &["location_id"],
    false,
);

/// The supplier master's versions.
pub const SUPPLIERS: Kind = copy_kind(
    SUPPLIER_STATE,
    "suppliers_state_kept",
    "supplier versions",
    &[("suppliers", "versions")],
    &["supplier_id"],
    false,
);

/// The month copies of the event and snapshot tables (see "The month copies" in the
/// module doc), in the order of [`crate::lake::MONTH_COPIES`].
pub const COPIES: [Kind; 7] = [
    copy_kind(
        MONTH_COPIES[0],
        "shipments_state_kept",
        "shipment rows",
        &[("shipments", "versions")],
        &["event_id"],
        true,
    ),
    copy_kind(
        MONTH_COPIES[1],
        "receipts_state_kept",
        "receipt rows",
        &[("receipts", "versions")],
        &["event_id"],
        true,
    ),
    copy_kind(
        MONTH_COPIES[2],
        "cycle_counts_state_kept",
        "count rows",
        &[("cycle_counts", "versions")],
        &["event_id"],
        true,
    ),
    copy_kind(
        MONTH_COPIES[3],
        "adjustments_state_kept",
        "adjustment rows",
        &[("adjustments", "versions")],
        &["event_id"],
        true,
    ),
    copy_kind(
        MONTH_COPIES[4],
        "exception_events_state_kept",
        "exception event rows",
        &[("exception_events", "versions")],
        &["event_id"],
        true,
    ),
    copy_kind(
        MONTH_COPIES[5],
        "return_events_state_kept",
        "return event rows",
        &[("return_events", "versions")],
        &["event_id"],
        true,
    ),
    copy_kind(
        MONTH_COPIES[6],
        "inventory_snapshots_state_kept",
        "snapshot rows",
        &[("inventory_snapshots", "versions")],
        &["warehouse_id"],
        true,
    ),
];

/// A state holding every row of its one source table as it is, by month (the source
/// is read as `versions`): a master state, or with `old_months_only` a month copy,
/// which is checked per month instead of by its whole row count.
const fn copy_kind(
    rel: &'static str,
    table: &'static str,
    unit: &'static str,
    sources: &'static [(&'static str, &'static str)],
    key: &'static [&'static str],
    old_months_only: bool,
) -> Kind {
    Kind {
        rel,
        table,
        unit,
        sources,
        key,
        sql: master_sql,
        from_state: None,
        append: true,
        one_per_row: !old_months_only,
        old_months_only,
    }
}

/// Every kind of state, in the order an ingest keeps them.
pub const KINDS: [&Kind; 13] = [
    &ORDER_LINES,
    &EXCEPTIONS,
    &RETURNS,
    &ITEMS,
    &LOCATIONS,
    &SUPPLIERS,
    &COPIES[0],
    &COPIES[1],
    &COPIES[2],
    &COPIES[3],
    &COPIES[4],
    &COPIES[5],
    &COPIES[6],
];

/// The state that holds every row of `table` as it is (its master state or month
/// copy), if it has one.
pub fn copy_of(table: &str) -> Option<&'static Kind> {
    KINDS.into_iter().find(|k| k.append && k.source() == table)
}

/// Rows of `files` by their Delta statistics; None when a file has none.
pub fn rows_of(files: &[LakeFile]) -> Option<u64> {
    files.iter().map(|f| f.rows.map(|r| r as u64)).sum()
}

/// What an ingest did to one state table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StateChange {
    /// The state was computed whole (it did not exist, or a rebuild).
    pub rebuilt: bool,
    /// Entities the transaction touched (all of them for a rebuild).
    pub lines: u64,
    /// Month partitions written.
    pub partitions: usize,
    /// Rows written (touched entities and the untouched ones of their months).
    pub rows_written: u64,
    /// How long it took.
    pub took: std::time::Duration,
}

/// Keep every state table in step with the rows `txn` adds (see the module doc).
/// Returns what changed, per kind; a kind whose sources the transaction does not
/// touch (and which exists) is left alone.
pub fn maintain(
    lake: &Lake,
    txn: &Txn,
    half_life: f64,
) -> Result<Vec<(&'static Kind, StateChange)>> {
    let snaps = &Snaps::load(lake);
    let mut jobs: Vec<Job> = KINDS
        .into_iter()
        .map(|kind| -> Job {
            Box::new(move || {
                let started = std::time::Instant::now();
                Ok(maintain_one(snaps, txn, kind)?.map(|change| {
                    let took = started.elapsed();
                    (kind, StateChange { took, ..change })
                }))
            })
        })
        .collect();
    jobs.push(Box::new(move || {
        Ok(picks::maintain(snaps, txn, half_life, false)?.map(|c| (&picks::PICKS, c)))
    }));
    side_by_side(&jobs)
}

/// What the upkeep of one state changed, if anything.
type Done = Result<Option<(&'static Kind, StateChange)>>;

/// The upkeep of one state.
type Job<'a> = Box<dyn Fn() -> Done + Send + Sync + 'a>;

/// Run `jobs` on two threads ([`crate::runtime::on_threads`]) and return what they
/// changed, in the jobs' order.
///
/// The order-line state comes first and takes most of the time; the other states
/// run beside it. Each state's queries keep both cores busy only part of the time
/// (one partition finishing before the other, a file being written, a Delta log
/// read), so a second state fills the gaps. Every job stages its own files in the
/// transaction and reads only the event tables and its own state, so the order in
/// which they run does not change what they write.
fn side_by_side(jobs: &[Job]) -> Result<Vec<(&'static Kind, StateChange)>> {
    let changed = crate::runtime::on_threads(2, jobs.iter().collect(), |job| job())?;
    Ok(changed.into_iter().flatten().collect())
}

/// The committed snapshots of every state and source folder, loaded at once before
/// an upkeep or a rebuild (about thirty Delta logs, each replayed once instead of once
/// per state that reads it). The lake does not move under a transaction: its lock is
/// held, and the transaction's own rows are staged, not committed.
struct Snaps<'a> {
    lake: &'a Lake,
    loaded: HashMap<String, Snapshot>,
}

impl<'a> Snaps<'a> {
    fn load(lake: &'a Lake) -> Self {
        let mut rels: Vec<&str> = KINDS
            .iter()
            .copied()
            .chain(std::iter::once(&picks::PICKS))
            .flat_map(|k| std::iter::once(k.rel).chain(k.sources.iter().map(|(t, _)| *t)))
            .collect();
        rels.sort_unstable();
        rels.dedup();
        Snaps {
            lake,
            loaded: lake.snapshots(rels),
        }
    }

    /// The snapshot of `rel` (loaded again when the load ahead failed, to report why).
    fn get(&self, rel: &str) -> Result<Snapshot> {
        match self.loaded.get(rel) {
            Some(s) => Ok(s.clone()),
            None => self.lake.snapshot(rel, None),
        }
    }
}

fn maintain_one(snaps: &Snaps, txn: &Txn, kind: &'static Kind) -> Result<Option<StateChange>> {
    let lake = snaps.lake;
    if kind.old_months_only {
        return maintain_copy(snaps, txn, kind);
    }
    let state = snaps.get(kind.rel)?;
    let missing = state.version.is_none();
    let mut staged_any = false;
    let mut lake_any = false;
    let mut sources = Sources::default();
    for (table, view) in kind.sources {
        let staged = txn.staged_under(table);
        staged_any |= !staged.is_empty();
        let snap = snaps.get(table)?;
        lake_any |= !snap.files.is_empty();
        sources
            .lake
            .push((view, super::lake_files(lake, table, &snap)?));
        sources.new.push((view, staged_files(txn, &staged)?));
    }
    sources.state = super::lake_files(lake, kind.rel, &state)?;
    let merge: Vec<usize> = if kind.append {
        to_merge(&sources.new, &sources.state)
    } else {
        Vec::new()
    };
    sources.merge = merge.iter().map(|&i| sources.state[i].clone()).collect();
    // A state of one row per source row that holds another number of rows missed a
    // write to its source: it is built again, whole.
    let stale = !missing
        && kind.one_per_row
        && rows_of(&sources.state) != sources.lake.first().and_then(|(_, f)| rows_of(f));
    if !staged_any && !stale && (!missing || !lake_any) {
        return Ok(None);
    }
    if stale {
        tracing::warn!(
            state = kind.rel,
            source = kind.source(),
            "the state does not match its source table (written by another tool or an \
             older opintel?): building it again"
        );
        for f in &state.files {
            txn.remove_from_table(kind.rel, removed(f));
        }
    }
    if missing || stale {
        return build_whole(lake, txn, kind, sources).map(Some);
    }
    let engine = super::Engine::new(&super::EngineOptions::default())?;
    let ctx = engine.ctx().clone();
    let change = engine.block_on(async move {
        register(&ctx, lake, kind, sources).await?;
        if kind.append {
            let merged: Vec<&crate::lake::SnapshotFile> =
                merge.iter().map(|&i| &state.files[i]).collect();
            append(&ctx, txn, kind, &merged).await
        } else {
            update(&ctx, txn, kind, &state).await
        }
    })?;
    Ok(Some(change))
}

/// A source table holds data this many days past a month's last day: the month is
/// old enough to copy ([`copied_month`]).
pub const COPY_AFTER_DAYS: i32 = 31;

/// Whether month `m` (its first day, days since the epoch) of a table whose latest
/// partition is `latest` belongs in its month copy: the table holds data
/// [`COPY_AFTER_DAYS`] days past the month's last day. Younger months are read from
/// the table's daily files (a month or two of them), so a first load or a night does
/// not write its rows twice; the copy is made once, a month later.
pub fn copied_month(m: i32, latest: i32) -> bool {
    next_month(m) - 1 + COPY_AFTER_DAYS <= latest
}

/// Keep a month copy in step with the rows `txn` adds (see "The month copies" in the
/// module doc): per old month, nothing when the copy holds its rows; the staged rows
/// appended (and merged, [`to_merge`]) when it held the month's rows before this
/// transaction; else the month written whole from the table.
fn maintain_copy(snaps: &Snaps, txn: &Txn, kind: &'static Kind) -> Result<Option<StateChange>> {
    let lake = snaps.lake;
    let table = kind.source();
    let view = kind.sources.first().map_or("versions", |(_, v)| *v);
    let state = snaps.get(kind.rel)?;
    let staged = staged_files(txn, &txn.staged_under(table))?;
    if staged.is_empty() && state.version.is_some() {
        return Ok(None);
    }
    let raw = super::lake_files(lake, table, &snaps.get(table)?)?;
    let copy = super::lake_files(lake, kind.rel, &state)?;
    let Some(latest) = raw.iter().chain(&staged).filter_map(|f| f.date).max() else {
        return Ok(None);
    };
    let (raw_rows, staged_rows, copy_rows) = (
        rows_by_month(&raw),
        rows_by_month(&staged),
        rows_by_month(&copy),
    );
    let months: BTreeSet<i32> = raw_rows.keys().chain(staged_rows.keys()).copied().collect();
    let mut whole: BTreeSet<i32> = BTreeSet::new();
    let mut appended: BTreeSet<i32> = BTreeSet::new();
    for m in months.into_iter().filter(|&m| copied_month(m, latest)) {
        let (r, n, c) = (
            raw_rows.get(&m).copied().unwrap_or(Some(0)),
            staged_rows.get(&m).copied().flatten().unwrap_or(0),
            copy_rows.get(&m).copied().flatten(),
        );
        // A month with a table file of unknown rows (another writer left no
        // statistics) could not be checked by a reader: it is not copied.
        if r.is_none() || (c.is_some() && c == r.map(|r| r + n)) {
            continue;
        }
        if n > 0 && c.is_some() && c == r {
            appended.insert(m);
        } else {
            whole.insert(m);
        }
    }
    if whole.is_empty() && appended.is_empty() {
        return Ok(None);
    }
    let in_months = |files: &[LakeFile], set: &BTreeSet<i32>| -> Vec<LakeFile> {
        files
            .iter()
            .filter(|f| f.date.is_some_and(|d| set.contains(&month_of(d))))
            .cloned()
            .collect()
    };
    let both: BTreeSet<i32> = whole.union(&appended).copied().collect();
    let new_files = in_months(&staged, &both);
    let merge: Vec<usize> = to_merge(&[(view, new_files.clone())], &copy)
        .into_iter()
        .filter(|&i| copy[i].date.is_some_and(|d| appended.contains(&d)))
        .collect();
    let sources = Sources {
        lake: vec![(view, in_months(&raw, &whole))],
        new: vec![(view, new_files)],
        state: Vec::new(),
        merge: merge.iter().map(|&i| copy[i].clone()).collect(),
    };
    let rows = sources.rows();
    let mut retired: Vec<&crate::lake::SnapshotFile> =
        merge.iter().map(|&i| &state.files[i]).collect();
    retired.extend(
        state
            .files
            .iter()
            .filter(|f| f.date.is_some_and(|d| whole.contains(&super::days(d)))),
    );
    let engine = super::Engine::new(&super::EngineOptions::default())?;
    let ctx = engine.ctx().clone();
    let mut change = engine.block_on(async move {
        register(&ctx, lake, kind, sources).await?;
        register_inputs(&ctx, kind, "", "TRUE", "TRUE").await?;
        write_merged(&ctx, txn, kind, rows > SETTLED_ROWS).await
    })?;
    for f in retired {
        txn.remove_from_table(kind.rel, removed(f));
    }
    change.rebuilt = !whole.is_empty();
    Ok(Some(change))
}

/// Rows of `files` per month (first day, days since the epoch); None for a month
/// with a file of unknown rows.
pub fn rows_by_month(files: &[LakeFile]) -> BTreeMap<i32, Option<u64>> {
    let mut out: BTreeMap<i32, Option<u64>> = BTreeMap::new();
    for f in files {
        if let Some(d) = f.date {
            let e = out.entry(month_of(d)).or_insert(Some(0));
            *e = e.zip(f.rows).map(|(a, b)| a + b as u64);
        }
    }
    out
}

/// Write relation `merged` (old state files) and the state rows of the source
/// relations (`kind.sql`) to their months.
async fn write_merged(
    ctx: &SessionContext,
    txn: &Txn,
    kind: &'static Kind,
    parallel: bool,
) -> Result<StateChange> {
    let columns = column_list(kind);
    let df = plan(
        ctx,
        &format!(
            "SELECT {columns}, {PARTITION_COLUMN} FROM merged
             UNION ALL
             SELECT {columns}, {PARTITION_COLUMN} FROM ({sql}) fresh",
            sql = (kind.sql)(kind)
        ),
    )
    .await?;
    let (partitions, rows) = write_months(vec![df], txn, kind, parallel).await?;
    Ok(StateChange {
        rebuilt: false,
        lines: rows,
        partitions,
        rows_written: rows,
        ..StateChange::default()
    })
}

/// The staged files `rels` of a transaction, as DataFusion reads them.
fn staged_files(txn: &Txn, rels: &[String]) -> Result<Vec<LakeFile>> {
    rels.iter()
        .map(|rel| {
            let path = txn.stage_path(rel);
            let size = std::fs::metadata(&path).map_err(io_at(&path))?.len();
            let abs = std::path::absolute(&path).map_err(io_at(&path))?;
            let object = object_store::path::Path::from_absolute_path(&abs)
                .map_err(|e| Error::input(&abs, e.to_string()))?;
            let rows = {
                use datafusion::parquet::file::reader::{FileReader, SerializedFileReader};
                let f = std::fs::File::open(&path).map_err(io_at(&path))?;
                SerializedFileReader::new(f)?
                    .metadata()
                    .file_metadata()
                    .num_rows() as usize
            };
            Ok(LakeFile {
                path: object.to_string(),
                size,
                date: date_of(rel).map(super::days),
                rows: Some(rows),
            })
        })
        .collect()
}

/// Recompute every state table from the event tables in `txn` (`opintel lake
/// rebuild-state`): every current state file is removed, every month written anew.
pub fn rebuild(
    lake: &Lake,
    txn: &Txn,
    half_life: f64,
) -> Result<Vec<(&'static Kind, StateChange)>> {
    let snaps = &Snaps::load(lake);
    let mut jobs: Vec<Job> = KINDS
        .into_iter()
        .map(|kind| -> Job { Box::new(move || rebuild_one(snaps, txn, kind).map(Some)) })
        .collect();
    jobs.push(Box::new(move || {
        Ok(picks::maintain(snaps, txn, half_life, true)?.map(|c| (&picks::PICKS, c)))
    }));
    side_by_side(&jobs)
}

/// Recompute the state of `kind` (see [`rebuild`]).
fn rebuild_one(
    snaps: &Snaps,
    txn: &Txn,
    kind: &'static Kind,
) -> Result<(&'static Kind, StateChange)> {
    let lake = snaps.lake;
    let started = std::time::Instant::now();
    let state = snaps.get(kind.rel)?;
    let mut sources = Sources::default();
    for (table, view) in kind.sources {
        let snap = snaps.get(table)?;
        let mut files = super::lake_files(lake, table, &snap)?;
        if kind.old_months_only {
            let latest = files
                .iter()
                .filter_map(|f| f.date)
                .max()
                .unwrap_or(i32::MIN);
            // Old months whose rows the Delta log counts (see `maintain_copy`).
            let counted = rows_by_month(&files);
            files.retain(|f| {
                f.date.is_some_and(|d| {
                    let m = month_of(d);
                    copied_month(m, latest) && counted.get(&m).is_some_and(Option::is_some)
                })
            });
        }
        sources.lake.push((view, files));
        sources.new.push((view, Vec::new()));
    }
    for f in &state.files {
        txn.remove_from_table(kind.rel, removed(f));
    }
    let change = build_whole(lake, txn, kind, sources)?;
    let took = started.elapsed();
    Ok((kind, StateChange { took, ..change }))
}

/// The whole state of `kind` computed from `sources` and staged in `txn` (a state
/// that does not exist yet or no longer matches its source, a rebuild).
fn build_whole(
    lake: &Lake,
    txn: &Txn,
    kind: &'static Kind,
    sources: Sources,
) -> Result<StateChange> {
    let rows = sources.rows();
    let engine = super::Engine::new(&super::EngineOptions::default())?;
    let ctx = engine.ctx().clone();
    engine.block_on(async move {
        register(&ctx, lake, kind, sources).await?;
        write_all(&ctx, txn, kind, rows).await
    })
}

#[derive(Default)]
struct Sources {
    /// Per source relation: the lake's files.
    lake: Vec<(&'static str, Vec<LakeFile>)>,
    /// Per source relation: this transaction's staged files.
    new: Vec<(&'static str, Vec<LakeFile>)>,
    /// The state's current files.
    state: Vec<LakeFile>,
    /// Of those, the files an append merges with its rows (see [`to_merge`]).
    merge: Vec<LakeFile>,
}

impl Sources {
    /// Source rows to read (a file without a row count counts one row per 32 bytes).
    fn rows(&self) -> u64 {
        self.lake
            .iter()
            .chain(&self.new)
            .flat_map(|(_, files)| files.iter())
            .map(|f| f.rows.map_or(f.size / 32, |r| r as u64))
            .sum()
    }
}

/// `lake_<relation>` (the lake's rows of each source), `new_<relation>` (this
/// transaction's staged files, on the local disk) and `old_state` (the lake's).
async fn register(ctx: &SessionContext, lake: &Lake, kind: &Kind, s: Sources) -> Result<()> {
    let lake_url = lake_store_url(ctx, lake)?;
    let local = ObjectStoreUrl::local_filesystem();
    let schema_of = |view: &str| -> Result<SchemaRef> {
        let table = kind
            .sources
            .iter()
            .find(|(_, v)| *v == view)
            .map(|(t, _)| *t)
            .unwrap_or(view);
        crate::contract::table(table)
            .map(|t| t.lake_schema())
            .ok_or_else(|| Error::Lake {
                path: table.into(),
                message: "not a table of the contract".into(),
            })
    };
    let mut tables: Vec<(String, SchemaRef, &ObjectStoreUrl, Vec<LakeFile>)> = vec![
        ("old_state".into(), kind.schema(), &lake_url, s.state),
        ("merged".into(), kind.schema(), &lake_url, s.merge),
    ];
    for (view, files) in s.lake {
        tables.push((format!("lake_{view}"), schema_of(view)?, &lake_url, files));
    }
    for (view, files) in s.new {
        tables.push((format!("new_{view}"), schema_of(view)?, &local, files));
    }
    for (name, schema, url, files) in tables {
        ctx.register_table(name, Arc::new(LakeTable::new(schema, url.clone(), files)))?;
    }
    Ok(())
}

/// The URL of the lake's object store, registered with `ctx` when not local and not
/// registered yet (an update asks twice: for its sources and for the touched state).
fn lake_store_url(ctx: &SessionContext, lake: &Lake) -> Result<ObjectStoreUrl> {
    let loc = lake.location();
    let store_url = loc.store_url();
    let url = ObjectStoreUrl::parse(format!(
        "{}://{}",
        store_url.scheme(),
        store_url.host_str().unwrap_or("")
    ))?;
    if !loc.is_local() && ctx.runtime_env().object_store(&url).is_err() {
        ctx.register_object_store(&store_url, loc.store()?);
    }
    Ok(url)
}

/// The state of every entity in the lake plus the staged rows.
async fn write_all(
    ctx: &SessionContext,
    txn: &Txn,
    kind: &'static Kind,
    rows: u64,
) -> Result<StateChange> {
    // An entity's rows all share its first key column: computing the entities of one
    // group of its values at a time is exact, and bounds memory by the group, not the
    // lake (all at once took 10 GiB for 14 M order lines). Each pass reads the tables
    // again, so the passes are as large as a quarter of the engine's memory allows.
    let per_pass = std::env::var("OPINTEL_STATE_PASS_ROWS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|&n| n > 0)
        .unwrap_or_else(|| pass_rows(super::EngineOptions::default().memory_limit));
    // A copy's rows are independent of each other: it streams in one pass.
    let passes = if kind.append {
        1
    } else {
        rows.div_ceil(per_pass).clamp(1, 64)
    };
    if passes > 1 {
        ctx.register_udf(bucket::udf());
    }
    // One pass planned and run at a time: a pass whose SQL keeps CTEs in memory
    // (`-- materialize:`) holds only its own.
    let mut files = MonthFiles::new(txn, kind, true);
    for pass in 0..passes {
        let only = if passes == 1 {
            "TRUE".to_string()
        } else {
            bucket::pass_filter(kind.key[0], passes, pass)
        };
        register_inputs(ctx, kind, "", &only, &only).await?;
        files.write(plan(ctx, &(kind.sql)(kind)).await?).await?;
    }
    let (partitions, rows) = files.finish()?;
    Ok(StateChange {
        rebuilt: true,
        lines: rows,
        partitions,
        rows_written: rows,
        ..StateChange::default()
    })
}

/// Source rows one pass of a whole build reads, given the engine's memory limit
/// (bytes): a quarter of it at 350 bytes per row, at least 3 M rows (environment
/// `OPINTEL_STATE_PASS_ROWS` overrides it: fewer rows, less memory, more passes over
/// the tables). Measured at 16× (29 M rows of order-line versions and shipments): 3 M
/// rows a pass took 68.6 s at 1.3 GiB peak, 10 M rows 44.9 s at 3.5 GiB.
fn pass_rows(memory_limit: usize) -> u64 {
    ((memory_limit / 4 / 350) as u64).max(3_000_000)
}

/// `a.k1 = b.k1 AND a.k2 = b.k2 …` over `kind`'s key.
fn key_join(kind: &Kind, a: &str, b: &str) -> String {
    kind.key
        .iter()
        .map(|c| format!("{a}.{c} = {b}.{c}"))
        .collect::<Vec<_>>()
        .join(" AND ")
}

/// The state of the entities the staged rows touch, and the months they live in.
async fn update(
    ctx: &SessionContext,
    txn: &Txn,
    kind: &'static Kind,
    state: &Snapshot,
) -> Result<StateChange> {
    let key = kind.key.join(", ");
    let started = std::time::Instant::now();
    // 1. The touched entities.
    let staged_keys = kind
        .sources
        .iter()
        .map(|(_, view)| format!("SELECT {key} FROM new_{view}"))
        .collect::<Vec<_>>()
        .join(" UNION ALL ");
    let keys = ctx
        .sql(&format!("SELECT DISTINCT {key} FROM ({staged_keys})"))
        .await?;
    let schema = Arc::clone(keys.schema().inner());
    let keys = keys.collect().await?;
    let lines: u64 = keys.iter().map(|b| b.num_rows() as u64).sum();
    let values = first_key_values(kind, &keys)?;
    ctx.register_table("touched", Arc::new(MemTable::try_new(schema, vec![keys])?))?;
    register_touched_state(ctx, txn, kind, state, &values).await?;
    // 2. Where their old rows live and how far back their rows go.
    let staged_first = kind
        .sources
        .iter()
        .map(|(_, view)| {
            format!(
                "SELECT CAST(NULL AS DATE) AS part, min({PARTITION_COLUMN}) AS first FROM new_{view}"
            )
        })
        .collect::<Vec<_>>()
        .join(" UNION ALL ");
    let old = ctx
        .sql(&format!(
            "SELECT s.{PARTITION_COLUMN} AS part, min(s.first_date) AS first
             FROM touched_state s
             JOIN touched k ON {on}
             GROUP BY s.{PARTITION_COLUMN}
             UNION ALL
             {staged_first}",
            on = key_join(kind, "k", "s"),
        ))
        .await?
        .collect()
        .await?;
    let mut months: BTreeSet<i32> = BTreeSet::new();
    let mut from: Option<i32> = None;
    for b in &old {
        let part = b.column(0).as_primitive::<Date32Type>();
        let first = b.column(1).as_primitive::<Date32Type>();
        for i in 0..b.num_rows() {
            if part.is_valid(i) {
                months.insert(part.value(i));
            }
            if first.is_valid(i) {
                from = Some(from.map_or(first.value(i), |f| f.min(first.value(i))));
            }
        }
    }
    tracing::debug!(
        state = kind.rel,
        seconds = started.elapsed().as_secs_f64(),
        from = from.map(|d| super::date_of_days(d).to_string()),
        months = months.len(),
        "state: touched entities found"
    );
    // No staged row has a date only if the staged files are empty: nothing to read.
    let since = match from {
        Some(d) => format!("v.{PARTITION_COLUMN} >= DATE '{}'", super::date_of_days(d)),
        None => "FALSE".to_string(),
    };
    // 3. Their new state: their rows in the lake from `from` on (or in the state,
    //    when it holds them all), and the staged rows.
    match kind.from_state {
        Some(sql) => {
            for (_, view) in kind.sources {
                register_view(ctx, view, &sql()).await?;
            }
        }
        None => {
            register_inputs(
                ctx,
                kind,
                &format!("JOIN touched k ON {}", key_join(kind, "k", "v")),
                &since,
                "TRUE",
            )
            .await?
        }
    }
    let fresh = plan(ctx, &(kind.sql)(kind)).await?;
    let schema = Arc::clone(fresh.schema().inner());
    let fresh = fresh.collect().await?;
    for b in &fresh {
        let idx = b.schema().index_of(PARTITION_COLUMN)?;
        let part = b.column(idx).as_primitive::<Date32Type>();
        months.extend(part.iter().flatten());
    }
    ctx.register_table("fresh", Arc::new(MemTable::try_new(schema, vec![fresh])?))?;
    tracing::debug!(
        state = kind.rel,
        seconds = started.elapsed().as_secs_f64(),
        "state: touched entities computed"
    );
    // 4. Rewrite the affected months; take their old files out of the table.
    let keep = format!(
        "NOT EXISTS (SELECT 1 FROM touched k WHERE {})",
        key_join(kind, "k", "s")
    );
    rewrite_months(ctx, txn, kind, state, &months, &keep, lines).await
}

/// The distinct values of `kind`'s first key column in the touched keys `keys`,
/// sorted (byte-wise, as Parquet and Delta order strings).
fn first_key_values(kind: &Kind, keys: &[RecordBatch]) -> Result<Vec<String>> {
    let Some(column) = kind.key.first() else {
        return Ok(Vec::new());
    };
    let mut values = Vec::new();
    for b in keys {
        let array = datafusion::arrow::compute::cast(
            b.column(b.schema().index_of(column)?),
            &datafusion::arrow::datatypes::DataType::Utf8,
        )?;
        values.extend(
            array
                .as_string::<i32>()
                .iter()
                .flatten()
                .map(str::to_string),
        );
    }
    values.sort_unstable();
    values.dedup();
    Ok(values)
}

/// Register `touched_state`: the files of `state` that can hold a touched entity,
/// those whose range of the key's first column (by their Delta statistics) holds one
/// of `values`, and those with no such statistics. Every other file holds no row of a
/// touched entity, so the steps that look for the touched entities' rows read a
/// night's months, not the state's whole history: order ids, exception and return ids
/// are given out in time order by most systems, and each month's file holds a narrow
/// range of them. With ids in no such order, every file is read, as before.
async fn register_touched_state(
    ctx: &SessionContext,
    txn: &Txn,
    kind: &Kind,
    state: &Snapshot,
    values: &[String],
) -> Result<()> {
    let lake = txn.lake();
    let ranges = match kind.key.first() {
        Some(column) if !state.files.is_empty() => {
            crate::lake::delta::string_ranges(lake.location(), kind.rel, state.version, column)
                .await?
        }
        _ => HashMap::new(),
    };
    let files = can_hold(&state.files, &ranges, values);
    tracing::debug!(
        state = kind.rel,
        files = files.len(),
        of = state.files.len(),
        "state files that can hold a touched entity"
    );
    let files = super::lake_files(
        lake,
        kind.rel,
        &Snapshot {
            version: state.version,
            files,
        },
    )?;
    let url = lake_store_url(ctx, lake)?;
    ctx.register_table(
        "touched_state",
        Arc::new(LakeTable::new(kind.schema(), url, files)),
    )?;
    Ok(())
}

/// The `files` whose range (by path, in `ranges`) holds one of the sorted `values`,
/// bounds included, and those not in `ranges`.
fn can_hold(
    files: &[crate::lake::SnapshotFile],
    ranges: &HashMap<String, (String, String)>,
    values: &[String],
) -> Vec<crate::lake::SnapshotFile> {
    let holds = |(min, max): &(String, String)| {
        let i = values.partition_point(|v| v < min);
        values.get(i).is_some_and(|v| v <= max)
    };
    files
        .iter()
        .filter(|f| ranges.get(&f.path).is_none_or(holds))
        .cloned()
        .collect()
}

/// The staged rows of a master state written to their months: one new file per
/// month, merged with the old files [`to_merge`] chose (relation `merged`), which
/// leave the table.
async fn append(
    ctx: &SessionContext,
    txn: &Txn,
    kind: &'static Kind,
    merged: &[&crate::lake::SnapshotFile],
) -> Result<StateChange> {
    register_inputs(ctx, kind, "", "FALSE", "TRUE").await?;
    let change = write_merged(ctx, txn, kind, false).await?;
    for f in merged {
        txn.remove_from_table(kind.rel, removed(f));
    }
    Ok(change)
}

/// A file of a master state or month copy with this many rows is read at full speed:
/// an append never merges it again.
const SETTLED_ROWS: u64 = 1_000_000;

/// The old files (indices into `state`) an append of the `staged` files merges with
/// its rows, month by month. Each month's new rows go to a file of their own, merged
/// with the month's smallest files while each is no larger than what is merged so
/// far (and that is below [`SETTLED_ROWS`]): night after night of equal size, a month
/// holds one file per bit of its night count (at most 5 files for 31 nights) and a
/// row is rewritten once per doubling, not every night. Rewriting the whole month
/// every night would cost the month's rows each night; adding a file every night
/// would leave a file per day, which is what the copy is there to avoid.
fn to_merge(staged: &[(&'static str, Vec<LakeFile>)], state: &[LakeFile]) -> Vec<usize> {
    let mut fresh: BTreeMap<i32, u64> = BTreeMap::new();
    for f in staged.iter().flat_map(|(_, files)| files) {
        if let Some(d) = f.date {
            *fresh.entry(month_of(d)).or_default() += f.rows.map_or(f.size / 32, |r| r as u64);
        }
    }
    let mut out = Vec::new();
    for (month, new_rows) in fresh {
        let old: Vec<usize> = (0..state.len())
            .filter(|&i| state[i].date == Some(month))
            .collect();
        let rows: Vec<u64> = old
            .iter()
            .map(|&i| state[i].rows.map_or(u64::MAX, |r| r as u64))
            .collect();
        out.extend(merge_with(new_rows, &rows).into_iter().map(|j| old[j]));
    }
    out
}

/// Which of a month's old files (by their rows) a write of `fresh` rows merges (see
/// [`to_merge`]).
fn merge_with(fresh: u64, old: &[u64]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..old.len()).collect();
    order.sort_by_key(|&i| old[i]);
    let mut merged = fresh;
    let mut out = Vec::new();
    for i in order {
        if old[i] > merged || merged >= SETTLED_ROWS {
            break;
        }
        merged += old[i];
        out.push(i);
    }
    out
}

/// The first day of the month of day `d` (days since the epoch).
pub fn month_of(d: i32) -> i32 {
    use chrono::Datelike;
    let date = super::date_of_days(d);
    super::days(date.with_day(1).unwrap_or(date))
}

/// The first day of the month after day `d`'s.
pub fn next_month(d: i32) -> i32 {
    month_of(month_of(d) + 31)
}

/// Rewrite `months` of the state: their old rows that `keep` (SQL over them as `s`)
/// keeps, and the rows of relation `fresh` (all of them in those months); their old
/// files leave the table. `lines` is the entities (or rows) the change touched.
async fn rewrite_months(
    ctx: &SessionContext,
    txn: &Txn,
    kind: &'static Kind,
    state: &Snapshot,
    months: &BTreeSet<i32>,
    keep: &str,
    lines: u64,
) -> Result<StateChange> {
    if months.is_empty() {
        return Ok(StateChange {
            lines,
            ..StateChange::default()
        });
    }
    let list = months
        .iter()
        .map(|d| format!("DATE '{}'", super::date_of_days(*d)))
        .collect::<Vec<_>>()
        .join(", ");
    let columns = column_list(kind);
    let df = ctx
        .sql(&format!(
            "SELECT {columns}, s.{PARTITION_COLUMN} FROM old_state s
             WHERE s.{PARTITION_COLUMN} IN ({list}) AND {keep}
             UNION ALL
             SELECT {columns}, {PARTITION_COLUMN} FROM fresh"
        ))
        .await?;
    let (partitions, rows) = write_months(vec![df], txn, kind, false).await?;
    for f in &state.files {
        if f.date.is_some_and(|d| months.contains(&super::days(d))) {
            txn.remove_from_table(kind.rel, removed(f));
        }
    }
    Ok(StateChange {
        rebuilt: false,
        lines,
        partitions,
        rows_written: rows,
        ..StateChange::default()
    })
}

fn removed(f: &crate::lake::SnapshotFile) -> RemovedFile {
    RemovedFile {
        path: f.path.clone(),
        date: f.date.map(|d| d.to_string()).unwrap_or_default(),
        size: f.size as i64,
    }
}

/// Register each source relation [`Kind::sql`] reads: the lake's rows of its table
/// (`lake_join` and `lake_where` over it as `v`) and the staged rows `new_where`
/// keeps.
async fn register_inputs(
    ctx: &SessionContext,
    kind: &Kind,
    lake_join: &str,
    lake_where: &str,
    new_where: &str,
) -> Result<()> {
    for (_, view) in kind.sources {
        register_view(
            ctx,
            view,
            &format!(
                "SELECT v.* FROM lake_{view} v {lake_join} WHERE {lake_where}
                 UNION ALL
                 SELECT * FROM new_{view} WHERE {new_where}"
            ),
        )
        .await?;
    }
    Ok(())
}

/// The plan of `sql` over the relations registered now, with the CTEs its
/// `-- materialize:` lines name computed once (see [`super::materialize`]).
async fn plan(ctx: &SessionContext, sql: &str) -> Result<datafusion::dataframe::DataFrame> {
    let df = ctx.sql(sql).await?;
    let names = super::materialize::requested(sql);
    if names.is_empty() {
        return Ok(df);
    }
    let kept = super::materialize::apply(ctx, df.into_unoptimized_plan(), &names).await?;
    Ok(ctx.execute_logical_plan(kept).await?)
}

async fn register_view(ctx: &SessionContext, name: &str, sql: &str) -> Result<()> {
    let view = ctx.sql(sql).await?.into_view();
    ctx.deregister_table(name)?;
    ctx.register_table(name, view)?;
    Ok(())
}

/// The state file's columns, comma-separated (the partition column is apart).
fn column_list(kind: &Kind) -> String {
    kind.schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Staged Parquet writers by month (days since the epoch), with their lake-relative
/// paths, and the rows written.
type Writers = (BTreeMap<i32, (String, ArrowWriter<std::fs::File>)>, u64);

/// Stream the `plans` (state columns then `event_date`) into staged files by month
/// (see [`MonthFiles`]). Returns the months written and the rows.
async fn write_months(
    plans: Vec<datafusion::dataframe::DataFrame>,
    txn: &Txn,
    kind: &'static Kind,
    parallel: bool,
) -> Result<(usize, u64)> {
    let mut files = MonthFiles::new(txn, kind, parallel);
    for df in plans {
        files.write(df).await?;
    }
    files.finish()
}

/// A state's staged files by month, written plan after plan: one file a month, or
/// with `parallel` one a month for each of the plans' output partitions, written by
/// as many tasks (a whole build: the encoding is the larger part of copying a table,
/// and it then uses every core).
struct MonthFiles<'a> {
    writers: Vec<Writers>,
    txn: &'a Txn,
    kind: &'static Kind,
    parallel: bool,
}

impl<'a> MonthFiles<'a> {
    fn new(txn: &'a Txn, kind: &'static Kind, parallel: bool) -> Self {
        Self {
            writers: Vec::new(),
            txn,
            kind,
            parallel,
        }
    }

    /// Run `df` (state columns then `event_date`) into the files.
    async fn write(&mut self, df: datafusion::dataframe::DataFrame) -> Result<()> {
        let streams = if self.parallel {
            df.execute_stream_partitioned().await?
        } else {
            vec![df.execute_stream().await?]
        };
        let writers = &mut self.writers;
        writers.resize_with(writers.len().max(streams.len()), Default::default);
        let mut tasks = Vec::new();
        for (p, stream) in streams.into_iter().enumerate() {
            let mine = std::mem::take(&mut writers[p]);
            let at = Stage {
                root: self.txn.stage_path(""),
                id: self.txn.id(),
                p,
            };
            tasks.push(tokio::spawn(write_stream(stream, mine, at, self.kind)));
        }
        for (p, task) in tasks.into_iter().enumerate() {
            writers[p] = task.await.map_err(|e| Error::Lake {
                path: self.kind.rel.into(),
                message: format!("a writer task failed: {e}"),
            })??;
        }
        Ok(())
    }

    /// Close the files and record them in the transaction: the months written and
    /// the rows.
    fn finish(self) -> Result<(usize, u64)> {
        let mut months = BTreeSet::new();
        let mut rows = 0u64;
        for (w, n) in self.writers {
            rows += n;
            for (m, (rel, w)) in w {
                months.insert(m);
                w.close()?;
                self.txn.stage(&rel)?;
            }
        }
        Ok((months.len(), rows))
    }
}

/// Where a writer task stages its files: under `root`, as `part-<id>-<p>`.
struct Stage {
    root: std::path::PathBuf,
    id: u64,
    p: usize,
}

/// Write one stream's batches into `writers` (file `part-<txn>-<p>` of each month;
/// the caller records them in the transaction once written).
async fn write_stream(
    mut stream: datafusion::physical_plan::SendableRecordBatchStream,
    (mut writers, mut rows): Writers,
    at: Stage,
    kind: &'static Kind,
) -> Result<Writers> {
    let schema = kind.schema();
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        let idx = batch.schema().index_of(PARTITION_COLUMN)?;
        let parts = batch.column(idx).as_primitive::<Date32Type>().clone();
        if parts.null_count() > 0 {
            // Every entity has a row with a date: one without would be lost.
            return Err(Error::Lake {
                path: kind.rel.into(),
                message: "a state row has no first date".into(),
            });
        }
        let columns: Vec<Arc<dyn Array>> = (0..idx).map(|i| Arc::clone(batch.column(i))).collect();
        let file_batch = RecordBatch::try_new(Arc::clone(&schema), columns)?;
        let months: BTreeSet<i32> = parts.iter().flatten().collect();
        let one = months.len() == 1;
        for m in months {
            let part = if one {
                file_batch.clone()
            } else {
                let mask = BooleanArray::from_iter(parts.iter().map(|v| Some(v == Some(m))));
                filter_record_batch(&file_batch, &mask)?
            };
            if part.num_rows() == 0 {
                continue;
            }
            let (_, w) = match writers.entry(m) {
                std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::btree_map::Entry::Vacant(e) => {
                    let rel = format!(
                        "{}/{PARTITION_COLUMN}={}/part-{:08}-{}.parquet",
                        kind.rel,
                        super::date_of_days(m),
                        at.id,
                        at.p
                    );
                    let path = at.root.join(&rel);
                    if let Some(dir) = path.parent() {
                        std::fs::create_dir_all(dir).map_err(io_at(dir))?;
                    }
                    let file = std::fs::File::create(&path).map_err(io_at(&path))?;
                    let w = ArrowWriter::try_new(
                        file,
                        Arc::clone(&schema),
                        Some(crate::lake::writer_properties(&schema)),
                    )?;
                    e.insert((rel, w))
                }
            };
            rows += part.num_rows() as u64;
            w.write(&part)?;
        }
    }
    Ok((writers, rows))
}

/// The partition date in a lake-relative path (`…/event_date=2026-11-01/…`).
fn date_of(rel: &str) -> Option<NaiveDate> {
    let marker = format!("{PARTITION_COLUMN}=");
    let i = rel.find(&marker)? + marker.len();
    NaiveDate::parse_from_str(rel.get(i..i + 10)?, "%Y-%m-%d").ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_kept_side_by_side_come_back_in_order_and_the_first_error_wins() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use std::time::Duration;
        let change = |lines| StateChange {
            lines,
            ..StateChange::default()
        };
        let ran = AtomicUsize::new(0);
        // The first job is the slowest: the others finish before it on the other thread.
        let jobs: Vec<Job> = vec![
            Box::new(|| {
                ran.fetch_add(1, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(100));
                Ok(Some((&ORDER_LINES, change(1))))
            }),
            Box::new(|| {
                ran.fetch_add(1, Ordering::SeqCst);
                Ok(None)
            }),
            Box::new(|| {
                ran.fetch_add(1, Ordering::SeqCst);
                Ok(Some((&EXCEPTIONS, change(3))))
            }),
        ];
        let got: Vec<(&str, u64)> = side_by_side(&jobs)
            .unwrap_or_default()
            .into_iter()
            .map(|(kind, c)| (kind.rel, c.lines))
            .collect();
        assert_eq!(got, [(ORDER_LINES.rel, 1), (EXCEPTIONS.rel, 3)]);
        assert_eq!(ran.load(Ordering::SeqCst), 3);

        let failed = |name: &str| Error::Lake {
            path: name.into(),
            message: "failed".into(),
        };
        // Both fail, the second first: the error reported is the first job's.
        let jobs: Vec<Job> = vec![
            Box::new(|| {
                std::thread::sleep(Duration::from_millis(100));
                Err(failed("first"))
            }),
            Box::new(|| Err(failed("second"))),
        ];
        match side_by_side(&jobs) {
            Err(Error::Lake { path, .. }) => assert_eq!(path, std::path::Path::new("first")),
            other => panic!("expected the first job's error, got {other:?}"),
        }
    }

    #[test]
    fn every_kind_has_a_schema_a_folder_and_a_name_of_its_own() {
        let mut seen = BTreeSet::new();
        for kind in KINDS.iter().copied().chain(std::iter::once(&picks::PICKS)) {
            assert!(
                crate::lake::state_schema(kind.rel).is_some(),
                "{}",
                kind.rel
            );
            assert!(
                crate::lake::STATE_FOLDERS.contains(&kind.rel),
                "{}",
                kind.rel
            );
            assert!(!kind.source().is_empty(), "{}", kind.rel);
            assert!(seen.insert(kind.table), "{}", kind.table);
        }
        assert_eq!(seen.len(), crate::lake::STATE_FOLDERS.len());
    }

    #[test]
    fn passes_grow_with_memory_but_never_below_three_million_rows() {
        // 24 GiB machine: a 12 GiB limit, 3 GiB (3,221,225,472 bytes) for a pass.
        assert_eq!(pass_rows(12 << 30), 9_203_501);
        assert_eq!(pass_rows(1 << 30), 3_000_000);
    }

    #[test]
    fn an_append_merges_the_smaller_files_of_its_month_by_hand() {
        // No file yet, or only larger ones: the new rows get a file of their own.
        assert!(merge_with(12, &[]).is_empty());
        assert!(merge_with(12, &[24]).is_empty());
        // Equal nights: 12 merges 12; then 24 merges the 24 (smallest first).
        assert_eq!(merge_with(12, &[12]), vec![0]);
        assert_eq!(merge_with(12, &[24, 12]), vec![1, 0]);
        assert_eq!(merge_with(12, &[48, 24, 12]), vec![2, 1, 0]);
        // Stops at the first file larger than what is merged so far.
        assert_eq!(merge_with(12, &[48, 12]), vec![1]);
        // A million rows merged: nothing more; a settled file is never merged.
        assert_eq!(merge_with(600_000, &[900_000, 500_000]), vec![1]);
        assert!(merge_with(2_000_000, &[1_500_000]).is_empty());
        assert!(merge_with(1, &[u64::MAX]).is_empty());
    }

    #[test]
    fn months_start_on_their_first_day() {
        let d = |s: &str| super::super::days(NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap());
        assert_eq!(month_of(d("2026-11-30")), d("2026-11-01"));
        assert_eq!(month_of(d("2026-11-01")), d("2026-11-01"));
        assert_eq!(month_of(d("2024-02-29")), d("2024-02-01"));
    }

    #[test]
    fn partition_dates_are_read_from_paths() {
        assert_eq!(
            date_of("_state/order_lines/event_date=2026-11-01/part-00000007-0.parquet"),
            NaiveDate::from_ymd_opt(2026, 11, 1)
        );
        assert_eq!(date_of("shipments/x.parquet"), None);
    }

    #[test]
    fn only_files_whose_key_range_holds_a_touched_key_are_read() {
        let file = |path: &str| crate::lake::SnapshotFile {
            path: path.into(),
            size: 1,
            date: None,
            rows: Some(1),
        };
        let files = [file("a"), file("b"), file("c")];
        let range = |lo: &str, hi: &str| (lo.to_string(), hi.to_string());
        // c has no statistics: nothing is known of what it holds.
        let ranges: HashMap<String, (String, String)> = [
            ("a".to_string(), range("SO-1", "SO-3")),
            ("b".to_string(), range("SO-4", "SO-6")),
        ]
        .into();
        let read = |values: &[&str]| -> Vec<String> {
            let values: Vec<String> = values.iter().map(|v| v.to_string()).collect();
            can_hold(&files, &ranges, &values)
                .into_iter()
                .map(|f| f.path)
                .collect()
        };
        assert_eq!(read(&["SO-2"]), ["a", "c"]);
        // Bounds are inside the range.
        assert_eq!(read(&["SO-1"]), ["a", "c"]);
        assert_eq!(read(&["SO-6"]), ["b", "c"]);
        // Byte-wise order: "SO-35" is after "SO-3" and before "SO-4".
        assert_eq!(read(&["SO-35"]), ["c"]);
        assert_eq!(read(&["SO-0", "SO-35", "SO-7"]), ["c"]);
        assert_eq!(read(&["SO-0", "SO-5"]), ["b", "c"]);
        assert_eq!(read(&["SO-25", "SO-45"]), ["a", "b", "c"]);
        assert_eq!(read(&[]), ["c"]);
    }
}
