//! The order-line state's SQL: the state rows an upkeep computes ([`order_line_sql`])
//! and the views a session reads through it (`order_lines_current`,
//! `order_line_fulfilment`, the lines still unsettled at the as-of instant). The design
//! is in the parent module's doc.

use std::sync::Arc;

use chrono::NaiveDate;
use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::{Date32Type, Int64Type};
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;

use super::Kind;
use crate::contract::{INGEST_SEQ, PARTITION_COLUMN, SOURCE_FILE};
use crate::error::{Error, Result};

/// The name the state is registered under in a session.
pub const STATE_TABLE: &str = "order_line_state";

/// The view of the current versions of the lines a binding computes from the raw
/// tables (those changed after its as-of instant).
pub const UNSETTLED_CURRENT: &str = "_order_lines_unsettled";

/// The shipments of the lines a binding computes from the raw tables (all of them, up
/// to any time: the readers cut them at the as-of instant).
pub const UNSETTLED_SHIPMENTS: &str = "_order_lines_unsettled_shipments";

/// The keys (`order_id`, `line_id`) of the lines changed after the bound as-of
/// instant, registered by [`bind_unsettled`].
pub const UNSETTLED_KEYS_TABLE: &str = "_order_lines_unsettled_keys";

/// The unsettled lines' keys, as the views below read them.
const UNSETTLED_KEYS: &str = "SELECT order_id, line_id FROM _order_lines_unsettled_keys";

/// Up to this many unsettled lines' keys are held in memory for a binding (some
/// 40 bytes each). DataFusion builds a hash join's table on the input it estimates
/// smaller, and a filter over the state gives it no estimate worth the name: it built
/// on the raw side, 3.9 M order-line versions (418 MB) and 3.8 M shipments (265 MB)
/// for the 118 k lines unsettled the night before the lake's last at 16×, in every
/// query reading the lines. Held keys have an exact count, so the keys are the build
/// side. More keys than this (an as-of date weeks back on a big lake) stay a view.
const HELD_KEYS: i64 = 2_000_000;

/// The lines a binding computes from the raw tables (see [`bind_unsettled`]).
#[derive(Debug, Clone, Copy)]
pub struct Unsettled {
    /// The smallest `first_date` of those lines: None when every line is settled by
    /// the as-of instant (the state serves them all).
    pub from: Option<NaiveDate>,
    /// Whether their keys are held in memory (few, and the session runs here).
    pub held: bool,
}

/// Register [`UNSETTLED_KEYS_TABLE`] for `params`' as-of instant (held in memory when
/// they are few and the session runs here, see [`HELD_KEYS`]; else a view over the
/// state) and say which lines those are.
pub async fn bind_unsettled(
    ctx: &SessionContext,
    params: &crate::engine::Params,
) -> Result<Unsettled> {
    let table = STATE_TABLE;
    // Always on this machine, never on a cluster: binding views happens outside the
    // watched query phases, and a small scan of one table does not need executors.
    let local = SessionContext::new_with_config_rt(
        datafusion::prelude::SessionConfig::new(),
        ctx.runtime_env(),
    );
    local.register_table(table, ctx.table_provider(table).await?)?;
    // A line whose first row is dated after the window's last UTC date has no row
    // by its end (`first_date` is the earliest `event_date`, the UTC date of a row's
    // time): as of then it does not exist, and neither the state nor the raw tables
    // can give it a row. For an as-of date weeks back those are most of the lines
    // changed since.
    let changed =
        format!("FROM {table} WHERE changed_at > $window_end AND first_date <= $partition_max");
    let batches = local
        .sql(&format!("SELECT min(first_date), count(*) {changed}"))
        .await?
        .with_param_values(params.values())?
        .collect()
        .await?;
    let mut from = None;
    let mut count = 0;
    for b in batches.iter().filter(|b| b.num_rows() > 0) {
        let d = b.column(0).as_primitive::<Date32Type>();
        if d.is_valid(0) {
            from = Some(crate::engine::date_of_days(d.value(0)));
        }
        count = b.column(1).as_primitive::<Int64Type>().value(0);
    }
    ctx.deregister_table(UNSETTLED_KEYS_TABLE)?;
    let keys = format!("SELECT order_id, line_id {changed}");
    let held = count <= HELD_KEYS && !crate::engine::materialize::on_cluster(ctx);
    if held {
        let df = local.sql(&keys).await?.with_param_values(params.values())?;
        let schema = Arc::clone(df.schema().inner());
        let rows = if count > 0 {
            df.collect().await?
        } else {
            Vec::new()
        };
        let held = MemTable::try_new(schema, vec![rows])?;
        ctx.register_table(UNSETTLED_KEYS_TABLE, Arc::new(held))?;
    } else {
        let df = ctx.sql(&keys).await?.with_param_values(params.values())?;
        ctx.register_table(UNSETTLED_KEYS_TABLE, df.into_view())?;
    }
    Ok(Unsettled { from, held })
}

/// [`UNSETTLED_SHIPMENTS`]: every shipment of the unsettled lines, from the partitions
/// of `$unsettled_from` on (none of their rows is older).
pub fn unsettled_shipments_sql() -> String {
    format!(
        "SELECT sh.* FROM ({UNSETTLED_KEYS}) k
         JOIN shipments sh
           ON k.order_id = sh.order_id AND k.line_id = sh.line_id
         WHERE sh.{PARTITION_COLUMN} >= $unsettled_from"
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
         FROM (
             SELECT {winner} AS winner
             -- The keys first: the smaller input wherever they are held (HELD_KEYS).
             FROM ({UNSETTLED_KEYS}) k
             JOIN {table} o
               ON k.order_id = o.order_id AND k.line_id = o.line_id
             WHERE o.updated_at <= $window_end
               AND o.{PARTITION_COLUMN} <= $partition_max
               AND o.{PARTITION_COLUMN} >= $unsettled_from
             GROUP BY o.order_id, o.line_id
         ) w
         JOIN {table} v ON v.{INGEST_SEQ} = w.winner
         WHERE v.{PARTITION_COLUMN} <= $partition_max
           AND v.{PARTITION_COLUMN} >= $unsettled_from",
        cols = cols.join(", "),
        table = t.name,
        winner = crate::engine::latest_seq("o.updated_at", &format!("o.{INGEST_SEQ}")),
    ))
}

