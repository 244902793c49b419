//! Ingest: export files → validated, de-duplicated rows in the lake (CONTRACT §2–3).
//!
//! Files are found, hashed and classified; files already in the lake (same content
//! hash) are skipped. The rest are read in record batches by a format reader
//! (`csv`, `ndjson`, `parquet`), validated column by column (`validate`) and written
//! by the table's sink (`sink`) inside one lake transaction, so the whole ingest
//! appears at once or not at all. Tables are ingested in parallel, the files of one
//! table in path order (ties in `updated_at` go to the later file).
//!
//! For every file: rows read = accepted + rejected + duplicates. A bad row is a
//! reject with its line, raw text and reason; a bad file (unknown table, missing
//! required column, unreadable) is reported and skipped while every other file goes on.

pub(crate) mod csv;
pub(crate) mod ndjson;
pub(crate) mod parquet;
pub(crate) mod raw;
mod report;
mod sink;
pub(crate) mod source;
pub(crate) mod timestamp;
pub(crate) mod validate;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};

use crate::config::{Config, parse_tz};
use crate::contract::TableSpec;
use crate::error::Result;
use crate::lake::{Lake, SourceRecord, Txn};

use raw::{ColumnMap, RawBatch};
pub use report::{FileReport, FileStatus, IngestReport, TableSummary, group};
use sink::TableSink;
use source::{Format, SourceFile};
use timestamp::TsParser;
use validate::Validator;

/// A problem that stops reading a file (rows read before it are kept).
#[derive(Debug, Clone)]
pub(crate) struct FileProblem {
    pub line: Option<u64>,
    pub message: String,
}

impl FileProblem {
    pub fn at(line: u64, message: impl Into<String>) -> Self {
        FileProblem {
            line: Some(line),
            message: message.into(),
        }
    }
    pub fn file(message: impl Into<String>) -> Self {
        FileProblem {
            line: None,
            message: message.into(),
        }
    }
}

/// A file waiting to be ingested: its place in the report, how to read it, its hash.
struct Pending {
    index: usize,
    src: SourceFile,
    hash: String,
}

/// A reader of one file's rows.
pub(crate) trait RowSource: Send {
    fn column_map(&self) -> &ColumnMap;
    /// Source columns that are not canonical.
    fn extras(&self) -> Vec<String> {
        self.column_map().extras.clone()
    }
    fn next_batch(&mut self) -> Result<Option<RawBatch>, FileProblem>;
}

/// Ingest `paths` (files or folders) into `lake` in one transaction.
pub fn ingest(
    config: &Config,
    lake: &Lake,
    paths: &[PathBuf],
    show_progress: bool,
) -> Result<IngestReport> {
    let started = Instant::now();
    let files = source::discover(paths)?;
    let known = lake.ingested_files()?;
    let mut reports: Vec<FileReport> = Vec::new();
    let mut todo: BTreeMap<&'static str, Vec<Pending>> = BTreeMap::new();
    let mut seen_hashes: HashMap<String, PathBuf> = HashMap::new();
    let mut total_bytes = 0;

    for path in &files {
        let mut report = FileReport::new(path);
        match source::classify(path, config) {
            Ok(None) => {
                report.status = FileStatus::Ignored;
                report.message =
                    "not an export (extension is not csv, tsv, ndjson, jsonl, json or parquet)"
                        .into();
            }
            Err(m) => {
                report.status = FileStatus::Failed;
                report.message = m;
            }
            Ok(Some(src)) => {
                report.table = Some(src.table.name.to_string());
                report.format = src.format.label(src.compression);
                report.bytes = src.size;
                match source::content_hash(path) {
                    Err(e) => {
                        report.status = FileStatus::Failed;
                        report.message = format!("cannot read: {e}");
                    }
                    Ok(hash) => {
                        if let Some(prev) = known.get(&hash) {
                            report.status = FileStatus::Skipped;
                            report.message =
                                format!("already ingested (same content as {})", prev.path);
                        } else if let Some(prev) = seen_hashes.get(&hash) {
                            report.status = FileStatus::Skipped;
                            report.message =
                                format!("same content as {} in this run", prev.display());
                        } else {
                            seen_hashes.insert(hash.clone(), path.clone());
                            total_bytes += src.size;
                            todo.entry(src.table.name).or_default().push(Pending {
                                index: reports.len(),
                                src,
                                hash,
                            });
                        }
                    }
                }
            }
        }
        reports.push(report);
    }

    let bar = if show_progress && total_bytes > 0 {
        let b = ProgressBar::new(total_bytes);
        b.set_style(
            ProgressStyle::with_template(
                "{spinner} ingest [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta} {wide_msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        b
    } else {
        ProgressBar::hidden()
    };

    let txn = lake.begin()?;
    let txn_id = txn.id();
    let results: Mutex<Vec<(usize, FileReport)>> = Mutex::new(Vec::new());
    let first_error: Mutex<Option<crate::error::Error>> = Mutex::new(None);
    // Biggest tables first, so the last one to finish is a small one.
    let mut groups: Vec<Vec<Pending>> = todo.into_values().collect();
    groups.sort_by_key(|files| std::cmp::Reverse(files.iter().map(|f| f.src.size).sum::<u64>()));
    let queue = Mutex::new(groups.into_iter());
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
                    if let Err(e) = ingest_table(config, lake, &txn, group, &bar, &results) {
                        if let Ok(mut slot) = first_error.lock() {
                            slot.get_or_insert(e);
                        }
                        break;
                    }
                }
            });
        }
    });
    bar.finish_and_clear();
    if let Some(e) = first_error.into_inner().ok().flatten() {
        return Err(e);
    }
    for (i, r) in results.into_inner().unwrap_or_default() {
        reports[i] = r;
    }
    crate::fault::point("ingest.before_commit");
    let committed = txn.commit()?;
    Ok(IngestReport::new(
        committed.then_some(txn_id),
        reports,
        started.elapsed().as_secs_f64(),
    ))
}

