//! Parquet writers for a transaction: one file per (table, UTC date) partition, and
//! one rejects file per table.
//!
//! Writer settings are chosen for the lake's readers (DataFusion, DuckDB, Polars):
//! zstd level 1 (a quarter smaller than snappy for a few percent more CPU; level 3
//! costs far more CPU for little gain), dictionary encoding on where values repeat
//! (enums, warehouse codes, SKUs; off for unique ids, timestamps and sequence numbers:
//! [`writer_properties`]), page-level statistics (min/max pruning on time columns),
//! and row groups of at most 256k rows so that a partition file is read in parallel.
//! Memory is bounded: rows wait per partition as Arrow batches until a full row group
//! is there, and when the partitions of all tables together hold more than
//! [`BUFFER_BUDGET`] bytes, the writer at work writes out its largest partition (one
//! budget for the process, so it does not grow with the number of tables an ingest
//! touches). A row group is encoded and flushed in one go (see [`PartitionedWriter`]).

use std::collections::BTreeMap;
use std::fs::File;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use datafusion::arrow::array::{
    ArrayRef, Int64Array, StringArray, TimestampMicrosecondArray, UInt32Array,
};
use datafusion::arrow::compute::take_record_batch;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::{Compression, ZstdLevel};
use datafusion::parquet::file::properties::{EnabledStatistics, WriterProperties};
use datafusion::parquet::schema::types::ColumnPath;

use super::Txn;
use crate::contract::{PARTITION_COLUMN, TableSpec};
use crate::error::{Error, Result, io_at};
use crate::ingest::Reject;

/// Bytes that the open partition writers of every table may buffer together.
pub const BUFFER_BUDGET: usize = 256 << 20;
/// What the open partition writers buffer now, all tables together.
static BUFFERED: AtomicUsize = AtomicUsize::new(0);
const MAX_ROW_GROUP_ROWS: usize = 256 * 1024;
const MICROS_PER_DAY: i64 = 86_400_000_000;

/// Writer settings of every lake file of `schema`.
pub fn writer_properties(schema: &Schema) -> WriterProperties {
    let mut b = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(1).unwrap_or_default()))
        .set_dictionary_enabled(true)
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_max_row_group_row_count(Some(MAX_ROW_GROUP_ROWS))
        .set_created_by(format!("opintel {}", env!("CARGO_PKG_VERSION")));
    // Nearly every value of these is new: a dictionary only costs hashing and
    // comparing each one (an eighth of a big ingest's writing) before Parquet gives up
    // on it when the dictionary page is full.
    for column in UNIQUE_COLUMNS {
        b = b.set_column_dictionary_enabled(ColumnPath::from(*column), false);
    }
    for field in schema.fields().iter().filter(|f| rarely_repeats(f)) {
        b = b.set_column_dictionary_enabled(ColumnPath::from(field.name().as_str()), false);
    }
    b.build()
}

/// Timestamps (to the microsecond) and sequence numbers are nearly all distinct: a
/// dictionary of them fills its page and is given up, after hashing every value and
/// leaving a page of values that compress worse than plain ones. Measured on 16× bench
/// data (3.5 M order-line state rows; 5.1 M shipments; 5.4 M order-line versions;
/// DataFusion 55's writer, zstd 1, 2 files at a time): 2.0 → 1.5 s and 123 → 101 MB,
/// 1.9 → 1.75 s and 95 → 85 MB, 1.68 → 1.38 s and 68 → 50 MB.
fn rarely_repeats(field: &Field) -> bool {
    matches!(field.data_type(), DataType::Timestamp(..))
        || (matches!(field.data_type(), DataType::Int64) && field.name().ends_with("_seq"))
}

/// Columns whose values hardly repeat (ids of events and documents).
const UNIQUE_COLUMNS: &[&str] = &[
    "event_id",
    "shipment_id",
    "count_id",
    "return_id",
    // The order-line state's shipment ids (one or two per line).
    "first_shipment_id",
    "last_shipment_id",
    "order_id",
];

