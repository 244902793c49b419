//! The kept state: what the KPIs about order lines, exceptions and returns need, kept per
//! entity by every ingest so a nightly run reads the night's changes, not the lake's
//! history. Three tables, one generic upkeep ([`Kind`]): the order-line state (below),
//! the exception state and the return state (at the end).
//!
//! # What the order-line state holds
//!
//! `_state/order_lines` is a Delta table with one row per order line ever named by an
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
//! months its lines began in, not the table.
//!
//! # Why it is exact for any as-of date
//!
//! As of date D (end(D) its last instant), a line's current version and shipments are
//! its rows with event times ≤ end(D). When `changed_at` ≤ end(D), that is all of its
//! rows, so its as-of-D row **is** its final row: the state row serves it unchanged.
//! Only the lines with `changed_at` > end(D) (for the night's own run: none, but for
//! the previous window, the trend weeks, the priority's fit and backtest, or a re-run
//! of an old date after newer data arrived: the lines active since D) are computed
//! from the raw tables, restricted to those lines and to the partitions from the
//! smallest of their `first_date`s on ([`bind_views`](super::bind_views)). A late
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
//!    `first_date`: none of their rows in the lake is older;
//! 3. their new state is computed from their rows in the lake from that date on plus
//!    the staged rows;
//! 4. each affected month is rewritten (its untouched lines plus the touched lines now
//!    in it); the old files of those months are removed from the table in the same
//!    commit (they stay on storage for older versions until a vacuum).
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
//! The table is partitioned by the month of `valid_to` (9999-12-01 for current states),
//! so a reader as of D skips every state that ended before D's month: the night's run
//! reads the current states and this month's, not a year of events.
//!
//! An ingest recomputes the exceptions its staged events name, from their old state
//! rows (one per event already in the lake: together they are its events) plus the
//! staged events, and rewrites the months those rows lived in and now live in (always
//! the current-state partition). A whole build reads `exception_events`.
//!
//! `_state/returns` is built the same way for returns: per event, the return's first
//! "received" time and its latest "dispositioned" event (time, warehouse, disposition)
//! up to that event, valid until its next event; `return_state` as of D is the rows
//! valid at end(D). Its rows keep running values, not each event's own, so an update
//! reads the touched returns' events from the lake (from their first date on: a
//! return's events span days, not the lake's history).

use std::collections::{BTreeMap, BTreeSet};
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
use crate::contract::{INGEST_SEQ, PARTITION_COLUMN, SOURCE_FILE};
use crate::error::{Error, Result, io_at};
use crate::lake::{
    EXCEPTION_STATE, EXCEPTION_STATE_ATTRIBUTES, Lake, ORDER_LINE_STATE, RETURN_STATE, RemovedFile,
    Snapshot, Txn, exception_state_schema, order_line_state_schema, return_state_schema,
};

/// The name the state is registered under in a session.
pub const STATE_TABLE: &str = "order_line_state";

/// The view of the current versions of the lines a binding computes from the raw
/// tables (those changed after its as-of instant).
pub const UNSETTLED_CURRENT: &str = "_order_lines_unsettled";

/// The lines changed after `params`' as-of instant: `SELECT` of their keys.
const UNSETTLED_KEYS: &str =
    "SELECT order_id, line_id FROM order_line_state WHERE changed_at > $window_end";

/// The name the exception state is registered under in a session.
pub const EXCEPTION_STATE_TABLE: &str = "exception_state_kept";

/// The smallest `first_date` of the order lines changed after `params`' as-of
/// instant; None when every line is settled by then (the state serves them all).
pub async fn unsettled_from(
    ctx: &SessionContext,
    params: &super::Params,
) -> Result<Option<NaiveDate>> {
    let table = STATE_TABLE;
    // Always on this machine, never on a cluster: binding views happens outside the
    // watched query phases, and a small scan of one table does not need executors.
    let local = SessionContext::new_with_config_rt(
        datafusion::prelude::SessionConfig::new(),
        ctx.runtime_env(),
    );
    local.register_table(table, ctx.table_provider(table).await?)?;
    let batches = local
        .sql(&format!(
            "SELECT min(first_date) FROM {table} WHERE changed_at > $window_end"
        ))
        .await?
        .with_param_values(params.values())?
        .collect()
        .await?;
    Ok(batches.iter().filter(|b| b.num_rows() > 0).find_map(|b| {
        let d = b.column(0).as_primitive::<Date32Type>();
        d.is_valid(0).then(|| super::date_of_days(d.value(0)))
    }))
}

