//! `opintel tables`: what analysts can query, with every column's meaning (from the
//! contract declaration and the query headers), as text for the binary to print.

use std::fmt::Write as _;
use std::path::Path;

use crate::config::Config;
use crate::contract::{INGEST_SEQ, PARTITION_COLUMN, SOURCE_FILE, TABLES, TableKind};
use crate::error::Result;

/// The catalogue of tables, as text. The lake must exist; `report` (else
/// `<reports>/latest`) gives the `kpi.<name>` tables.
pub fn listing(config: &Config, report: Option<&Path>) -> Result<String> {
    let lake = super::existing_lake(config)?;
    let report = super::report_folder(config, report)?;
    let mut out = String::new();
    let _ = writeln!(out, "Lake tables ({}):\n", lake.display());
    for t in TABLES {
        let kind = match t.kind {
            TableKind::Event => "events, one row per event_id".to_string(),
            TableKind::Snapshot => {
                format!("optional snapshots, one row per ({})", t.key.join(", "))
            }
            TableKind::Master | TableKind::Versioned => format!(
                "versions; latest per ({}) in {}_current",
                t.key.join(", "),
                t.name
            ),
        };
        let _ = writeln!(out, "{} — {} ({kind})", t.name, t.doc);
        for f in t.fields {
            let mut rule = Vec::new();
            if f.required {
                rule.push("required".to_string());
            }
            if let Some(v) = f.enum_values {
                rule.push(format!("one of {}", v.join("/")));
            }
            let _ = writeln!(
                out,
                "    {:<18} {:<4} {}{}",
                f.name,
                f.ty.label(),
                f.doc,
                if rule.is_empty() {
                    String::new()
                } else {
                    format!(" [{}]", rule.join("; "))
                }
            );
        }
        let _ = writeln!(
            out,
            "    {INGEST_SEQ:<18} int  grows with ingest order (ties go to the later row)"
        );
        let _ = writeln!(
            out,
            "    {SOURCE_FILE:<18} str  export file the row came from"
        );
        let _ = writeln!(
            out,
            "    {PARTITION_COLUMN:<18} date UTC date of {} (Hive partition)\n",
            t.time_column
        );
    }
    let views: Vec<String> = TABLES
        .iter()
        .filter(|t| t.versioned())
        .map(|t| format!("{}_current", t.name))
        .collect();
    let _ = writeln!(
        out,
        "Views: {} — the latest version per key with updated_at ≤ the end of --as-of (default: all data).\n",
        views.join(", ")
    );
    for (name, sql) in crate::engine::shared_views() {
        let h = crate::kpi::parse_header(sql);
        let columns: Vec<&str> = h.columns.iter().map(|(c, _)| c.as_str()).collect();
        let _ = writeln!(
            out,
            "{name} (view, as of --as-of) — {} Columns: {}.\n",
            h.description,
            columns.join(", ")
        );
    }
    let _ = writeln!(
        out,
        "order_line_state — one row per order line over all the lake's data, kept by every ingest \
         (the views read it): the line's final version (order_lines' columns, version_seq, \
         version_source_file, version_date), units_shipped, units_shipped_by_promise, \
         last_shipped_at, first_shipment_id, last_shipment_id, known_line, changed_at (latest \
         instant of its versions and shipments), first_date (earliest event_date of its rows; \
         the table is partitioned by its month). Rebuilt by `opintel lake rebuild-state`.\n"
    );
    let _ = writeln!(
        out,
        "exception_state_kept — every state each exception has been in, one row per event, \
         kept by every ingest (exception_state reads it): exception_id, opened_at, valid_from \
         (the event's time), valid_to (the exception's next event; empty while current), the \
         event's status, exception_type, severity, owner, warehouse_id, location_id, sku, \
         supplier_id, event_seq, first_date; partitioned by the month of valid_to (a current \
         state: the month of valid_from 7000 years on, 2026-11 → 9026-11-01). As of D an exception's state is its row with valid_from ≤ end(D) < \
         valid_to.\n"
    );
    let _ = writeln!(
        out,
        "return_state_kept — every state each return has been in, one row per event, kept by \
         every ingest (return_state reads it): return_id, valid_from, valid_to, received_at \
         (first receipt so far), dispositioned_at, warehouse_id, disposition (latest \
         disposition so far), event_seq, first_date; partitioned like exception_state_kept. \
         Both are rebuilt by `opintel lake rebuild-state` too.\n"
    );
    let _ = writeln!(
        out,
        "pick_months_kept — per SKU-location and old UTC month (one the shipments hold data \
         31 days past), kept by every ingest (pick_months reads it): the pick_months \
         columns, half_life_days (the configured count-priority half-life the exposure was \
         summed with), shipment_rows and count_rows (the rows shipments and cycle_counts \
         held in the month when it was written; a session reads a month only while they \
         still do and the run's half-life is the same); partitioned by the month. Rebuilt \
         by `opintel lake rebuild-state` too.\n"
    );
    let _ = writeln!(
        out,
        "items_state_kept, locations_state_kept, suppliers_state_kept — every version of the \
         master table, kept by every ingest: the table's own columns and version_date (its \
         event_date there), partitioned by the month of version_date. A session reads the \
         master tables from them (a few month files instead of one file per day). A state \
         that holds another number of rows than its table (or exception_state_kept, \
         return_state_kept than their events) missed a write by another tool: it is not \
         read, and the next ingest builds it again.\n"
    );
    let _ = writeln!(
        out,
        "Rejects: _rejects_<table> (source_file, line, raw, reason, txn, rejected_at), e.g. _rejects_shipments.\n"
    );
    let queries = crate::kpi::catalogue(config.queries.as_deref())?;
    let _ = writeln!(
        out,
        "KPI tables (kpi.<name>{}):\n",
        report
            .as_ref()
            .map(|r| format!(", from {}", r.display()))
            .unwrap_or_else(|| ", none yet: run `opintel run` first".into())
    );
    for q in &queries {
        let present = report
            .as_ref()
            .is_some_and(|r| r.join("kpis").join(format!("{}.parquet", q.name)).is_file());
        let _ = writeln!(
            out,
            "kpi.{} — {}{}\n    grain: {}",
            q.name,
            if q.header.title.is_empty() {
                &q.name
            } else {
                &q.header.title
            },
            if present { "" } else { " (not in this report)" },
            q.header.grain
        );
        for (c, d) in &q.header.columns {
            let _ = writeln!(out, "    {c:<28} {d}");
        }
        out.push('\n');
    }
    // KPI tables of the report that the catalogue does not know (a run's own queries
    // folder, the priority backtest): their columns from the Parquet file itself.
    if let Some(dir) = report.as_ref().map(|r| r.join("kpis"))
        && let Ok(entries) = std::fs::read_dir(&dir)
    {
        let mut extra: Vec<std::path::PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "parquet"))
            .filter(|p| {
                let stem = p
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default();
                !queries.iter().any(|q| q.name == stem)
            })
            .collect();
        extra.sort();
        for p in extra {
            let name = p
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            let _ = writeln!(out, "kpi.{name} — in this report");
            if let Ok(file) = std::fs::File::open(&p)
                && let Ok(b) = datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
            {
                for f in b.schema().fields() {
                    let _ = writeln!(out, "    {:<28} {}", f.name(), f.data_type());
                }
            }
            out.push('\n');
        }
    }
    let _ = writeln!(
        out,
        "Parameters bound in every query: $as_of, $window_start, $window_end, $window_start_date, $window_days, \
         $window_end_us, $partition_min, $partition_max, $history_days, $history_start, $history_partition_min, $count_tolerance, $sla_<severity>_hours, and [params] of the config."
    );
    Ok(out)
}
