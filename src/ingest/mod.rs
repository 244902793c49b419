//! Ingest: export files → validated, de-duplicated rows in the lake (docs/contract.md).
//!
//! [`plan`] finds, hashes and classifies files; files the lake already holds (same
//! content hash) are skipped. [`read_file`] reads the rest in record batches with a
//! format reader (`csv`, `ndjson`, `parquet`), validates them column by column
//! (`validate`) and hands valid rows and rejects to a [`RowSink`]. This module does not
//! know where rows are stored: the lake implements the sink, and the `app` layer runs
//! the tables in parallel inside one lake transaction.
//!
//! For every file: rows read = accepted + rejected + duplicates. A bad row is a
//! reject with its line, raw text and reason; a bad file (unknown table, missing
//! required column, unreadable) is reported and skipped while every other file goes on.

pub(crate) mod csv;
pub(crate) mod derive;
#[doc(hidden)]
pub mod fuzzing;
pub(crate) mod ndjson;
pub(crate) mod parquet;
pub(crate) mod raw;
mod report;
pub(crate) mod source;
pub(crate) mod timestamp;
pub(crate) mod validate;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use datafusion::arrow::record_batch::RecordBatch;

use crate::config::{Config, parse_tz};
use crate::contract::TableSpec;
use crate::error::Result;
use crate::progress::Shared;

pub use raw::Reject;
use raw::{ColumnMap, RawBatch};
pub use report::{FileReport, FileStatus, IngestReport, TableSummary, group};
use source::Format;
pub use source::SourceFile;
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

/// A file to be read: its place in the plan's reports, how to read it, its hash.
pub struct Pending {
    pub index: usize,
    pub src: SourceFile,
    pub hash: String,
}

impl Pending {
    /// The canonical table the file belongs to.
    pub fn table(&self) -> &'static TableSpec {
        self.src.table
    }
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

/// Where a file's validated rows go (the lake implements it).
pub trait RowSink {
    /// Rows refused by validation, with their reasons; `source` names the file.
    fn reject(&mut self, source: &str, rejects: &[Reject]) -> Result<()>;
    /// Valid rows in the canonical schema.
    fn write(&mut self, source: &str, batch: RecordBatch) -> Result<Written>;
}

/// What a sink did with one batch of valid rows.
#[derive(Debug, Clone, Copy, Default)]
pub struct Written {
    /// Rows kept; some may turn out to be duplicates when the sink finishes.
    pub accepted: u64,
    /// Newest value of the table's time column among them (µs).
    pub newest: Option<i64>,
}

/// What an ingest will do: a report for every file found, and the files to read,
/// grouped by table (in path order within a table; biggest tables first).
pub struct Plan {
    pub reports: Vec<FileReport>,
    pub groups: Vec<Vec<Pending>>,
    /// Bytes of the files to read.
    pub bytes: u64,
}