struct Open {
    /// Created when the partition's first row group is written.
    writer: Option<ArrowWriter<File>>,
    rel: String,
    /// Rows not yet handed to the Parquet writer, and their bytes.
    pending: Vec<RecordBatch>,
    pending_rows: usize,
    pending_bytes: usize,
}

/// Writes a table's accepted rows of one transaction into date partitions.
///
/// Rows wait per partition as Arrow batches and reach the Parquet writer one whole row
/// group at a time (a full one, or the largest partition's rows when the budget is
/// reached), which is flushed at once. A Parquet column writer in progress holds
/// zstd compression and decompression contexts: with a row group in progress in every
/// open partition (a nightly export touches dozens of dates) those contexts, not the
/// data, were most of the ingest's memory (0.8 GB of a 1.1 GB peak). Now at most one
/// row group per table is being encoded at any time.
pub struct PartitionedWriter {
    table: &'static TableSpec,
    schema: SchemaRef,
    time_index: usize,
    open: BTreeMap<i32, Open>,
    files: usize,
    rows: u64,
    /// This writer's part of [`BUFFERED`].
    buffered: usize,
}

impl PartitionedWriter {
    pub fn new(table: &'static TableSpec) -> Self {
        PartitionedWriter {
            table,
            schema: table.lake_schema(),
            time_index: table.field_index(table.time_column).unwrap_or(0),
            open: BTreeMap::new(),
            files: 0,
            rows: 0,
            buffered: 0,
        }
    }

    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Write rows with the lake schema, splitting them by the UTC date of the table's
    /// time column.
    pub fn write(&mut self, txn: &Txn, batch: &RecordBatch) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let times = batch
            .column(self.time_index)
            .as_any()
            .downcast_ref::<TimestampMicrosecondArray>()
            .ok_or_else(|| Error::Lake {
                path: self.table.name.into(),
                message: "the time column is not a timestamp".into(),
            })?;
        let first = day_of(times.value(0));
        if times.values().iter().all(|&t| day_of(t) == first) {
            self.write_day(txn, first, batch.clone())?;
        } else {
            let mut by_day: BTreeMap<i32, Vec<u32>> = BTreeMap::new();
            for (i, &t) in times.values().iter().enumerate() {
                by_day.entry(day_of(t)).or_default().push(i as u32);
            }
            for (day, rows) in by_day {
                let part = take_record_batch(batch, &UInt32Array::from(rows))?;
                self.write_day(txn, day, part)?;
            }
        }
        self.rows += batch.num_rows() as u64;
        self.enforce_budget(txn)
    }

    fn write_day(&mut self, txn: &Txn, day: i32, batch: RecordBatch) -> Result<()> {
        let open = self.open.entry(day).or_insert_with(|| {
            let date = chrono::DateTime::from_timestamp(i64::from(day) * 86_400, 0)
                .map(|d| d.date_naive().to_string())
                .unwrap_or_default();
            let rel = format!(
                "{}/{PARTITION_COLUMN}={date}/part-{:08}-{}.parquet",
                self.table.name,
                txn.id(),
                self.files
            );
            self.files += 1;
            Open {
                writer: None,
                rel,
                pending: Vec::new(),
                pending_rows: 0,
                pending_bytes: 0,
            }
        });
        open.pending_rows += batch.num_rows();
        open.pending_bytes += batch.get_array_memory_size();
        open.pending.push(batch);
        while open.pending_rows >= MAX_ROW_GROUP_ROWS {
            open.write_row_group(txn, &self.schema, MAX_ROW_GROUP_ROWS)?;
        }
        Ok(())
    }

    fn enforce_budget(&mut self, txn: &Txn) -> Result<()> {
        loop {
            let mine: usize = self.open.values().map(|o| o.pending_bytes).sum();
            self.account(mine);
            if mine == 0 || BUFFERED.load(Ordering::Relaxed) <= BUFFER_BUDGET {
                return Ok(());
            }
            let Some(largest) = self.open.values_mut().max_by_key(|o| o.pending_bytes) else {
                return Ok(());
            };
            let rows = largest.pending_rows;
            largest.write_row_group(txn, &self.schema, rows)?;
        }
    }

    /// Record that this writer now buffers `now` bytes.
    fn account(&mut self, now: usize) {
        if now >= self.buffered {
            BUFFERED.fetch_add(now - self.buffered, Ordering::Relaxed);
        } else {
            BUFFERED.fetch_sub(self.buffered - now, Ordering::Relaxed);
        }
        self.buffered = now;
    }

    /// Close every partition file. Partitions are closed by one thread per core (each
    /// encodes one row group at a time): at the end of a big single-table ingest, with
    /// most dates' rows still waiting, this is much of the work. No row written here is
    /// a duplicate: the sink holds back every row that may be one (see [`super::TableSink`]).
    pub fn finish(mut self, txn: &Txn) -> Result<()> {
        let open: Vec<Open> = std::mem::take(&mut self.open).into_values().collect();
        let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
        let schema = &self.schema;
        let result = crate::runtime::on_threads(workers, open, |mut o| {
            if o.pending_rows > 0 {
                let rows = o.pending_rows;
                o.write_row_group(txn, schema, rows)?;
            }
            if let Some(w) = o.writer.take() {
                w.close()?;
            }
            crate::fault::point("lake.writer.closed");
            Ok(())
        });
        self.account(0);
        result.map(|_| ())
    }
}