/// The name the return state is registered under in a session.
pub const RETURN_STATE_TABLE: &str = "return_state_kept";

/// `exception_state` from the kept state: of each exception, the state whose
/// validity spans the as-of instant.
pub fn exception_state_sql() -> String {
    let mut columns = vec!["exception_id", "opened_at", "valid_from AS latest_at"];
    columns.extend(EXCEPTION_STATE_ATTRIBUTES);
    valid_at_sql(EXCEPTION_STATE_TABLE, &columns)
}

/// `return_state` from the kept state: of each return, the state whose validity
/// spans the as-of instant.
pub fn return_state_sql() -> String {
    valid_at_sql(
        RETURN_STATE_TABLE,
        &[
            "return_id",
            "received_at",
            "dispositioned_at",
            "warehouse_id",
            "disposition",
        ],
    )
}

/// `columns` of the rows of valid-from/valid-to state table `table` valid at the
/// as-of instant (`valid_from` ≤ end(D) < `valid_to`). The states that ended before
/// the as-of date's month are not read.
fn valid_at_sql(table: &str, columns: &[&str]) -> String {
    format!(
        "SELECT {columns}
         FROM {table}
         WHERE valid_from <= $window_end
           AND (valid_to IS NULL OR valid_to > $window_end)
           AND {PARTITION_COLUMN} >= CAST(date_trunc('month', $partition_max) AS DATE)",
        columns = columns.join(", ")
    )
}

/// `view` with its one `FROM <table>` reading `instead` (a parenthesised relation
/// aliased as the table); an error naming `file` when it does not read `table` exactly
/// once (the rewrite would be ambiguous).
fn read_instead(view: &str, file: &str, table: &str, instead: &str) -> Result<String> {
    let from = format!("FROM {table}");
    let ends_word = |i: usize| {
        view[i + from.len()..]
            .chars()
            .next()
            .is_none_or(|c| !(c.is_alphanumeric() || c == '_'))
    };
    let hits: Vec<usize> = view
        .match_indices(&from)
        .map(|(i, _)| i)
        .filter(|&i| ends_word(i))
        .collect();
    if hits.len() != 1 {
        return Err(Error::Lake {
            path: file.into(),
            message: format!("the view must read `{from}` once"),
        });
    }
    let i = hits[0];
    Ok(format!(
        "{}FROM {instead}{}",
        &view[..i],
        &view[i + from.len()..]
    ))
}

/// `order_lines_current` from the state: the settled lines' final versions, and (when
/// `unsettled`) the lines computed from the raw table in [`UNSETTLED_CURRENT`].
pub fn current_sql(t: &crate::contract::TableSpec, unsettled: bool) -> String {
    let fields: Vec<&str> = t.fields.iter().map(|f| f.name).collect();
    let mut sql = format!(
        "SELECT {fields}, version_seq AS {INGEST_SEQ}, version_source_file AS {SOURCE_FILE},
                version_date AS {PARTITION_COLUMN}
         FROM {STATE_TABLE}
         WHERE known_line AND changed_at <= $window_end",
        fields = fields.join(", ")
    );
    if unsettled {
        sql.push_str(&format!("\nUNION ALL\nSELECT * FROM {UNSETTLED_CURRENT}"));
    }
    sql
}

/// The raw current versions of the unsettled lines (None when there are none): the
/// rule of `order_lines_current`, restricted to those lines and to the partitions from
/// `$unsettled_from` on.
pub fn unsettled_current_sql(t: &crate::contract::TableSpec, unsettled: bool) -> Option<String> {
    if !unsettled {
        return None;
    }
    let cols: Vec<String> = t.fields.iter().map(|f| format!("v.{}", f.name)).collect();
    Some(format!(
        "SELECT {cols}, v.{INGEST_SEQ}, v.{SOURCE_FILE}, v.{PARTITION_COLUMN}
         FROM {table} v
         JOIN (
             SELECT CAST(max(CAST(CAST(o.updated_at AS BIGINT) AS DECIMAL(38, 0)) * {two63}
                             + CAST(o.{INGEST_SEQ} AS DECIMAL(38, 0))) % {two63} AS BIGINT) AS winner
             FROM {table} o
             JOIN ({UNSETTLED_KEYS}) k
               ON k.order_id = o.order_id AND k.line_id = o.line_id
             WHERE o.updated_at <= $window_end
               AND o.{PARTITION_COLUMN} <= $partition_max
               AND o.{PARTITION_COLUMN} >= $unsettled_from
             GROUP BY o.order_id, o.line_id
         ) w ON v.{INGEST_SEQ} = w.winner
         WHERE v.{PARTITION_COLUMN} <= $partition_max
           AND v.{PARTITION_COLUMN} >= $unsettled_from",
        cols = cols.join(", "),
        table = t.name,
        two63 = "CAST(9223372036854775808 AS DECIMAL(38, 0))",
    ))
}

