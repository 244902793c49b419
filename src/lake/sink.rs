//! Where validated rows of one table go during a transaction: system columns are
//! added, rows are written to date partitions and their identities collected; at the
//! end duplicates (against the lake and within the run) are found by an external merge.
//! Refused rows go to the table's rejects file.
//!
//! Duplicates are never written: a filter of every identity seen (the lake's and this
//! run's, [`IdSpill::maybe_seen`]) tells a row that is certainly the first of its
//! identity, which goes straight to its partition, from one that may repeat an
//! earlier one. Those (the real repeats and the filter's rare false positives) wait in
//! a scratch file until the merge has decided, and only the first of each identity is
//! written then. (Writing everything and rewriting the files that held a duplicate
//! encoded most rows twice: a generated export has a duplicate in nearly every date.)

use std::fs::File;
use std::path::PathBuf;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, BooleanArray, Float64Array, Int64Array, StringArray, TimestampMicrosecondArray,
};
use datafusion::arrow::buffer::BooleanBuffer;
use datafusion::arrow::compute::filter_record_batch;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use xxhash_rust::xxh3::xxh3_64;

use super::{Duplicates, IdSpill, Lake, PartitionedWriter, RejectWriter, Txn};
use crate::contract::{TableKind, TableSpec};
use crate::error::{Error, Result, io_at};
use crate::ingest::{Reject, RowSink, Written};

/// One table's share of a transaction.
pub struct TableSink<'t> {
    pub table: &'static TableSpec,
    txn: &'t Txn,
    ids: IdSpill,
    rows: PartitionedWriter,
    rejects: RejectWriter,
    next_seq: i64,
    /// Rows that may repeat an earlier identity, until the merge decides.
    held: Option<Held>,
}

/// The scratch file of held-back rows (uncompressed Parquet: it is read once, soon).
struct Held {
    path: PathBuf,
    writer: ArrowWriter<File>,
}

impl RowSink for TableSink<'_> {
    fn reject(&mut self, source: &str, rejects: &[Reject]) -> Result<()> {
        self.rejects.write(self.txn, source, rejects)
    }

    fn write(&mut self, source: &str, batch: RecordBatch) -> Result<Written> {
        self.write_rows(source, batch)
    }
}

impl<'t> TableSink<'t> {
    /// `expected_rows` is a guess of the rows this run brings (it sizes the filter of
    /// identities seen; a wrong guess costs speed, never correctness).
    pub fn new(
        lake: &Lake,
        txn: &'t Txn,
        table: &'static TableSpec,
        expected_rows: u64,
    ) -> Result<TableSink<'t>> {
        // Sequence numbers grow with transactions, then with rows within one.
        let base = (txn.id() as i64) << 40;
        Ok(TableSink {
            table,
            txn,
            ids: IdSpill::new(lake, txn, table.name, base, expected_rows)?,
            rows: PartitionedWriter::new(table),
            rejects: RejectWriter::new(table.name),
            next_seq: base,
            held: None,
        })
    }

    /// The sequence number the next accepted row will get.
    pub fn next_seq(&self) -> i64 {
        self.next_seq
    }

    /// Write valid rows (canonical schema) with their system columns. Duplicates are
    /// found and removed in [`TableSink::finish`].
    fn write_rows(&mut self, source: &str, batch: RecordBatch) -> Result<Written> {
        let n = batch.num_rows();
        if n == 0 {
            return Ok(Written {
                accepted: 0,
                newest: None,
            });
        }
        let mut maybe = Vec::with_capacity(n);
        for (i, id) in row_identities(self.table, &batch).into_iter().enumerate() {
            self.ids.push(id, self.next_seq + i as i64)?;
            maybe.push(self.ids.maybe_seen(id));
        }
        let seq = Int64Array::from_iter_values(self.next_seq..self.next_seq + n as i64);
        self.next_seq += n as i64;
        let mut columns = batch.columns().to_vec();
        columns.push(Arc::new(seq));
        columns.push(Arc::new(StringArray::from(vec![source; n])));
        let full = RecordBatch::try_new(self.table.lake_schema(), columns)?;
        let newest = self
            .table
            .field_index(self.table.time_column)
            .and_then(|i| {
                full.column(i)
                    .as_any()
                    .downcast_ref::<TimestampMicrosecondArray>()
            })
            .and_then(|a| a.values().iter().copied().max());
        if maybe.iter().any(|&m| m) {
            let maybe = BooleanArray::from(maybe);
            self.hold(&filter_record_batch(&full, &maybe)?)?;
            let first = datafusion::arrow::compute::not(&maybe)?;
            self.rows
                .write(self.txn, &filter_record_batch(&full, &first)?)?;
        } else {
            self.rows.write(self.txn, &full)?;
        }
        Ok(Written {
            accepted: n as u64,
            newest,
        })
    }

    /// Keep rows back in the scratch file until the merge decides.
    fn hold(&mut self, batch: &RecordBatch) -> Result<()> {
        if self.held.is_none() {
            let path = self
                .txn
                .scratch_dir()
                .join("held")
                .join(format!("{}.parquet", self.table.name));
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(io_at(dir))?;
            }
            let file = File::create(&path).map_err(io_at(&path))?;
            let props = datafusion::parquet::file::properties::WriterProperties::builder()
                .set_compression(datafusion::parquet::basic::Compression::UNCOMPRESSED)
                .set_dictionary_enabled(false)
                .build();
            let writer = ArrowWriter::try_new(file, self.table.lake_schema(), Some(props))?;
            self.held = Some(Held { path, writer });
        }
        if let Some(h) = self.held.as_mut() {
            h.writer.write(batch)?;
        }
        Ok(())
    }

    /// Find duplicates (against the lake and within this run), write the held rows
    /// that are the first of their identity, close everything and stage the new
    /// identities.
    pub fn finish(mut self) -> Result<Duplicates> {
        crate::fault::point("ingest.dedup");
        let dups = self.ids.resolve(self.txn)?;
        if let Some(Held { path, writer }) = self.held.take() {
            writer.close()?;
            let file = File::open(&path).map_err(io_at(&path))?;
            let reader = ParquetRecordBatchReaderBuilder::try_new(file)?
                .with_batch_size(64 * 1024)
                .build()?;
            for batch in reader {
                let batch = batch?;
                let seqs = seq_column(&batch)?.values();
                let keep = BooleanArray::new(
                    BooleanBuffer::collect_bool(seqs.len(), |i| !dups.contains(seqs[i])),
                    None,
                );
                let kept = filter_record_batch(&batch, &keep)?;
                self.rows.write(self.txn, &kept)?;
            }
            std::fs::remove_file(&path).map_err(io_at(&path))?;
        }
        self.rows.finish(self.txn)?;
        self.rejects.finish()?;
        Ok(dups)
    }
}

