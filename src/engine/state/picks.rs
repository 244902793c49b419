//! The pick months (`_state/pick_months`): per SKU-location and old UTC month, the
//! count priority's pick evidence, so a nightly run reads a year of picks as a dozen
//! small summaries instead of every shipment (three times a night: the list and the
//! two time splits its weights are fitted on).
//!
//! # What a row holds, and why it is exact
//!
//! For month m (its first instant `month_start`, the next month's `month_end`) and a
//! SKU-location with shipments from its bin in m: its `picks`, their
//! `exposure_at_month_end` = Σ exp(−(month_end − shipped_at) in days × ln 2 / h) for
//! half-life h, its last cycle count in m (`last_counted_at`) and the picks after it
//! (`picks_after_last_count`; all of them without a count in m). As of a date whose
//! window starts at or after `month_end` (every pick of m is before the window, every
//! count of m is in the history):
//!
//! - the month adds `picks` to the list's picks and nothing to its units picked;
//! - its exposure at end(D) is exp(−(end(D) − month_end) in days × ln 2 / h) ×
//!   `exposure_at_month_end` (the same sum, factored: equal up to rounding);
//! - the picks since the SKU-location's last count c: all of m's picks when c is
//!   before m (or there is none), none when c is after m, and when c falls in m, it
//!   is m's last count (no count follows it up to end(D), and m is over by then), so
//!   `picks_after_last_count`.
//!
//! The query takes the whole months between `$pick_months_from` and `$pick_months_to`
//! from here and every other shipment of its history from the table; the engine sets
//! the range to the months this state holds exactly (below), else to nothing.
//!
//! # How it is kept
//!
//! A month is summarised once it is old (the shipments' month copy rule,
//! [`super::copied_month`]), from every shipment and cycle count of that month in
//! the lake plus the transaction's staged ones; each row records the rows
//! `shipments` and `cycle_counts` held in the month then (`shipment_rows`,
//! `count_rows`) and the half-life. An ingest writes a month again when it is old
//! and the state does not hold it with the tables' current row counts (by the Delta
//! logs) and the configured half-life: a month turning old, late shipments or counts
//! for an old month, a changed `half_life_days`. A session reads a month from here
//! only when its counts still equal the tables' and its half-life is the run's:
//! another tool writing to either table sends that month back to the shipments until
//! the next ingest writes it again.

use std::collections::{BTreeMap, BTreeSet};

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::{Date32Type, Float64Type, Int64Type};
use datafusion::prelude::SessionContext;

use super::{
    Kind, LakeFile, Snaps, Sources, StateChange, copied_month, month_of, next_month, register,
    removed, rows_by_month, staged_files, write_months,
};
use crate::contract::PARTITION_COLUMN;
use crate::error::Result;
use crate::lake::{PICK_STATE, Txn};

/// The pick months as a kind of state: its folder, session name and sources. It is
/// kept by [`maintain`] (not the generic upkeep), after the month copies.
pub static PICKS: Kind = Kind {
    rel: PICK_STATE,
    table: "pick_months_kept",
    unit: "SKU-location months",
    sources: &[("shipments", "shipments"), ("cycle_counts", "counts")],
    key: &[],
    sql: |_| String::new(),
    from_state: None,
    append: false,
    one_per_row: false,
    old_months_only: false,
};

/// What the state holds of a month: (shipment rows, count rows, half-life), when
/// every row of the month says the same.
pub type Held = BTreeMap<i32, (i64, i64, f64)>;

/// The months the registered relation `table` (of the state's columns and
/// `event_date`) holds consistently (see [`Held`]).
pub async fn held(ctx: &SessionContext, table: &str) -> Result<Held> {
    let batches = ctx
        .sql(&format!(
            "SELECT {PARTITION_COLUMN}, min(shipment_rows), max(shipment_rows), \
             min(count_rows), max(count_rows), min(half_life_days), max(half_life_days) \
             FROM {table} GROUP BY {PARTITION_COLUMN}"
        ))
        .await?
        .collect()
        .await?;
    let mut out = Held::new();
    for b in &batches {
        let month = b.column(0).as_primitive::<Date32Type>();
        let int = |i: usize| b.column(i).as_primitive::<Int64Type>().clone();
        let (s0, s1, c0, c1) = (int(1), int(2), int(3), int(4));
        let (h0, h1) = (
            b.column(5).as_primitive::<Float64Type>(),
            b.column(6).as_primitive::<Float64Type>(),
        );
        for i in 0..b.num_rows() {
            let all_valid = [
                month.is_valid(i),
                s0.is_valid(i),
                c0.is_valid(i),
                h0.is_valid(i),
            ];
            if all_valid.contains(&false) {
                continue;
            }
            if s0.value(i) == s1.value(i)
                && c0.value(i) == c1.value(i)
                && h0.value(i) == h1.value(i)
            {
                out.insert(month.value(i), (s0.value(i), c0.value(i), h0.value(i)));
            }
        }
    }
    Ok(out)
}

