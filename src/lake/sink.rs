//! Where validated rows of one table go during a transaction: system columns are
//! added, rows are written to date partitions and their identities collected; at the
//! end duplicates (against the lake and within the run) are found by an external merge
//! and removed. Refused rows go to the table's rejects file.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, BooleanArray, Float64Array, Int64Array, StringArray, TimestampMicrosecondArray,
};
use datafusion::arrow::record_batch::RecordBatch;
use xxhash_rust::xxh3::xxh3_64;

use super::{Duplicates, IdSpill, Lake, PartitionedWriter, RejectWriter, Txn};
use crate::contract::{TableKind, TableSpec};
use crate::error::Result;
use crate::ingest::{Reject, RowSink, Written};

/// One table's share of a transaction.
pub struct TableSink<'t> {
    pub table: &'static TableSpec,
    txn: &'t Txn,
    ids: IdSpill,
    rows: PartitionedWriter,
    rejects: RejectWriter,
    next_seq: i64,
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
    pub fn new(txn: &'t Txn, table: &'static TableSpec) -> Result<TableSink<'t>> {
        // Sequence numbers grow with transactions, then with rows within one.
        let base = (txn.id() as i64) << 40;
        Ok(TableSink {
            table,
            txn,
            ids: IdSpill::new(txn, table.name, base)?,
            rows: PartitionedWriter::new(table),
            rejects: RejectWriter::new(table.name),
            next_seq: base,
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
        for (i, id) in row_identities(self.table, &batch).into_iter().enumerate() {
            self.ids.push(id, self.next_seq + i as i64)?;
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
        self.rows.write(self.txn, &full)?;
        Ok(Written {
            accepted: n as u64,
            newest,
        })
    }

    /// Find duplicates (against the lake and within this run), remove them from the
    /// staged files, close everything and stage the new identities.
    pub fn finish(self, lake: &Lake) -> Result<Duplicates> {
        crate::fault::point("ingest.dedup");
        let dups = self.ids.resolve(lake, self.txn)?;
        self.rows.finish(self.txn, &dups)?;
        self.rejects.finish()?;
        Ok(dups)
    }
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