/// `order_line_fulfilment` from the state: the settled lines' final rows, and (when
/// `unsettled`) `view` (the view's own SQL) over the unsettled lines only.
pub fn fulfilment_sql(view: &str, unsettled: bool) -> Result<String> {
    fulfilment_where(view, unsettled, "TRUE")
}

/// `open_order_lines` from the state: `view` (the view's own SQL, over
/// `order_line_fulfilment`) over the settled lines of the open partitions (a settled
/// line is as of D what it is in the end, so one open at D is open in its final
/// state: see [`open_partition`]) and the unsettled lines.
pub fn open_lines_sql(view: &str, fulfilment_view: &str, unsettled: bool) -> Result<String> {
    let lines = fulfilment_where(
        fulfilment_view,
        unsettled,
        &format!("{PARTITION_COLUMN} >= DATE '{OPEN_PARTITIONS_FROM}'"),
    )?;
    read_instead(
        view,
        "queries/views/open_order_lines.sql",
        "order_line_fulfilment",
        &format!("(\n{lines}\n) order_line_fulfilment"),
    )
}

/// [`fulfilment_sql`], of the settled lines only those whose state rows meet
/// `settled` (SQL over the state's columns).
fn fulfilment_where(view: &str, unsettled: bool, settled: &str) -> Result<String> {
    let settled = format!(
        "SELECT order_id, line_id, known_line, channel, warehouse_id, promised_ship_at,
                qty_ordered,
                {DEMAND} AS demand,
                units_shipped, units_shipped_by_promise, last_shipped_at,
                sku, ordered_at, first_shipment_id, last_shipment_id,
                cancelled_qty, cancel_reason
         FROM {STATE_TABLE}
         WHERE changed_at <= $window_end AND {settled}"
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
        &format!("(SELECT * FROM {UNSETTLED_SHIPMENTS}) shipments"),
    )?;
    Ok(format!(
        "{settled}\nUNION ALL\nSELECT * FROM (\n{raw}\n) unsettled"
    ))
}

/// A line's demand over the state's columns: `qty_ordered` less customer
/// cancellations, as in `order_line_fulfilment`.
const DEMAND: &str =
    "qty_ordered - CASE WHEN cancel_reason = 'customer' THEN coalesce(cancelled_qty, 0) ELSE 0 END";

/// A line still open in its final state: known, with [`DEMAND`] left to ship. Over the
/// state's columns; NULL counts as not open, as in the readers' filters.
fn open_line() -> String {
    format!("known_line AND {DEMAND} > 0 AND units_shipped < {DEMAND}")
}

/// The first day of the order-line state partitions of open lines: they are the month
/// of their `first_date` moved 7000 years on (ingest keeps timestamps before 2100).
pub const OPEN_PARTITIONS_FROM: &str = "9000-01-01";

/// The partition of a state row whose first row is dated `first_date`: that month;
/// for a line still open ([`open_line`]), that month 7000 years on (2026-10 →
/// 9026-10-01). So the readers of the open lines alone (backorders, inventory
/// position) read the partitions from [`OPEN_PARTITIONS_FROM`] on, some 50 k lines of
/// the 3.1 M a year of history holds, and a line moves out when it ships in full.
fn open_partition(first_date: &str) -> String {
    format!(
        "CASE WHEN coalesce({open}, false)
              THEN make_date(CAST(date_part('year', {first_date}) AS INT) + 7000,
                             CAST(date_part('month', {first_date}) AS INT), 1)
              ELSE CAST(date_trunc('month', {first_date}) AS DATE)
         END",
        open = open_line()
    )
}

/// Order-line state rows of every line in relations `versions` (order-line
/// versions) and `ships` (shipments).
pub(super) fn order_line_sql(_: &Kind) -> String {
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
    // The winning versions `c` are read twice (the shipments' promise and the final
    // join): computed once (with `w` inside them), a whole 16x build of the order-line
    // state went from 43.7 to 32.0 s (one run each, the peak 2,576 -> 2,190 MiB).
    // The versions are read twice too (the winners, then their rows): kept once,
    // each pass decodes and filters its versions once. A pass of 4.5 M versions and
    // 4.2 M shipments at 16x: 10.1-10.3 -> 9.3 s, peak 3.61 -> 3.43 GiB.
    format!(
        "-- materialize: kept_versions, c
         WITH kept_versions AS (
             SELECT * FROM {versions}
         ),
         w AS (
             SELECT {winner} AS winner,
                    min({part}) AS first_version_date
             FROM kept_versions
             GROUP BY order_id, line_id
         ),
         c AS (
             SELECT v.*, w.first_version_date
             FROM kept_versions v
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
                first_date,
                {partition} AS {part}
         FROM (
             SELECT *, least(first_version_date, first_shipment_date) AS first_date
             FROM j
         ) f",
        partition = open_partition("first_date"),
        winner = crate::engine::latest_seq("updated_at", INGEST_SEQ),
        seq = INGEST_SEQ,
        src = SOURCE_FILE,
        part = PARTITION_COLUMN,
    )
}