/// The months (first days) a session may read from the state: those `held` with the
/// row counts the tables' files (`shipments`, `cycle_counts`, from the Delta logs)
/// hold in them now. A month of the tables with a file of unknown rows is not.
pub fn usable(
    held: &Held,
    shipments: &BTreeMap<i32, Option<u64>>,
    counts: &BTreeMap<i32, Option<u64>>,
) -> BTreeMap<i32, f64> {
    held.iter()
        .filter(|(m, (s, c, _))| {
            let rows = |t: &BTreeMap<i32, Option<u64>>| t.get(m).copied().unwrap_or(Some(0));
            rows(shipments) == Some(*s as u64) && rows(counts) == Some(*c as u64)
        })
        .map(|(m, (_, _, h))| (*m, *h))
        .collect()
}

/// Keep the pick months in step with the rows `txn` adds (see the module doc), with
/// half-life `half_life`; when `whole` (a rebuild), every file removed and every old
/// month written again.
pub(super) fn maintain(
    snaps: &Snaps,
    txn: &Txn,
    half_life: f64,
    whole: bool,
) -> Result<Option<StateChange>> {
    let started = std::time::Instant::now();
    let lake = snaps.lake;
    let state = snaps.get(PICK_STATE)?;
    if whole {
        for f in &state.files {
            txn.remove_from_table(PICK_STATE, removed(f));
        }
    }
    let files = |table: &str| -> Result<(Vec<LakeFile>, Vec<LakeFile>)> {
        let raw = super::super::lake_files(lake, table, &snaps.get(table)?)?;
        let staged = staged_files(txn, &txn.staged_under(table))?;
        Ok((raw, staged))
    };
    let (ship_raw, ship_new) = files("shipments")?;
    let (count_raw, count_new) = files("cycle_counts")?;
    if !whole && ship_new.is_empty() && count_new.is_empty() && state.version.is_some() {
        return Ok(None);
    }
    let Some(latest) = ship_raw
        .iter()
        .chain(&ship_new)
        .filter_map(|f| f.date)
        .max()
    else {
        return Ok(None);
    };
    let total = |a: &[LakeFile], b: &[LakeFile]| -> BTreeMap<i32, Option<u64>> {
        let mut m = rows_by_month(a);
        for (k, v) in rows_by_month(b) {
            let e = m.entry(k).or_insert(Some(0));
            *e = e.zip(v).map(|(x, y)| x + y);
        }
        m
    };
    let (ship_rows, count_rows) = (total(&ship_raw, &ship_new), total(&count_raw, &count_new));
    let state_files = super::super::lake_files(lake, PICK_STATE, &state)?;
    let engine = super::super::Engine::new(&super::super::EngineOptions::default())?;
    let ctx = engine.ctx().clone();
    let kept: Held = if whole || state_files.is_empty() {
        Held::new()
    } else {
        let (ctx, state_files) = (ctx.clone(), state_files.clone());
        engine.block_on(async move {
            register(
                &ctx,
                lake,
                &PICKS,
                Sources {
                    state: state_files,
                    ..Sources::default()
                },
            )
            .await?;
            let kept = held(&ctx, "old_state").await;
            // The write below registers its own relations under these names.
            ctx.deregister_table("old_state")?;
            ctx.deregister_table("merged")?;
            kept
        })?
    };
    let fresh = usable(&kept, &ship_rows, &count_rows);
    // Old months with shipments of known rows (and counts of known rows) that the
    // state does not hold as they are now.
    let months: BTreeSet<i32> = ship_rows
        .iter()
        .filter(|(m, rows)| {
            copied_month(**m, latest)
                && rows.is_some_and(|r| r > 0)
                && count_rows.get(*m).copied().unwrap_or(Some(0)).is_some()
                && fresh.get(*m) != Some(&half_life)
        })
        .map(|(m, _)| *m)
        .collect();
    if months.is_empty() {
        return Ok(None);
    }
    let in_months = |files: &[LakeFile]| -> Vec<LakeFile> {
        files
            .iter()
            .filter(|f| f.date.is_some_and(|d| months.contains(&month_of(d))))
            .cloned()
            .collect()
    };
    let sources = Sources {
        lake: vec![
            ("shipments", in_months(&ship_raw)),
            ("counts", in_months(&count_raw)),
        ],
        new: vec![
            ("shipments", in_months(&ship_new)),
            ("counts", in_months(&count_new)),
        ],
        ..Sources::default()
    };
    let plans: Vec<String> = months
        .iter()
        .map(|&m| {
            month_sql(
                m,
                half_life,
                ship_rows.get(&m).copied().flatten().unwrap_or(0),
                count_rows.get(&m).copied().flatten().unwrap_or(0),
            )
        })
        .collect();
    let change = engine.block_on(async move {
        register(&ctx, lake, &PICKS, sources).await?;
        let mut dfs = Vec::new();
        for sql in plans {
            dfs.push(ctx.sql(&sql).await?);
        }
        let (partitions, rows) = write_months(dfs, txn, &PICKS, false).await?;
        Ok::<_, crate::error::Error>(StateChange {
            rebuilt: whole,
            lines: rows,
            partitions,
            rows_written: rows,
            ..StateChange::default()
        })
    })?;
    if !whole {
        for f in state.files.iter().filter(|f| {
            f.date
                .is_some_and(|d| months.contains(&super::super::days(d)))
        }) {
            txn.remove_from_table(PICK_STATE, removed(f));
        }
    }
    let took = started.elapsed();
    Ok(Some(StateChange { took, ..change }))
}