impl Open {
    /// Hand the first `rows` pending rows to the Parquet writer as one row group and
    /// flush it, so no row group stays in progress (see [`PartitionedWriter`]).
    fn write_row_group(&mut self, txn: &Txn, schema: &SchemaRef, rows: usize) -> Result<()> {
        crate::fault::io("lake.write").map_err(|e| Error::Io {
            path: txn.stage_path(&self.rel),
            source: e,
        })?;
        let writer = match &mut self.writer {
            Some(w) => w,
            None => {
                let path = txn.stage(&self.rel)?;
                let file = File::create(&path).map_err(io_at(&path))?;
                let props = writer_properties(schema);
                let w = ArrowWriter::try_new(file, Arc::clone(schema), Some(props))?;
                self.writer.insert(w)
            }
        };
        let mut left = rows.min(self.pending_rows);
        let mut rest = Vec::new();
        for batch in std::mem::take(&mut self.pending) {
            if left == 0 {
                rest.push(batch);
            } else if batch.num_rows() <= left {
                left -= batch.num_rows();
                writer.write(&batch)?;
            } else {
                writer.write(&batch.slice(0, left))?;
                rest.push(batch.slice(left, batch.num_rows() - left));
                left = 0;
            }
        }
        writer.flush()?;
        let before = self.pending_rows.max(1);
        self.pending = rest;
        self.pending_rows = self.pending.iter().map(RecordBatch::num_rows).sum();
        // A slice reports its whole buffer: count what is left by its share of rows.
        self.pending_bytes =
            (self.pending_bytes as u128 * self.pending_rows as u128 / before as u128) as usize;
        Ok(())
    }
}

impl Drop for PartitionedWriter {
    /// A writer dropped on an error path gives its part of the budget back.
    fn drop(&mut self) {
        self.account(0);
    }
}

fn day_of(micros: i64) -> i32 {
    micros.div_euclid(MICROS_PER_DAY) as i32
}

/// Schema of `_rejects/<table>/*.parquet`.
pub fn rejects_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("source_file", DataType::Utf8, false),
        Field::new("line", DataType::Int64, false),
        Field::new("raw", DataType::Utf8, false),
        Field::new("reason", DataType::Utf8, false),
        Field::new("txn", DataType::Int64, false),
        Field::new(
            "rejected_at",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
    ]))
}

/// Writes a table's refused rows of one transaction.
pub struct RejectWriter {
    table: &'static str,
    writer: Option<ArrowWriter<File>>,
    rows: u64,
    now: i64,
}

impl RejectWriter {
    pub fn new(table: &'static str) -> Self {
        RejectWriter {
            table,
            writer: None,
            rows: 0,
            now: chrono::Utc::now().timestamp_micros(),
        }
    }

