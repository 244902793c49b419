//! What the generator writes besides the exports: the ground truth of planted
//! stock-record errors (`ground_truth/record_errors.csv` and its README), the 3PL's
//! source mappings (`opintel.toml`) and the run's `README.md` (options, rows per table,
//! noise per kind and table, promotion dates, what the simulation did).
//!
//! The README's tables are machine-checkable: one `| kind | table | rows | … |` line
//! per noise kind and table.

use std::fmt::Write as _;
use std::io;

use super::GenerateOptions;
use super::layout;
use super::model::{ErrorKind, Style};
use super::noise::{NoiseKind, Table, Tally};
use super::simulate::Sim;
use super::timefmt::{iso_date, push_qty, rfc3339};

/// Planted errors in ground-truth order, with their end-of-period quantities.
pub(crate) struct TruthRow {
    pub warehouse: String,
    pub location: String,
    pub sku: String,
    pub kind: &'static str,
    pub planted_at: i64,
    pub system: f64,
    pub truth: f64,
}

pub(crate) fn truth_rows(sim: &Sim) -> Vec<TruthRow> {
    let w = &sim.world;
    let mut rows: Vec<TruthRow> = w
        .planted
        .iter()
        .map(|p| {
            let s = &w.slots[p.slot as usize];
            TruthRow {
                warehouse: w.warehouses[s.wh as usize].id.clone(),
                location: w.locations[s.loc as usize].id_text(),
                sku: w.items[s.item as usize].sku_text(),
                kind: p.kind.name(),
                planted_at: p.at,
                system: s.system,
                truth: s.truth,
            }
        })
        .collect();
    rows.sort_by(|a, b| {
        (&a.warehouse, &a.location, &a.sku).cmp(&(&b.warehouse, &b.location, &b.sku))
    });
    rows
}

fn qty(v: f64) -> String {
    let mut b = Vec::new();
    push_qty(&mut b, v);
    String::from_utf8_lossy(&b).into_owned()
}

/// Write the ground truth, the mapping file and the README.
pub(crate) fn write_all(sim: &Sim, opts: &GenerateOptions) -> io::Result<()> {
    let gt = opts.out.join("ground_truth");
    std::fs::create_dir_all(&gt)?;
    let rows = truth_rows(sim);
    let mut csv = String::from(
        "warehouse_id,location_id,sku,error_kind,planted_at,system_qty,true_qty,error_units\n",
    );
    for r in &rows {
        let _ = writeln!(
            csv,
            "{},{},{},{},{},{},{},{}",
            r.warehouse,
            r.location,
            r.sku,
            r.kind,
            rfc3339(r.planted_at),
            qty(r.system),
            qty(r.truth),
            qty(r.truth - r.system)
        );
    }
    std::fs::write(gt.join("record_errors.csv"), csv)?;
    std::fs::write(gt.join("README.md"), truth_readme(sim, &rows))?;
    std::fs::write(opts.out.join("opintel.toml"), layout::opintel_toml())?;
    std::fs::write(opts.out.join("README.md"), readme(sim, opts, &rows))?;
    Ok(())
}