/// The state rows of month `m` (days since the epoch of its first day) from the
/// registered `lake_*` and `new_*` shipments and counts.
fn month_sql(m: i32, half_life: f64, shipment_rows: u64, count_rows: u64) -> String {
    let date = |d: i32| super::super::date_of_days(d);
    let (start, end) = (date(m), date(next_month(m)));
    let us = |d: chrono::NaiveDate| {
        d.and_time(chrono::NaiveTime::MIN)
            .and_utc()
            .timestamp_micros()
    };
    let (start_us, end_us) = (us(start), us(end));
    let ts = |v: i64| format!("arrow_cast({v}, 'Timestamp(µs, \"UTC\")')");
    let in_month =
        format!("{PARTITION_COLUMN} >= DATE '{start}' AND {PARTITION_COLUMN} < DATE '{end}'");
    format!(
        "WITH s AS (
            SELECT warehouse_id, location_id, sku, shipped_at FROM lake_shipments
            WHERE {in_month} AND location_id IS NOT NULL
            UNION ALL
            SELECT warehouse_id, location_id, sku, shipped_at FROM new_shipments
            WHERE {in_month} AND location_id IS NOT NULL
        ),
        c AS (
            SELECT warehouse_id, location_id, sku, max(counted_at) AS last_counted_at
            FROM (
                SELECT warehouse_id, location_id, sku, counted_at FROM lake_counts WHERE {in_month}
                UNION ALL
                SELECT warehouse_id, location_id, sku, counted_at FROM new_counts WHERE {in_month}
            ) cc
            GROUP BY warehouse_id, location_id, sku
        )
        SELECT s.warehouse_id, s.location_id, s.sku,
               {start_ts} AS month_start,
               {end_ts} AS month_end,
               count(*) AS picks,
               sum(exp(-(({end_us}.0 - CAST(CAST(s.shipped_at AS BIGINT) AS DOUBLE)) / 86400e6) * ln(2.0) / {half_life:?})) AS exposure_at_month_end,
               max(c.last_counted_at) AS last_counted_at,
               sum(CASE WHEN c.last_counted_at IS NULL OR s.shipped_at > c.last_counted_at THEN 1 ELSE 0 END) AS picks_after_last_count,
               CAST({half_life:?} AS DOUBLE) AS half_life_days,
               CAST({shipment_rows} AS BIGINT) AS shipment_rows,
               CAST({count_rows} AS BIGINT) AS count_rows,
               DATE '{start}' AS {PARTITION_COLUMN}
        FROM s
        LEFT JOIN c
          ON c.warehouse_id = s.warehouse_id AND c.location_id = s.location_id AND c.sku = s.sku
        GROUP BY s.warehouse_id, s.location_id, s.sku",
        start_ts = ts(start_us),
        end_ts = ts(end_us),
    )
}
