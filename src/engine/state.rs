//! The order-line state: what every KPI about order lines needs, kept per line so a
//! nightly run reads the night's lines, not the lake's history.
//!
//! # What it holds
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
use crate::lake::{Lake, ORDER_LINE_STATE, RemovedFile, Snapshot, Txn, order_line_state_schema};

/// The name the state is registered under in a session.
pub const STATE_TABLE: &str = "order_line_state";

/// The view of the current versions of the lines a binding computes from the raw
/// tables (those changed after its as-of instant).
pub const UNSETTLED_CURRENT: &str = "_order_lines_unsettled";

/// The lines changed after `params`' as-of instant: `SELECT` of their keys.
const UNSETTLED_KEYS: &str =
    "SELECT order_id, line_id FROM order_line_state WHERE changed_at > $window_end";

/// The smallest `first_date` of the lines changed after `params`' as-of instant; None
/// when every line is settled by then (the state serves every line).
pub async fn unsettled_from(
    ctx: &SessionContext,
    params: &super::Params,
) -> Result<Option<NaiveDate>> {
    // Always on this machine, never on a cluster: binding views happens outside the
    // watched query phases, and a small scan of one table does not need executors.
    let local = SessionContext::new_with_config_rt(
        datafusion::prelude::SessionConfig::new(),
        ctx.runtime_env(),
    );
    local.register_table(STATE_TABLE, ctx.table_provider(STATE_TABLE).await?)?;
    let batches = local
        .sql("SELECT min(first_date) FROM order_line_state WHERE changed_at > $window_end")
        .await?
        .with_param_values(params.values())?
        .collect()
        .await?;
    Ok(batches.iter().filter(|b| b.num_rows() > 0).find_map(|b| {
        let d = b.column(0).as_primitive::<Date32Type>();
        d.is_valid(0).then(|| super::date_of_days(d.value(0)))
    }))
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
    let lines = "FROM order_lines_current";
    let ships = "FROM shipments";
    if view.matches(lines).count() != 1 || view.matches(ships).count() != 1 {
        return Err(Error::Lake {
            path: "queries/views/order_line_fulfilment.sql".into(),
            message: format!("the view must read `{lines}` and `{ships}` once each"),
        });
    }
    let raw = view
        .replacen(lines, &format!("FROM {UNSETTLED_CURRENT}"), 1)
        .replacen(
            ships,
            &format!(
                "FROM (SELECT sh.* FROM shipments sh
                   JOIN ({UNSETTLED_KEYS}) k
                     ON k.order_id = sh.order_id AND k.line_id = sh.line_id
                   WHERE sh.{PARTITION_COLUMN} >= $unsettled_from) shipments"
            ),
            1,
        );
    Ok(format!(
        "{settled}\nUNION ALL\nSELECT * FROM (\n{raw}\n) unsettled"
    ))
}

/// What an ingest did to the state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StateChange {
    /// The state was computed whole (it did not exist, or a rebuild).
    pub rebuilt: bool,
    /// Order lines the transaction touched (all lines for a rebuild).
    pub lines: u64,
    /// Month partitions written.
    pub partitions: usize,
    /// Rows written (touched lines and the untouched lines of their months).
    pub rows_written: u64,
}

/// Keep the state in step with the rows `txn` adds (see the module doc). Nothing to
/// do when the transaction adds no order line or shipment and the state exists.
pub fn maintain(lake: &Lake, txn: &Txn) -> Result<Option<StateChange>> {
    let staged_lines = txn.staged_under("order_lines");
    let staged_ships = txn.staged_under("shipments");
    let state = lake.snapshot(ORDER_LINE_STATE, None)?;
    let lines = lake.snapshot("order_lines", None)?;
    let ships = lake.snapshot("shipments", None)?;
    let missing = state.version.is_none();
    if staged_lines.is_empty()
        && staged_ships.is_empty()
        && (!missing || (lines.files.is_empty() && ships.files.is_empty()))
    {
        return Ok(None);
    }
    let staged = |rels: &[String]| -> Result<Vec<LakeFile>> {
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
    };
    let sources = Sources {
        lines: super::lake_files(lake, "order_lines", &lines)?,
        ships: super::lake_files(lake, "shipments", &ships)?,
        state: super::lake_files(lake, ORDER_LINE_STATE, &state)?,
        new_lines: staged(&staged_lines)?,
        new_ships: staged(&staged_ships)?,
    };
    let rows = sources.rows();
    let engine = super::Engine::new(&super::EngineOptions::default())?;
    let ctx = engine.ctx().clone();
    let change = engine.block_on(async move {
        register(&ctx, lake, sources).await?;
        if missing {
            write_all(&ctx, txn, rows).await
        } else {
            update(&ctx, txn, &state).await
        }
    })?;
    Ok(Some(change))
}