/// `order_line_fulfilment` from the state: the settled lines' final rows, and (when
/// `unsettled`) `view` (the view's own SQL) over the unsettled lines only.
pub fn fulfilment_sql(view: &str, unsettled: bool) -> Result<String> {
    let settled = format!(
        "SELECT order_id, line_id, known_line, channel, warehouse_id, promised_ship_at,
                qty_ordered,
                qty_ordered - CASE WHEN cancel_reason = 'customer' THEN coalesce(cancelled_qty, 0) ELSE 0 END AS demand,
                units_shipped, units_shipped_by_promise, last_shipped_at,
                sku, ordered_at, first_shipment_id, last_shipment_id,
                cancelled_qty, cancel_reason
         FROM {STATE_TABLE}
         WHERE changed_at <= $window_end"
    );
    if !unsettled {
        return Ok(settled);
    }
    let file = "queries/views/order_line_fulfilment.sql";
    let raw = read_instead(
        view,
        file,
        "order_lines_current",
        &format!("{UNSETTLED_CURRENT} order_lines_current"),
    )?;
    let raw = read_instead(
        &raw,
        file,
        "shipments",
        &format!(
            "(SELECT sh.* FROM shipments sh
               JOIN ({UNSETTLED_KEYS}) k
                 ON k.order_id = sh.order_id AND k.line_id = sh.line_id
               WHERE sh.{PARTITION_COLUMN} >= $unsettled_from) shipments"
        ),
    )?;
    Ok(format!(
        "{settled}\nUNION ALL\nSELECT * FROM (\n{raw}\n) unsettled"
    ))
}

/// One kind of kept state: a Delta table of one row per entity (an order line, an
/// exception), derived from some event tables, kept by every ingest.
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
    schema: fn() -> SchemaRef,
    /// The state rows (file columns, then `event_date`: the month of `first_date`) of
    /// every entity in the source relations.
    sql: fn() -> String,
    /// When the state holds every source row of its entities (a kind of one source):
    /// that source relation for an ingest's update, as SQL over the `old_state` rows
    /// of the `touched` entities plus the staged rows, instead of the lake's events.
    from_state: Option<fn() -> String>,
}

impl Kind {
    /// The state file's columns (its partition column, `event_date`, apart).
    pub fn schema(&self) -> SchemaRef {
        (self.schema)()
    }
}

/// The order-line state (module doc).
pub const ORDER_LINES: Kind = Kind {
    rel: ORDER_LINE_STATE,
    table: STATE_TABLE,
    unit: "lines",
    sources: &[("order_lines", "versions"), ("shipments", "ships")],
    key: &["order_id", "line_id"],
    schema: order_line_state_schema,
    sql: order_line_sql,
    from_state: None,
};

/// The exception state: every state each exception was in, valid from one of its
/// events until its next (see `exception_state_schema`).
pub const EXCEPTIONS: Kind = Kind {
    rel: EXCEPTION_STATE,
    table: EXCEPTION_STATE_TABLE,
    unit: "exception states",
    sources: &[("exception_events", "events")],
    key: &["exception_id"],
    schema: exception_state_schema,
    sql: exception_sql,
    from_state: Some(exception_events_from_state),
};

/// The return state: every state each return was in, valid from one of its events
/// until its next (see `return_state_schema`).
pub const RETURNS: Kind = Kind {
    rel: RETURN_STATE,
    table: RETURN_STATE_TABLE,
    unit: "return states",
    sources: &[("return_events", "events")],
    key: &["return_id"],
    schema: return_state_schema,
    sql: return_sql,
    // The state keeps running values, not each event's own stage and disposition:
    // an update reads the touched returns' events (their lifecycles are short).
    from_state: None,
};

