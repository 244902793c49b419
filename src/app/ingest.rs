//! Ingest as a command and as the first stage of the nightly run: plan the files
//! (`ingest::plan`: found, classified, already-ingested ones skipped), read each
//! table's files in path order into the lake's sink for that table (tables in
//! parallel, one per core by default), and commit everything as one lake transaction,
//! so the whole ingest appears at once or not at all.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::config::Config;
use crate::error::{Error, Result};
use crate::ingest::{self, FileReport, FileStatus, IngestReport, Pending};
use crate::lake::{Lake, LakeLock, SourceRecord, TableSink, Txn};
use crate::progress::Shared;

/// `opintel ingest`: files or folders into the lake, under its lock.
pub fn ingest_command(
    config: &Config,
    inputs: &[PathBuf],
    wait: Option<Duration>,
    progress: &Shared,
) -> Result<IngestReport> {
    let lock = LakeLock::acquire(&config.lake, wait)?;
    let lake = Lake::open_for_write(&config.lake, &lock)?;
    ingest(config, &lake, inputs, progress)
}

/// Ingest `inputs` (files or folders) into `lake` in one transaction. Call with the
/// lake's lock held.
pub fn ingest(
    config: &Config,
    lake: &Lake,
    inputs: &[PathBuf],
    progress: &Shared,
) -> Result<IngestReport> {
    let started = Instant::now();
    let known = lake.ingested_files()?;
    tracing::debug!(
        seconds = started.elapsed().as_secs_f64(),
        "ingested files listed"
    );
    let plan = ingest::plan(config, inputs, &|hash, table| {
        known
            .get(&(hash.to_string(), table.to_string()))
            .map(|s| s.path.clone())
    })?;
    let mut reports = plan.reports;
    if plan.bytes > 0 {
        progress.start("ingest", plan.bytes);
    }
    let txn = lake.begin()?;
    let txn_id = txn.id();
    let results: Mutex<Vec<(usize, FileReport)>> = Mutex::new(Vec::new());
    let first_error: Mutex<Option<Error>> = Mutex::new(None);
    let queue = Mutex::new(plan.groups.into_iter());
    let workers = match config.ingest.parallel_files {
        0 => std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2),
        n => n,
    };
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| {
                loop {
                    let next = queue.lock().map(|mut q| q.next()).ok().flatten();
                    let Some(group) = next else { break };
                    if let Err(e) = ingest_table(config, lake, &txn, group, progress, &results) {
                        if let Ok(mut slot) = first_error.lock() {
                            slot.get_or_insert(e);
                        }
                        break;
                    }
                }
            });
        }
    });
    progress.finish();
    if let Some(e) = first_error.into_inner().ok().flatten() {
        return Err(e);
    }
    for (i, r) in results.into_inner().unwrap_or_default() {
        reports[i] = r;
    }
    tracing::info!(
        seconds = started.elapsed().as_secs_f64(),
        "files read and staged"
    );
    // The state tables move with the rows this transaction adds, in its commit.
    let kept = Instant::now();
    for (kind, change) in
        crate::engine::state::maintain(lake, &txn, crate::kpi::priority_half_life(&config.params))?
    {
        tracing::info!(
            state = kind.rel,
            rebuilt = change.rebuilt,
            touched = change.lines,
            months = change.partitions,
            rows = change.rows_written,
            seconds = change.took.as_secs_f64(),
            "state kept"
        );
    }
    tracing::info!(seconds = kept.elapsed().as_secs_f64(), "states kept");
    // Then the days the rows land in are merged with their small files (after the
    // states, which read the staged rows as the night's new ones).
    let merging = Instant::now();
    let merged = crate::engine::state::merge_days(lake, &txn, config.ingest.merge_day_rows)?;
    tracing::info!(
        days = merged.days,
        files = merged.files,
        rows = merged.rows,
        seconds = merging.elapsed().as_secs_f64(),
        "small day files merged"
    );
    crate::fault::point("ingest.before_commit");
    let committing = Instant::now();
    let committed = txn.commit()?;
    tracing::info!(seconds = committing.elapsed().as_secs_f64(), "committed");
    // Housekeeping after the commit: a failure leaves old files for the next ingest
    // (or `lake vacuum`), not a failed ingest.
    if committed && config.ingest.state_retain_hours > 0.0 {
        let sweeping = Instant::now();
        match lake.vacuum_state(config.ingest.state_retain_hours) {
            Ok(files) => tracing::info!(
                files,
                seconds = sweeping.elapsed().as_secs_f64(),
                "replaced state files deleted"
            ),
            Err(e) => tracing::warn!(
                error = %e,
                "replaced state files not deleted: the next ingest tries again, `opintel lake vacuum` deletes them too"
            ),
        }
    }
    Ok(IngestReport::new(
        committed.then_some(txn_id),
        reports,
        started.elapsed().as_secs_f64(),
    ))
}

/// Read the files of one table, in order, into its sink; then find duplicates and
/// record each file as ingested.
fn ingest_table(
    config: &Config,
    lake: &Lake,
    txn: &Txn,
    files: Vec<Pending>,
    progress: &Shared,
    results: &Mutex<Vec<(usize, FileReport)>>,
) -> Result<()> {
    let Some(table) = files.first().map(Pending::table) else {
        return Ok(());
    };
    // A guess of the rows coming, to size the filter of identities seen: ~40 bytes a
    // row of text, compressed files ~6 times smaller than their text.
    let expected: u64 = files
        .iter()
        .map(|f| {
            f.src
                .size
                .saturating_mul(if f.src.is_compressed() { 6 } else { 1 })
                / 40
        })
        .sum();
    let mut sink = TableSink::new(lake, txn, table, expected)?;
    let mut done: Vec<(usize, FileReport, i64, i64)> = Vec::new();
    for file in &files {
        progress.message(
            &file
                .src
                .path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
        );
        let first_seq = sink.next_seq();
        let report = ingest::read_file(config, file, &mut sink, progress)?;
        done.push((file.index, report, first_seq, sink.next_seq()));
    }
    let finishing = Instant::now();
    let dups = sink.finish()?;
    tracing::debug!(
        table = table.name,
        seconds = finishing.elapsed().as_secs_f64(),
        "table de-duplicated and staged"
    );
    for (index, mut report, from, to) in done {
        let d = dups.count_in(from, to);
        report.duplicates += d;
        report.accepted -= d;
        if matches!(
            report.status,
            FileStatus::Ingested | FileStatus::Partial | FileStatus::Empty
        ) {
            txn.record_source(SourceRecord {
                hash: report.hash.clone(),
                path: report.path.clone(),
                table: table.name.to_string(),
                rows_read: report.rows_read,
                accepted: report.accepted,
                rejected: report.rejected,
                duplicates: report.duplicates,
            });
        }
        if let Ok(mut r) = results.lock() {
            r.push((index, report));
        }
    }
    Ok(())
}