/// Recompute the whole state from the event tables in `txn` (`opintel lake
/// rebuild-state`): every current state file is removed, every month written anew.
pub fn rebuild(lake: &Lake, txn: &Txn) -> Result<StateChange> {
    let state = lake.snapshot(ORDER_LINE_STATE, None)?;
    let lines = lake.snapshot("order_lines", None)?;
    let ships = lake.snapshot("shipments", None)?;
    let sources = Sources {
        lines: super::lake_files(lake, "order_lines", &lines)?,
        ships: super::lake_files(lake, "shipments", &ships)?,
        state: Vec::new(),
        new_lines: Vec::new(),
        new_ships: Vec::new(),
    };
    for f in &state.files {
        txn.remove_from_table(ORDER_LINE_STATE, removed(f));
    }
    let rows = sources.rows();
    let engine = super::Engine::new(&super::EngineOptions::default())?;
    let ctx = engine.ctx().clone();
    engine.block_on(async move {
        register(&ctx, lake, sources).await?;
        write_all(&ctx, txn, rows).await
    })
}

struct Sources {
    lines: Vec<LakeFile>,
    ships: Vec<LakeFile>,
    state: Vec<LakeFile>,
    new_lines: Vec<LakeFile>,
    new_ships: Vec<LakeFile>,
}

impl Sources {
    /// Order-line versions plus shipments to read (a file without a row count counts
    /// one row per 32 bytes).
    fn rows(&self) -> u64 {
        [&self.lines, &self.ships, &self.new_lines, &self.new_ships]
            .iter()
            .flat_map(|files| files.iter())
            .map(|f| f.rows.map_or(f.size / 32, |r| r as u64))
            .sum()
    }
}

/// `lake_lines`, `lake_ships`, `old_state` (the lake's) and `new_lines`, `new_ships`
/// (this transaction's staged files, on the local disk).
async fn register(ctx: &SessionContext, lake: &Lake, s: Sources) -> Result<()> {
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
    let spec = |name: &str| {
        crate::contract::table(name).ok_or_else(|| Error::Lake {
            path: name.into(),
            message: "not a table of the contract".into(),
        })
    };
    let lines = spec("order_lines")?.lake_schema();
    let ships = spec("shipments")?.lake_schema();
    let tables: [(&str, SchemaRef, &ObjectStoreUrl, Vec<LakeFile>); 5] = [
        ("lake_lines", Arc::clone(&lines), &lake_url, s.lines),
        ("lake_ships", Arc::clone(&ships), &lake_url, s.ships),
        ("old_state", order_line_state_schema(), &lake_url, s.state),
        ("new_lines", lines, &local, s.new_lines),
        ("new_ships", ships, &local, s.new_ships),
    ];
    for (name, schema, url, files) in tables {
        ctx.register_table(name, Arc::new(LakeTable::new(schema, url.clone(), files)))?;
    }
    Ok(())
}

/// The state of every line in the lake plus the staged rows.
async fn write_all(ctx: &SessionContext, txn: &Txn, rows: u64) -> Result<StateChange> {
    // A line's rows all share its order_id: computing the lines of one group of
    // order ids at a time is exact, and bounds memory by the group, not the lake (all
    // at once took 10 GiB for 14 M lines). Each pass reads the tables again.
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
            format!("{BUCKET} % {passes} = {pass}")
        };
        register_inputs(ctx, "", &only, &only).await?;
        // The plan binds the views as they are now.
        plans.push(ctx.sql(&state_sql("versions", "ships")).await?);
    }
    let (partitions, rows) = write_months(plans, txn).await?;
    Ok(StateChange {
        rebuilt: true,
        lines: rows,
        partitions,
        rows_written: rows,
    })
}

/// Rows (order-line versions plus shipments) one pass of a whole build reads
/// (environment `OPINTEL_STATE_PASS_ROWS` overrides it: fewer rows, less memory, more
/// passes over the tables).
const PASS_ROWS: u64 = 3_000_000;

/// A group number of an order id, cheap and spread over the last two characters
/// (ids usually end in digits): only its being a function of `order_id` matters for
/// exactness; the spread only evens the passes.
const BUCKET: &str = "(ascii(right(order_id, 1)) + 31 * ascii(right(order_id, 2)) \
                      + 7 * character_length(order_id))";