/// Every kind of state, in the order an ingest keeps them.
pub const KINDS: [&Kind; 3] = [&ORDER_LINES, &EXCEPTIONS, &RETURNS];

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
}

/// Keep every state table in step with the rows `txn` adds (see the module doc).
/// Returns what changed, per kind; a kind whose sources the transaction does not
/// touch (and which exists) is left alone.
pub fn maintain(lake: &Lake, txn: &Txn) -> Result<Vec<(&'static Kind, StateChange)>> {
    let mut out = Vec::new();
    for kind in KINDS {
        if let Some(change) = maintain_one(lake, txn, kind)? {
            out.push((kind, change));
        }
    }
    Ok(out)
}

fn maintain_one(lake: &Lake, txn: &Txn, kind: &'static Kind) -> Result<Option<StateChange>> {
    let state = lake.snapshot(kind.rel, None)?;
    let missing = state.version.is_none();
    let mut staged_any = false;
    let mut lake_any = false;
    let mut sources = Sources::default();
    for (table, view) in kind.sources {
        let staged = txn.staged_under(table);
        staged_any |= !staged.is_empty();
        let snap = lake.snapshot(table, None)?;
        lake_any |= !snap.files.is_empty();
        sources
            .lake
            .push((view, super::lake_files(lake, table, &snap)?));
        sources.new.push((view, staged_files(txn, &staged)?));
    }
    if !staged_any && (!missing || !lake_any) {
        return Ok(None);
    }
    sources.state = super::lake_files(lake, kind.rel, &state)?;
    let rows = sources.rows();
    let engine = super::Engine::new(&super::EngineOptions::default())?;
    let ctx = engine.ctx().clone();
    let change = engine.block_on(async move {
        register(&ctx, lake, kind, sources).await?;
        if missing {
            write_all(&ctx, txn, kind, rows).await
        } else {
            update(&ctx, txn, kind, &state).await
        }
    })?;
    Ok(Some(change))
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
pub fn rebuild(lake: &Lake, txn: &Txn) -> Result<Vec<(&'static Kind, StateChange)>> {
    let mut out = Vec::new();
    for kind in KINDS {
        let state = lake.snapshot(kind.rel, None)?;
        let mut sources = Sources::default();
        for (table, view) in kind.sources {
            let snap = lake.snapshot(table, None)?;
            sources
                .lake
                .push((view, super::lake_files(lake, table, &snap)?));
            sources.new.push((view, Vec::new()));
        }
        for f in &state.files {
            txn.remove_from_table(kind.rel, removed(f));
        }
        let rows = sources.rows();
        let engine = super::Engine::new(&super::EngineOptions::default())?;
        let ctx = engine.ctx().clone();
        let change = engine.block_on(async move {
            register(&ctx, lake, kind, sources).await?;
            write_all(&ctx, txn, kind, rows).await
        })?;
        out.push((kind, change));
    }
    Ok(out)
}

#[derive(Default)]
struct Sources {
    /// Per source relation: the lake's files.
    lake: Vec<(&'static str, Vec<LakeFile>)>,
    /// Per source relation: this transaction's staged files.
    new: Vec<(&'static str, Vec<LakeFile>)>,
    /// The state's current files.
    state: Vec<LakeFile>,
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
    let loc = lake.location();
    let store_url = loc.store_url();
    if !loc.is_local() {
        ctx.register_object_store(&store_url, loc.store()?);
    }
    let lake_url = ObjectStoreUrl::parse(format!(
        "{}://{}",
        store_url.scheme(),
        store_url.host_str().unwrap_or("")
    ))?;
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
    let mut tables: Vec<(String, SchemaRef, &ObjectStoreUrl, Vec<LakeFile>)> =
        vec![("old_state".into(), (kind.schema)(), &lake_url, s.state)];
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

/// The state of every entity in the lake plus the staged rows.
async fn write_all(ctx: &SessionContext, txn: &Txn, kind: &Kind, rows: u64) -> Result<StateChange> {
    // An entity's rows all share its first key column: computing the entities of one
    // group of its values at a time is exact, and bounds memory by the group, not the
    // lake (all at once took 10 GiB for 14 M order lines). Each pass reads the tables
    // again.
    let per_pass = std::env::var("OPINTEL_STATE_PASS_ROWS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|&n| n > 0)
        .unwrap_or(PASS_ROWS);
    let passes = rows.div_ceil(per_pass).clamp(1, 64);
    let mut plans = Vec::new();
    for pass in 0..passes {
        let only = if passes == 1 {
            "TRUE".to_string()
        } else {
            format!("{} % {passes} = {pass}", bucket(kind.key[0]))
        };
        register_inputs(ctx, kind, "", &only, &only).await?;
        // The plan binds the views as they are now.
        plans.push(ctx.sql(&(kind.sql)()).await?);
    }
    let (partitions, rows) = write_months(plans, txn, kind).await?;
    Ok(StateChange {
        rebuilt: true,
        lines: rows,
        partitions,
        rows_written: rows,
    })
}

/// Source rows one pass of a whole build reads (environment
/// `OPINTEL_STATE_PASS_ROWS` overrides it: fewer rows, less memory, more passes over
/// the tables).
const PASS_ROWS: u64 = 3_000_000;

/// A group number of key value `column` (of `v`, a source row), cheap and spread
/// over its last two characters (ids usually end in digits): only its being a function
/// of the key matters for exactness; the spread only evens the passes.
fn bucket(column: &str) -> String {
    format!(
        "(ascii(right({column}, 1)) + 31 * ascii(right({column}, 2)) \
         + 7 * character_length({column}))"
    )
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
    kind: &Kind,
    state: &Snapshot,
) -> Result<StateChange> {
    let key = kind.key.join(", ");
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
    ctx.register_table("touched", Arc::new(MemTable::try_new(schema, vec![keys])?))?;
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
             FROM old_state s
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
    let fresh = ctx.sql(&(kind.sql)()).await?;
    let schema = Arc::clone(fresh.schema().inner());
    let fresh = fresh.collect().await?;
    for b in &fresh {
        let idx = b.schema().index_of(PARTITION_COLUMN)?;
        let part = b.column(idx).as_primitive::<Date32Type>();
        months.extend(part.iter().flatten());
    }
    ctx.register_table("fresh", Arc::new(MemTable::try_new(schema, vec![fresh])?))?;
    // 4. Rewrite the affected months; take their old files out of the table.
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
             WHERE s.{PARTITION_COLUMN} IN ({list})
               AND NOT EXISTS (SELECT 1 FROM touched k WHERE {on})
             UNION ALL
             SELECT {columns}, {PARTITION_COLUMN} FROM fresh",
            on = key_join(kind, "k", "s"),
        ))
        .await?;
    let (partitions, rows) = write_months(vec![df], txn, kind).await?;
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

async fn register_view(ctx: &SessionContext, name: &str, sql: &str) -> Result<()> {
    let view = ctx.sql(sql).await?.into_view();
    ctx.deregister_table(name)?;
    ctx.register_table(name, view)?;
    Ok(())
}

/// The state file's columns, comma-separated (the partition column is apart).
fn column_list(kind: &Kind) -> String {
    (kind.schema)()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The latest row by (`time`, `_ingest_seq`) as one number: `time` in µs × 2⁶³ +
/// `_ingest_seq`, whose `max` modulo 2⁶³ is the winner's sequence number (see
/// `current_view_sql`).
fn latest_seq(time: &str) -> String {
    format!(
        "CAST(max(CAST(CAST({time} AS BIGINT) AS DECIMAL(38, 0)) * {two63}
                  + CAST({INGEST_SEQ} AS DECIMAL(38, 0))) % {two63} AS BIGINT)",
        two63 = "CAST(9223372036854775808 AS DECIMAL(38, 0))",
    )
}

/// Exception state rows of every exception in relation `events`: one per event, valid
/// from it until the exception's next event in (`event_at`, `_ingest_seq`) order.
/// Of two events at the same instant the later ingested one follows: the earlier's
/// state is valid for no instant, as the `exception_state` view's tie rule says.
fn exception_sql() -> String {
    let attrs = EXCEPTION_STATE_ATTRIBUTES.join(", ");
    format!(
        "WITH ordered AS (
             SELECT exception_id, event_at, {INGEST_SEQ}, {attrs},
                    min(event_at) OVER (PARTITION BY exception_id) AS opened_at,
                    min({part}) OVER (PARTITION BY exception_id) AS first_date,
                    lead(event_at) OVER (PARTITION BY exception_id
                                         ORDER BY event_at, {INGEST_SEQ}) AS valid_to
             FROM events
         )
         SELECT exception_id, opened_at, event_at AS valid_from, valid_to, {attrs},
                {INGEST_SEQ} AS event_seq, first_date,
                coalesce(CAST(date_trunc('month', valid_to) AS DATE),
                         DATE '9999-12-01') AS {part}
         FROM ordered",
        part = PARTITION_COLUMN,
    )
}

/// Return state rows of every return in relation `events`: one per event, valid from
/// it until the return's next event in (`event_at`, `_ingest_seq`) order, with the
/// return's first "received" time and latest "dispositioned" event up to it (the
/// `return_state` view's rule, events at one instant ordered by ingest).
fn return_sql() -> String {
    let frame = format!(
        "OVER (PARTITION BY return_id ORDER BY event_at, {INGEST_SEQ}
               ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)"
    );
    format!(
        "WITH ordered AS (
             SELECT return_id, event_at, {INGEST_SEQ},
                    min({part}) OVER (PARTITION BY return_id) AS first_date,
                    lead(event_at) OVER (PARTITION BY return_id
                                         ORDER BY event_at, {INGEST_SEQ}) AS valid_to,
                    min(CASE WHEN stage = 'received' THEN event_at END) {frame} AS received_at,
                    CAST(max(CASE WHEN stage = 'dispositioned'
                                  THEN CAST(CAST(event_at AS BIGINT) AS DECIMAL(38, 0)) * {two63}
                                       + CAST({INGEST_SEQ} AS DECIMAL(38, 0))
                             END) {frame} % {two63} AS BIGINT) AS disposition_seq
             FROM events
         )
         SELECT o.return_id, o.event_at AS valid_from, o.valid_to, o.received_at,
                d.event_at AS dispositioned_at, d.warehouse_id, d.disposition,
                o.{INGEST_SEQ} AS event_seq, o.first_date,
                coalesce(CAST(date_trunc('month', o.valid_to) AS DATE),
                         DATE '9999-12-01') AS {part}
         FROM ordered o
         LEFT JOIN events d ON d.{INGEST_SEQ} = o.disposition_seq",
        part = PARTITION_COLUMN,
        two63 = "CAST(9223372036854775808 AS DECIMAL(38, 0))",
    )
}