/// Ingest the files of one table, in order.
fn ingest_table(
    config: &Config,
    lake: &Lake,
    txn: &Txn,
    files: Vec<Pending>,
    bar: &ProgressBar,
    results: &Mutex<Vec<(usize, FileReport)>>,
) -> Result<()> {
    let Some(table) = files.first().map(|f| f.src.table) else {
        return Ok(());
    };
    let mut sink = TableSink::new(txn, table)?;
    let mut done: Vec<(usize, FileReport, i64, i64)> = Vec::new();
    for Pending { index, src, hash } in files {
        bar.set_message(
            src.path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
        );
        let first_seq = sink.next_seq();
        let report = ingest_file(config, txn, &mut sink, &src, &hash, bar)?;
        done.push((index, report, first_seq, sink.next_seq()));
    }
    let dups = sink.finish(lake, txn)?;
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

fn ingest_file(
    config: &Config,
    txn: &Txn,
    sink: &mut TableSink,
    src: &SourceFile,
    hash: &str,
    bar: &ProgressBar,
) -> Result<FileReport> {
    let mut report = FileReport::new(&src.path);
    report.table = Some(src.table.name.to_string());
    report.format = src.format.label(src.compression);
    report.bytes = src.size;
    report.hash = hash.to_string();
    let label = src.path.display().to_string();
    crate::fault::point("ingest.file");
    let mut reader = match open_source(config, src, bar) {
        Ok(Some(r)) => r,
        Ok(None) => {
            report.status = FileStatus::Empty;
            report.message = "the file is empty".into();
            return Ok(report);
        }
        Err(p) => {
            report.status = FileStatus::Failed;
            report.message = p.describe();
            return Ok(report);
        }
    };
    report.extra_columns = reader.extras();
    let validator = validator_for(config, src.table, src);
    let mut reasons: HashMap<String, u64> = HashMap::new();
    loop {
        match reader.next_batch() {
            Ok(Some(raw)) => {
                report.rows_read += raw.rows_read();
                let v = validator.validate(raw);
                if !v.rejects.is_empty() {
                    report.rejected += v.rejects.len() as u64;
                    for r in &v.rejects {
                        *reasons
                            .entry(report::reason_pattern(&r.reason))
                            .or_default() += 1;
                    }
                    sink.reject(txn, &label, &v.rejects)?;
                }
                if let Some(batch) = v.batch {
                    let w = sink.write(txn, &label, batch)?;
                    crate::fault::point("ingest.batch");
                    report.accepted += w.accepted;
                    report.newest = report.newest.max(w.newest);
                }
            }
            Ok(None) => break,
            Err(p) => {
                report.status = FileStatus::Partial;
                report.message = format!(
                    "{}; the {} rows before it were kept",
                    p.describe(),
                    report.rows_read
                );
                break;
            }
        }
    }
    if report.status != FileStatus::Partial {
        report.status = if report.rows_read == 0 {
            report.message = match src.format {
                Format::Csv => "the file has a header but no rows".into(),
                _ => "the file has no rows".into(),
            };
            FileStatus::Empty
        } else {
            FileStatus::Ingested
        };
    }
    if reader.extras() != report.extra_columns {
        report.extra_columns = reader.extras();
    }
    report.set_reasons(reasons);
    Ok(report)
}

impl FileProblem {
    fn describe(&self) -> String {
        match self.line {
            Some(l) => format!("line {l}: {}", self.message),
            None => self.message.clone(),
        }
    }
}

fn open_source(
    config: &Config,
    src: &SourceFile,
    bar: &ProgressBar,
) -> Result<Option<Box<dyn RowSource>>, FileProblem> {
    let rows = config.ingest.batch_rows;
    let mapping = src.mapping.as_ref();
    if src.format == Format::Parquet {
        let file = std::fs::File::open(&src.path)
            .map_err(|e| FileProblem::file(format!("cannot open: {e}")))?;
        if src.size == 0 {
            return Ok(None);
        }
        let p = parquet::ParquetSource::open(file, src.table, mapping, rows)?;
        bar.inc(src.size);
        return Ok(Some(Box::new(p)));
    }
    let input =
        source::open_text(src, bar).map_err(|e| FileProblem::file(format!("cannot open: {e}")))?;
    match src.format {
        Format::Csv => Ok(
            csv::CsvSource::open(input, src.delimiter, src.table, mapping, rows)?
                .map(|c| Box::new(c) as Box<dyn RowSource>),
        ),
        _ => {
            if src.size == 0 {
                return Ok(None);
            }
            Ok(Some(Box::new(ndjson::NdjsonSource::open(
                input, src.table, mapping, rows,
            )?)))
        }
    }
}

fn validator_for(config: &Config, table: &'static TableSpec, src: &SourceFile) -> Validator {
    let mapping = src.mapping.as_ref();
    let tz_name = mapping
        .and_then(|m| m.time_zone.clone())
        .unwrap_or_else(|| config.ingest.time_zone.clone());
    let tz = parse_tz(&tz_name, "time_zone").unwrap_or(chrono_tz::Tz::UTC);
    let ts = TsParser::new(tz, mapping.and_then(|m| m.timestamp_format.clone()));
    Validator::new(
        table,
        mapping,
        ts,
        config.ingest.min_timestamp,
        config.ingest.max_timestamp,
    )
}