/// Find the export files under `paths`, classify them and decide which to read.
/// `known` says, for a content hash and a table, which file the lake already holds
/// with it in that table.
pub fn plan(
    config: &Config,
    paths: &[PathBuf],
    known: &dyn Fn(&str, &str) -> Option<String>,
) -> Result<Plan> {
    let files = source::discover(paths)?;
    let mut reports: Vec<FileReport> = Vec::new();
    let mut todo: BTreeMap<&'static str, Vec<Pending>> = BTreeMap::new();
    let mut seen_hashes: HashMap<(String, &'static str), PathBuf> = HashMap::new();
    let mut bytes = 0;
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
                        let key = (hash.clone(), src.table.name);
                        if let Some(prev) = known(&hash, src.table.name) {
                            report.status = FileStatus::Skipped;
                            report.message = format!("already ingested (same content as {prev})");
                        } else if let Some(prev) = seen_hashes.get(&key) {
                            report.status = FileStatus::Skipped;
                            report.message =
                                format!("same content as {} in this run", prev.display());
                        } else {
                            seen_hashes.insert(key, path.clone());
                            bytes += src.size;
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
    // Biggest tables first, so the last one to finish is a small one.
    let mut groups: Vec<Vec<Pending>> = todo.into_values().collect();
    groups.sort_by_key(|files| std::cmp::Reverse(files.iter().map(|f| f.src.size).sum::<u64>()));
    Ok(Plan {
        reports,
        groups,
        bytes,
    })
}

/// Read one file into `sink`: every row is accepted (handed to the sink) or rejected
/// with a reason; a problem part-way keeps the rows before it. `progress` advances by
/// the file's bytes as they are read.
pub fn read_file(
    config: &Config,
    file: &Pending,
    sink: &mut dyn RowSink,
    progress: &Shared,
) -> Result<FileReport> {
    ingest_file(config, sink, &file.src, &file.hash, progress)
}

fn ingest_file(
    config: &Config,
    sink: &mut dyn RowSink,
    src: &SourceFile,
    hash: &str,
    bar: &Shared,
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
    let derive = match src.mapping.as_ref() {
        Some(m) => match derive::Derive::plan(src.table, m, reader.column_map()) {
            Ok(d) => d,
            Err(p) => {
                report.status = FileStatus::Failed;
                report.message = p.describe();
                return Ok(report);
            }
        },
        None => None,
    };
    let ts = ts_parser_for(config, src);
    let mut reasons: HashMap<String, u64> = HashMap::new();
    // Two stages on two threads, so a single big file keeps two cores busy: this
    // thread writes what the other reads, derives and validates. The channel holds
    // two batches, so memory stays flat whatever the file's size.
    let extras = std::thread::scope(|s| -> Result<Vec<String>> {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Stage>(2);
        let producer = s.spawn(move || {
            produce(&mut *reader, derive.as_ref(), &validator, &ts, &tx);
            reader.extras()
        });
        let consumed = consume(rx, sink, &label, &mut report, &mut reasons);
        // On an error the receiver is gone and the producer stops at its next send.
        // A panic in the reader is this thread's panic, as if it had run here.
        let extras = producer
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        consumed.map(|()| extras)
    })?;
    if report.status == FileStatus::Failed {
        return Ok(report);
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
    if extras != report.extra_columns {
        report.extra_columns = extras;
    }
    report.set_reasons(reasons);
    Ok(report)
}

/// What the reading stage hands to the writing stage.
enum Stage {
    /// Rows read from the file (before derivation), then what validation made of them.
    Rows(u64, validate::Validated),
    /// Deriving fields failed: the file stops here.
    Derive(FileProblem),
    /// Reading failed: the file stops here.
    Read(FileProblem),
}

/// The reading stage: read, derive and validate batches until the file ends, a
/// problem stops it or the writing stage hangs up.
fn produce(
    reader: &mut dyn RowSource,
    derive: Option<&derive::Derive>,
    validator: &Validator,
    ts: &TsParser,
    tx: &std::sync::mpsc::SyncSender<Stage>,
) {
    loop {
        let stage = match reader.next_batch() {
            Ok(None) => return,
            Err(p) => Stage::Read(p),
            Ok(Some(raw)) => {
                let read = raw.rows_read();
                let derived = match derive {
                    Some(d) => d.apply(raw, ts),
                    None => Ok(raw),
                };
                match derived {
                    Ok(raw) => Stage::Rows(read, validator.validate(raw)),
                    Err(p) => {
                        // The rows were read even though none of them is kept.
                        if tx
                            .send(Stage::Rows(read, validate::Validated::default()))
                            .is_err()
                        {
                            return;
                        }
                        Stage::Derive(p)
                    }
                }
            }
        };
        let last = !matches!(stage, Stage::Rows(..));
        if tx.send(stage).is_err() || last {
            return;
        }
    }
}

/// The writing stage: hand valid rows and rejects to the sink and keep the report.
fn consume(
    rx: std::sync::mpsc::Receiver<Stage>,
    sink: &mut dyn RowSink,
    label: &str,
    report: &mut FileReport,
    reasons: &mut HashMap<String, u64>,
) -> Result<()> {
    for stage in rx {
        match stage {
            Stage::Rows(read, v) => {
                report.rows_read += read;
                if !v.rejects.is_empty() {
                    report.rejected += v.rejects.len() as u64;
                    for r in &v.rejects {
                        *reasons
                            .entry(report::reason_pattern(&r.reason))
                            .or_default() += 1;
                    }
                    sink.reject(label, &v.rejects)?;
                }
                if let Some(batch) = v.batch {
                    let w = sink.write(label, batch)?;
                    crate::fault::point("ingest.batch");
                    report.accepted += w.accepted;
                    report.newest = report.newest.max(w.newest);
                }
            }
            Stage::Derive(p) if report.accepted + report.rejected == 0 => {
                report.status = FileStatus::Failed;
                report.message = p.describe();
                return Ok(());
            }
            Stage::Derive(p) => {
                report.status = FileStatus::Partial;
                report.message = format!("{}; the rows before it were kept", p.describe());
                return Ok(());
            }
            Stage::Read(p) => {
                report.status = FileStatus::Partial;
                report.message = format!(
                    "{}; the {} rows before it were kept",
                    p.describe(),
                    report.rows_read
                );
                return Ok(());
            }
        }
    }
    Ok(())
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
    bar: &Shared,
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
        bar.advance(src.size);
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

/// The timestamp reader of a file: its mapping's format and zone, else the config's.
fn ts_parser_for(config: &Config, src: &SourceFile) -> TsParser {
    let mapping = src.mapping.as_ref();
    let tz_name = mapping
        .and_then(|m| m.time_zone.clone())
        .unwrap_or_else(|| config.ingest.time_zone.clone());
    let tz = parse_tz(&tz_name, "time_zone").unwrap_or(chrono_tz::Tz::UTC);
    TsParser::new(tz, mapping.and_then(|m| m.timestamp_format.clone()))
}

fn validator_for(config: &Config, table: &'static TableSpec, src: &SourceFile) -> Validator {
    let mapping = src.mapping.as_ref();
    Validator::new(
        table,
        mapping,
        ts_parser_for(config, src),
        config.ingest.min_timestamp,
        config.ingest.max_timestamp,
    )
}