/// The state of the lines the staged rows touch, and the months they live in.
async fn update(ctx: &SessionContext, txn: &Txn, state: &Snapshot) -> Result<StateChange> {
    // 1. The touched lines.
    let keys = ctx
        .sql(
            "SELECT DISTINCT order_id, line_id FROM (
                 SELECT order_id, line_id FROM new_lines
                 UNION ALL
                 SELECT order_id, line_id FROM new_ships)",
        )
        .await?;
    let schema = Arc::clone(keys.schema().inner());
    let keys = keys.collect().await?;
    let lines: u64 = keys.iter().map(|b| b.num_rows() as u64).sum();
    ctx.register_table("touched", Arc::new(MemTable::try_new(schema, vec![keys])?))?;
    // 2. Where their old rows live and how far back their rows go.
    let old = ctx
        .sql(&format!(
            "SELECT s.{PARTITION_COLUMN} AS part, min(s.first_date) AS first
             FROM old_state s
             JOIN touched k ON k.order_id = s.order_id AND k.line_id = s.line_id
             GROUP BY s.{PARTITION_COLUMN}
             UNION ALL
             SELECT CAST(NULL AS DATE) AS part, min({PARTITION_COLUMN}) AS first FROM new_lines
             UNION ALL
             SELECT CAST(NULL AS DATE) AS part, min({PARTITION_COLUMN}) AS first FROM new_ships"
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
    // 3. Their new state: their rows in the lake from `from` on, and the staged rows.
    register_inputs(
        ctx,
        "JOIN touched k ON k.order_id = v.order_id AND k.line_id = v.line_id",
        &since,
        "TRUE",
    )
    .await?;
    let fresh = ctx.sql(&state_sql("versions", "ships")).await?;
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
    let columns = column_list();
    let df = ctx
        .sql(&format!(
            "SELECT {columns}, s.{PARTITION_COLUMN} FROM old_state s
             WHERE s.{PARTITION_COLUMN} IN ({list})
               AND NOT EXISTS (SELECT 1 FROM touched k
                               WHERE k.order_id = s.order_id AND k.line_id = s.line_id)
             UNION ALL
             SELECT {columns}, {PARTITION_COLUMN} FROM fresh"
        ))
        .await?;
    let (partitions, rows) = write_months(vec![df], txn).await?;
    for f in &state.files {
        if f.date.is_some_and(|d| months.contains(&super::days(d))) {
            txn.remove_from_table(ORDER_LINE_STATE, removed(f));
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

/// Register `versions` and `ships`, what [`state_sql`] reads: the lake's rows of
/// each table (`lake_join` and `lake_where` over it as `v`) and the staged rows
/// `new_where` keeps.
async fn register_inputs(
    ctx: &SessionContext,
    lake_join: &str,
    lake_where: &str,
    new_where: &str,
) -> Result<()> {
    for (view, lake_table, new_table) in [
        ("versions", "lake_lines", "new_lines"),
        ("ships", "lake_ships", "new_ships"),
    ] {
        register_view(
            ctx,
            view,
            &format!(
                "SELECT v.* FROM {lake_table} v {lake_join} WHERE {lake_where}
                 UNION ALL
                 SELECT * FROM {new_table} WHERE {new_where}"
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
fn column_list() -> String {
    order_line_state_schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect::<Vec<_>>()
        .join(", ")
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
             SELECT CAST(max(CAST(CAST(updated_at AS BIGINT) AS DECIMAL(38, 0)) * {two63}
                             + CAST({seq} AS DECIMAL(38, 0))) % {two63} AS BIGINT) AS winner,
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
        two63 = "CAST(9223372036854775808 AS DECIMAL(38, 0))",
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
) -> Result<(usize, u64)> {
    let schema = order_line_state_schema();
    let mut writers: BTreeMap<i32, ArrowWriter<std::fs::File>> = BTreeMap::new();
    let mut rows = 0u64;
    for df in plans {
        let mut stream = df.execute_stream().await?;
        while let Some(batch) = stream.next().await {
            let batch = batch?;
            let idx = batch.schema().index_of(PARTITION_COLUMN)?;
            let parts = batch.column(idx).as_primitive::<Date32Type>().clone();
            if parts.null_count() > 0 {
                // Every line has a row with a date: a line without one would be lost.
                return Err(Error::Lake {
                    path: ORDER_LINE_STATE.into(),
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
                            "{ORDER_LINE_STATE}/{PARTITION_COLUMN}={}/part-{:08}-0.parquet",
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