/// The `events` relation of the touched exceptions for an ingest's update: their
/// events back from their states (one state per event: its time, sequence number and
/// attributes; every event given the exception's first date, which is all
/// [`exception_sql`] takes of the dates), and the staged events.
fn exception_events_from_state() -> String {
    let attrs = EXCEPTION_STATE_ATTRIBUTES.join(", ");
    let s_attrs = EXCEPTION_STATE_ATTRIBUTES
        .iter()
        .map(|a| format!("s.{a}"))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "SELECT s.exception_id, s.valid_from AS event_at, s.event_seq AS {INGEST_SEQ},
                {s_attrs}, s.first_date AS {PARTITION_COLUMN}
         FROM old_state s
         JOIN touched k ON k.exception_id = s.exception_id
         UNION ALL
         SELECT exception_id, event_at, {INGEST_SEQ}, {attrs}, {PARTITION_COLUMN}
         FROM new_events"
    )
}

/// Order-line state rows of every line in relations `versions` (order-line
/// versions) and `ships` (shipments).
fn order_line_sql() -> String {
    state_sql("versions", "ships")
}

/// State rows (the file columns, then `event_date`: the month of `first_date`) of
/// every line in relations `versions` (order-line versions) and `ships` (shipments).
fn state_sql(versions: &str, ships: &str) -> String {
    let fields: Vec<&str> = crate::contract::table("order_lines")
        .map(|t| t.fields.iter().map(|f| f.name).collect())
        .unwrap_or_default();
    let own: Vec<&str> = fields
        .iter()
        .copied()
        .filter(|f| *f != "order_id" && *f != "line_id")
        .collect();
    let c_own = own
        .iter()
        .map(|f| format!("c.{f}"))
        .collect::<Vec<_>>()
        .join(", ");
    let plain_own = own.join(", ");
    format!(
        "WITH w AS (
             SELECT {winner} AS winner,
                    min({part}) AS first_version_date
             FROM {versions}
             GROUP BY order_id, line_id
         ),
         c AS (
             SELECT v.*, w.first_version_date
             FROM {versions} v
             JOIN w ON v.{seq} = w.winner
         ),
         -- Shipments per line first (with the winning version's promise), then one
         -- row per line: the wide version columns pass through a join, not a
         -- GROUP BY (a third less memory at 3 M lines).
         s AS (
             SELECT x.order_id,
                    x.line_id,
                    sum(x.qty_shipped) AS units_shipped,
                    sum(CASE WHEN x.shipped_at <= p.promised_ship_at THEN x.qty_shipped ELSE 0 END) AS units_shipped_by_promise,
                    max(x.shipped_at) AS last_shipped_at,
                    min(x.shipment_id) AS first_shipment_id,
                    max(x.shipment_id) AS last_shipment_id,
                    min(x.{part}) AS first_shipment_date
             FROM {ships} x
             LEFT JOIN c p
               ON p.order_id = x.order_id
              AND p.line_id = x.line_id
             GROUP BY x.order_id, x.line_id
         ),
         j AS (
             SELECT coalesce(c.order_id, s.order_id) AS order_id,
                    coalesce(c.line_id, s.line_id) AS line_id,
                    c.order_id IS NOT NULL AS known_line,
                    {c_own},
                    c.{seq} AS version_seq,
                    c.{src} AS version_source_file,
                    c.{part} AS version_date,
                    c.first_version_date,
                    coalesce(s.units_shipped, 0.0) AS units_shipped,
                    coalesce(s.units_shipped_by_promise, 0.0) AS units_shipped_by_promise,
                    s.last_shipped_at,
                    s.first_shipment_id,
                    s.last_shipment_id,
                    s.first_shipment_date
             FROM c
             FULL JOIN s
               ON s.order_id = c.order_id
              AND s.line_id = c.line_id
         )
         SELECT order_id, line_id, known_line, {plain_own},
                version_seq, version_source_file, version_date,
                units_shipped, units_shipped_by_promise, last_shipped_at,
                first_shipment_id, last_shipment_id,
                greatest(updated_at, last_shipped_at) AS changed_at,
                least(first_version_date, first_shipment_date) AS first_date,
                CAST(date_trunc('month', least(first_version_date, first_shipment_date)) AS DATE) AS {part}
         FROM j",
        winner = latest_seq("updated_at"),
        seq = INGEST_SEQ,
        src = SOURCE_FILE,
        part = PARTITION_COLUMN,
    )
}