fn seq_column(batch: &RecordBatch) -> Result<&Int64Array> {
    batch
        .column_by_name(crate::contract::INGEST_SEQ)
        .and_then(|c| c.as_any().downcast_ref::<Int64Array>())
        .ok_or_else(|| Error::Lake {
            path: crate::contract::INGEST_SEQ.into(),
            message: "a lake batch without its sequence column".into(),
        })
}

/// The identity of each row: its `event_id` for events, its key columns for snapshots,
/// the whole canonical row for versioned tables (so an identical re-sent version is a
/// duplicate, a changed one is not).
fn row_identities(table: &TableSpec, batch: &RecordBatch) -> Vec<u64> {
    if table.kind == TableKind::Event
        && let Some(ids) = table
            .field_index("event_id")
            .and_then(|i| batch.column(i).as_any().downcast_ref::<StringArray>())
    {
        return ids
            .iter()
            .map(|v| xxh3_64(v.unwrap_or("").as_bytes()))
            .collect();
    }
    let columns: Vec<&ArrayRef> = match table.kind {
        TableKind::Snapshot => table
            .key
            .iter()
            .filter_map(|k| table.field_index(k))
            .map(|i| batch.column(i))
            .collect(),
        _ => batch.columns().iter().collect(),
    };
    let mut buf = Vec::with_capacity(256);
    (0..batch.num_rows())
        .map(|row| {
            buf.clear();
            for col in &columns {
                encode_value(col, row, &mut buf);
            }
            xxh3_64(&buf)
        })
        .collect()
}

/// A stable byte encoding of one value (independent of arrow versions).
fn encode_value(col: &ArrayRef, row: usize, buf: &mut Vec<u8>) {
    if col.is_null(row) {
        buf.push(0);
        return;
    }
    buf.push(1);
    let any = col.as_any();
    if let Some(a) = any.downcast_ref::<StringArray>() {
        let v = a.value(row).as_bytes();
        buf.extend_from_slice(&(v.len() as u32).to_le_bytes());
        buf.extend_from_slice(v);
    } else if let Some(a) = any.downcast_ref::<Float64Array>() {
        buf.extend_from_slice(&a.value(row).to_bits().to_le_bytes());
    } else if let Some(a) = any.downcast_ref::<TimestampMicrosecondArray>() {
        buf.extend_from_slice(&a.value(row).to_le_bytes());
    } else if let Some(a) = any.downcast_ref::<Int64Array>() {
        buf.extend_from_slice(&a.value(row).to_le_bytes());
    } else if let Some(a) = any.downcast_ref::<BooleanArray>() {
        buf.push(u8::from(a.value(row)));
    }
}