fn truth_readme(sim: &Sim, rows: &[TruthRow]) -> String {
    let zero = rows.iter().filter(|r| r.truth == r.system).count();
    let mut by_kind: Vec<(&str, usize)> = Vec::new();
    for r in rows {
        match by_kind.iter_mut().find(|(k, _)| *k == r.kind) {
            Some(e) => e.1 += 1,
            None => by_kind.push((r.kind, 1)),
        }
    }
    by_kind.sort();
    let mut s = String::from("# Ground truth: planted stock-record errors\n\n");
    s.push_str(
        "`record_errors.csv` lists every SKU-location (warehouse, pick location, SKU) whose stock record the \
         generator made go wrong **systematically**: the cause recurs after every correction, so the record \
         drifts from the physical stock again and again. A cycle-count prioritisation should rank these high. \
         Everything else that goes wrong in the data is one-off noise (a mis-pick taken from the neighbouring \
         bin, a counter's ±1 mistake, a miscounted receipt, an unbooked breakage): it is corrected by the next \
         count and does not recur, and it is *not* listed here.\n\n",
    );
    s.push_str("| column | meaning |\n|---|---|\n");
    s.push_str("| warehouse_id | warehouse of the slot |\n| location_id | its pick location (in `locations.csv`) |\n");
    s.push_str("| sku | the SKU (in `items.csv` or a later `items-*.csv`) |\n");
    s.push_str("| error_kind | `phantom_stock` (shrink/theft drains the bin every few days, never booked), `mis_slotting` (part of every receipt is put away elsewhere), `uom_error` (case packs booked as units or units as packs on receipt: hidden stock when true > system, missing stock when true < system), `damaged_not_recorded` (damaged units discarded on receipt and breakage, never booked) |\n");
    s.push_str("| planted_at | when the cause started (UTC); up to 60 days before the first exported day |\n");
    s.push_str("| system_qty | what the WMS believes at the end of the last day |\n");
    s.push_str("| true_qty | what is physically in the bin at the end of the last day |\n");
    s.push_str("| error_units | true_qty − system_qty (negative: phantom stock; positive: hidden stock) |\n\n");
    let _ = writeln!(
        s,
        "Planted SKU-locations: {} ({}).",
        rows.len(),
        by_kind
            .iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let empty = rows
        .iter()
        .filter(|r| r.truth == 0.0 && r.system == 0.0)
        .count();
    let _ = writeln!(
        s,
        "\n{zero} of them have error_units 0 at the end: {empty} because bin and record are both empty \
         (waiting for a delivery), the others because the record was corrected (a cycle count, a picker's \
         shrink booking) after the cause last struck. They stay in the set because the cause is still there \
         and strikes again at the next put-away or drain.\n"
    );
    let st = &sim.stats;
    let _ = writeln!(
        s,
        "Signals in the data: {} pick shortages in total, {} of them at planted SKU-locations. One-off noise: \
         {} mis-picks, {} counter mistakes, {} receipt miscounts, {} unbooked one-off losses.",
        st.pick_shortages,
        st.pick_shortages_planted,
        st.mispicks,
        st.counter_errors,
        st.receipt_miscounts,
        st.one_off_losses
    );
    s.push_str(
        "\nPlanted errors are more frequent in one \"messy\" pick zone per warehouse and among a few suppliers' \
         SKUs, but spread over every warehouse, zone and velocity class; many sit on slow movers that are rarely \
         picked or counted, so they are quiet in the data.\n",
    );
    s
}

fn readme(sim: &Sim, opts: &GenerateOptions, rows: &[TruthRow]) -> String {
    let w = &sim.world;
    let tally: &Tally = &sim.out.noise.tally;
    let first = iso_date(w.day0);
    let last = iso_date(w.day0 + i64::from(w.days) - 1);
    let mut s = String::from("# Sample operation (generated by `opintel generate`)\n\n");
    let _ = writeln!(
        s,
        "Options: seed {}, days {}, scale {}, end {}. Exports cover {first} to {last} (one folder per nightly \
         export under `exports/`).\n",
        opts.seed, opts.days, opts.scale, opts.end
    );
    let promo_a = iso_date(w.day0 + i64::from(w.promo_start));
    let promo_b = iso_date(w.day0 + i64::from(w.promo_start + w.promo_days - 1));
    let _ = writeln!(
        s,
        "Promotion: {promo_a} to {promo_b} ({} days, warehouse-local days): web and marketplace demand about \
         2.5× in total, concentrated on {} promoted SKUs (8×; the others share the rest of the lift); stockouts follow.\n",
        w.promo_days,
        w.promoted.iter().filter(|p| **p).count()
    );
    s.push_str("## Warehouses\n\n| warehouse_id | time zone | export format |\n|---|---|---|\n");
    for wh in &w.warehouses {
        let fmt = match wh.style {
            Style::East => {
                "CSV, `Z` timestamps (cycle counts with milliseconds), adjustments carry an extra `wms_batch` column"
            }
            Style::West => {
                "CSV with UTF-8 BOM and CRLF, timestamps with the local offset, shipments gzip"
            }
            Style::ThirdParty => {
                "the 3PL's `;` CSV (`3pl_central_<kind>_YYYYMMDD.csv`), own column names and codes, naive America/Chicago `%d/%m/%Y %H:%M:%S`, delivered 1–2 days late; read with `opintel.toml`"
            }
            Style::Other => "gzip CSV, `Z` timestamps",
        };
        let tz = match wh.letter {
            'E' | 'A' => "America/New_York",
            'W' | 'P' => "America/Los_Angeles",
            'M' => "America/Denver",
            _ => "America/Chicago",
        };
        let _ = writeln!(s, "| {} | {tz} | {fmt} |", wh.id);
    }
    s.push_str(
        "\nNetwork feeds: `order_lines-*.csv` (OMS: web, b2b, retail_replenishment), \
         `order_lines-marketplace-*.ndjson.zst` (marketplace channel), `receipts-*.csv` (ERP, all sites, the \
         3PL included), `exception_events-*.csv` (own sites; milliseconds), `return_events-*.csv.gz` (returns \
         platform, all sites). Day 1 has the full `items.csv`, `locations.csv`, `suppliers.csv` (and a backlog \
         of exception events up to 60 days old); later days have `items-YYYY-MM-DD.csv` change files.\n\n",
    );
    s.push_str("## Rows written per table\n\nData lines as written (duplicates and noise rows included).\n\n| table | rows |\n|---|---|\n");
    let mut total = 0;
    for t in Table::ALL {
        let _ = writeln!(s, "| {} | {} |", t.name(), tally.rows[t as usize]);
        total += tally.rows[t as usize];
    }
    let _ = writeln!(s, "| total | {total} |\n");
    let _ = writeln!(s, "Export files: {}.\n", tally.files.len());
    s.push_str("## Noise injected\n\nInvalid rows are *extra* corrupted copies (own event id with suffix `-r`), never replacements: every simulated fact is present once and valid. Expected product counts: rejects = sum of the `invalid_*` rows; duplicates skipped = `overlap_duplicate` + `resent_file_rows`. Counts are injections: a respelled row that an overlapping or re-sent export repeats is counted once here (the repeat is a duplicate). The re-sent file never contains invalid rows.\n\n| kind | table | rows | meaning |\n|---|---|---|---|\n");
    for k in NoiseKind::ALL {
        for t in Table::ALL {
            let n = tally.noise[t as usize][k as usize];
            if n > 0 {
                let _ = writeln!(s, "| {} | {} | {n} | {} |", k.name(), t.name(), k.meaning());
            }
        }
    }
    s.push_str("\nTotals per kind:\n\n| kind | rows |\n|---|---|\n");
    for k in NoiseKind::ALL {
        let _ = writeln!(s, "| {} | {} |", k.name(), tally.kind_total(k));
    }
    let invalid: u64 = NoiseKind::ALL
        .iter()
        .filter(|k| k.invalid())
        .map(|&k| tally.kind_total(k))
        .sum();
    let _ = writeln!(
        s,
        "\nInvalid rows in total: {invalid}. 3PL rows still missing at the end (not written, not counted above): {}.\n",
        tally.kind_total(NoiseKind::MissingAtEnd)
    );
    let st = &sim.stats;
    s.push_str("## What the simulation did\n\n");
    let _ = writeln!(
        s,
        "- {} orders, {} order lines; {} units ordered, {} shipped",
        st.orders,
        st.lines,
        st.units_ordered.round(),
        st.units_shipped.round()
    );
    let _ = writeln!(
        s,
        "- {} customer cancellations, {} stockout cancellations",
        st.customer_cancels, st.stockout_cancels
    );
    let _ = writeln!(
        s,
        "- {} purchase orders, {} transfers between sites, {} SKUs launched during the period",
        st.pos, st.transfers, st.new_skus
    );
    let _ = writeln!(
        s,
        "- inventory snapshots (own sites, the last {} days; written without noise): {} rows in {} files",
        super::stock::SNAPSHOT_DAYS.min(w.days),
        st.snapshot_rows,
        st.snapshot_files
    );
    let active: Vec<_> = w.slots.iter().filter(|x| x.active_from < w.days).collect();
    let empty = active
        .iter()
        .filter(|x| x.system <= 0.0 && x.truth <= 0.0)
        .count();
    let wrong = active.iter().filter(|x| x.system != x.truth).count();
    let _ = writeln!(
        s,
        "- {} SKU-locations; at the end {empty} are empty (record and bin) and {wrong} have a record that differs from the bin",
        active.len()
    );
    let _ = writeln!(
        s,
        "- {} cycle counts, {} with a variance (each followed by a count_correction)",
        st.counts, st.counts_with_variance
    );
    let _ = writeln!(
        s,
        "- {} pick shortages ({} at planted SKU-locations)",
        st.pick_shortages, st.pick_shortages_planted
    );
    let _ = writeln!(
        s,
        "- {} exceptions ({} from the backlog before day 1)",
        st.exceptions, st.backlog_exceptions
    );
    let _ = writeln!(s, "- {} returns", st.returns);
    let planted = |k: ErrorKind| w.planted.iter().filter(|p| p.kind == k).count();
    let _ = writeln!(
        s,
        "- {} planted stock-record errors (phantom_stock {}, mis_slotting {}, uom_error {}, damaged_not_recorded {}); {} with error_units 0 at the end; see `ground_truth/README.md`",
        rows.len(),
        planted(ErrorKind::PhantomStock),
        planted(ErrorKind::MisSlotting),
        planted(ErrorKind::UomHidden) + planted(ErrorKind::UomOver),
        planted(ErrorKind::DamagedNotRecorded),
        rows.iter().filter(|r| r.truth == r.system).count()
    );
    let _ = writeln!(
        s,
        "- one-off noise: {} mis-picks, {} counter mistakes, {} receipt miscounts, {} unbooked losses",
        st.mispicks, st.counter_errors, st.receipt_miscounts, st.one_off_losses
    );
    s.push_str("\n## Choices worth knowing\n\n");
    s.push_str("- Export folders follow each warehouse's local business day; rows keep their exact UTC instant, so late-evening events on the US west coast carry the next UTC date.\n");
    s.push_str("- The 3PL's events of business day d arrive in the folder of day d+1 or d+2; the last day's batch (and the day before's when it is two days late) is not delivered yet, so the 3PL's last days look incomplete.\n");
    s.push_str("- Receipts and returns of the 3PL are in the network ERP and returns feeds; its shipments, counts, adjustments and exceptions only in its own files.\n");
    s.push_str("- The 3PL's backlog of old exceptions arrives with its first batch (business day 1, in the folder of day 2 or 3); the own sites' backlog is in day 1's `exception_events` file.\n");
    s.push_str("- Invalid rows are extra rows, so KPI values are the same whether or not a reader rejects them; quantities of `bulk_food` items are kilograms in 0.5 steps.\n");
    s.push_str("- Cycle counts record `system_qty` as the WMS had it; a `count_correction` adjustment of counted − system follows each count with a variance, a few minutes later.\n");
    s.push_str("- Events after the last day are not written (they have not happened yet): some exceptions are still open, some returns not dispositioned.\n");
    s.push_str("\nThe 3PL's source mappings are in `opintel.toml` (read it with `--config`).\n");
    s
}