    pub(crate) fn write(&mut self, txn: &Txn, source_file: &str, rejects: &[Reject]) -> Result<()> {
        if rejects.is_empty() {
            return Ok(());
        }
        if self.writer.is_none() {
            let date = chrono::DateTime::from_timestamp_micros(self.now)
                .map(|d| d.date_naive().to_string())
                .unwrap_or_default();
            let rel = format!(
                "_rejects/{}/{PARTITION_COLUMN}={date}/part-{:08}-0.parquet",
                self.table,
                txn.id()
            );
            let path = txn.stage(&rel)?;
            let file = File::create(&path).map_err(io_at(&path))?;
            let schema = rejects_schema();
            let props = writer_properties(&schema);
            self.writer = Some(ArrowWriter::try_new(file, schema, Some(props))?);
        }
        let n = rejects.len();
        let columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(vec![source_file; n])),
            Arc::new(Int64Array::from_iter_values(
                rejects.iter().map(|r| r.line as i64),
            )),
            Arc::new(StringArray::from_iter_values(
                rejects.iter().map(|r| r.raw.as_str()),
            )),
            Arc::new(StringArray::from_iter_values(
                rejects.iter().map(|r| r.reason.as_str()),
            )),
            Arc::new(Int64Array::from(vec![txn.id() as i64; n])),
            Arc::new(TimestampMicrosecondArray::from(vec![self.now; n]).with_timezone("UTC")),
        ];
        let batch = RecordBatch::try_new(rejects_schema(), columns)?;
        if let Some(w) = self.writer.as_mut() {
            w.write(&batch)?;
        }
        self.rows += n as u64;
        Ok(())
    }

    pub fn finish(self) -> Result<()> {
        if let Some(w) = self.writer {
            w.close()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::parquet::basic::Encoding;
    use datafusion::parquet::file::reader::{FileReader, SerializedFileReader};

    #[test]
    fn timestamps_and_sequence_numbers_are_written_without_a_dictionary() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("sku", DataType::Utf8, false),
            Field::new(
                "shipped_at",
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                false,
            ),
            Field::new("_ingest_seq", DataType::Int64, false),
            Field::new("picks", DataType::Int64, false),
            Field::new("event_id", DataType::Utf8, false),
        ]));
        let n = 1000;
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![
                Arc::new(StringArray::from_iter_values(
                    (0..n).map(|i| format!("SKU-{}", i % 7)),
                )),
                Arc::new(
                    TimestampMicrosecondArray::from_iter_values((0..n).map(|i| i * 1_000_003))
                        .with_timezone("UTC"),
                ),
                Arc::new(Int64Array::from_iter_values(0..n)),
                Arc::new(Int64Array::from_iter_values((0..n).map(|i| i % 3))),
                Arc::new(StringArray::from_iter_values(
                    (0..n).map(|i| format!("E-{i}")),
                )),
            ],
        )
        .expect("batch");
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("f.parquet");
        let file = File::create(&path).expect("file");
        let mut w =
            ArrowWriter::try_new(file, Arc::clone(&schema), Some(writer_properties(&schema)))
                .expect("writer");
        w.write(&batch).expect("write");
        w.close().expect("close");
        let reader = SerializedFileReader::new(File::open(&path).expect("open")).expect("read");
        let group = reader.metadata().row_group(0);
        let dictionary: Vec<(String, bool)> = group
            .columns()
            .iter()
            .map(|c| {
                let dict = c.dictionary_page_offset().is_some()
                    || c.encodings()
                        .any(|e| e == Encoding::RLE_DICTIONARY || e == Encoding::PLAIN_DICTIONARY);
                (c.column_path().string(), dict)
            })
            .collect();
        let expected: Vec<(String, bool)> = [
            ("sku", true),
            ("shipped_at", false),
            ("_ingest_seq", false),
            ("picks", true),
            ("event_id", false),
        ]
        .iter()
        .map(|(c, d)| (c.to_string(), *d))
        .collect();
        assert_eq!(dictionary, expected);
    }
}