/// Stream `df` (state columns then `event_date`) into one staged file per month.
/// Returns the months written and the rows.
async fn write_months(
    plans: Vec<datafusion::dataframe::DataFrame>,
    txn: &Txn,
    kind: &Kind,
) -> Result<(usize, u64)> {
    let schema = (kind.schema)();
    let mut writers: BTreeMap<i32, ArrowWriter<std::fs::File>> = BTreeMap::new();
    let mut rows = 0u64;
    for df in plans {
        let mut stream = df.execute_stream().await?;
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
            let columns: Vec<Arc<dyn Array>> =
                (0..idx).map(|i| Arc::clone(batch.column(i))).collect();
            let file_batch = RecordBatch::try_new(Arc::clone(&schema), columns)?;
            let months: BTreeSet<i32> = parts.iter().flatten().collect();
            for m in months {
                let mask = BooleanArray::from_iter(parts.iter().map(|p| Some(p == Some(m))));
                let part = filter_record_batch(&file_batch, &mask)?;
                if part.num_rows() == 0 {
                    continue;
                }
                let w = match writers.entry(m) {
                    std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
                    std::collections::btree_map::Entry::Vacant(e) => {
                        let rel = format!(
                            "{}/{PARTITION_COLUMN}={}/part-{:08}-0.parquet",
                            kind.rel,
                            super::date_of_days(m),
                            txn.id()
                        );
                        let path = txn.stage(&rel)?;
                        let file = std::fs::File::create(&path).map_err(io_at(&path))?;
                        e.insert(ArrowWriter::try_new(
                            file,
                            Arc::clone(&schema),
                            Some(crate::lake::writer_properties()),
                        )?)
                    }
                };
                rows += part.num_rows() as u64;
                w.write(&part)?;
            }
        }
    }
    let n = writers.len();
    for w in writers.into_values() {
        w.close()?;
    }
    Ok((n, rows))
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
    fn partition_dates_are_read_from_paths() {
        assert_eq!(
            date_of("_state/order_lines/event_date=2026-11-01/part-00000007-0.parquet"),
            NaiveDate::from_ymd_opt(2026, 11, 1)
        );
        assert_eq!(date_of("shipments/x.parquet"), None);
    }
}
