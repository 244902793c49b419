//! Reader for Parquet files already in canonical shape (docs/contract.md).
//!
//! Columns are matched by name like a CSV header, cast to text with arrow's cast kernel
//! and then validated exactly like every other source, so a Parquet file obeys the
//! same rules (required fields, enums, ranges). Timestamps are rendered in RFC 3339
//! with their offset, so no instant changes on the way. Streams row group by row group.

use std::fs::File;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, StringArray};
use datafusion::arrow::compute::{CastOptions, cast_with_options};
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::util::display::FormatOptions;
use datafusion::parquet::arrow::arrow_reader::{
    ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder,
};

use super::raw::{ColumnMap, RawBatch, RawBatchBuilder};
use super::{FileProblem, RowSource};
use crate::config::SourceMapping;
use crate::contract::TableSpec;

pub(crate) struct ParquetSource {
    reader: ParquetRecordBatchReader,
    map: ColumnMap,
    names: Vec<String>,
    record: u64,
}

impl ParquetSource {
    pub fn open(
        file: File,
        table: &TableSpec,
        mapping: Option<&SourceMapping>,
        batch_rows: usize,
    ) -> Result<ParquetSource, FileProblem> {
        let builder = ParquetRecordBatchReaderBuilder::try_new(file)
            .map_err(|e| FileProblem::file(format!("not a readable Parquet file: {e}")))?;
        let names: Vec<String> = builder
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        let map = ColumnMap::new(table, mapping, &names).map_err(FileProblem::file)?;
        let reader = builder
            .with_batch_size(batch_rows)
            .build()
            .map_err(|e| FileProblem::file(format!("not a readable Parquet file: {e}")))?;
        Ok(ParquetSource {
            reader,
            map,
            names,
            record: 0,
        })
    }
}

impl RowSource for ParquetSource {
    fn column_map(&self) -> &ColumnMap {
        &self.map
    }

    fn next_batch(&mut self) -> Result<Option<RawBatch>, FileProblem> {
        let Some(batch) = self.reader.next() else {
            return Ok(None);
        };
        let batch = batch.map_err(|e| {
            FileProblem::at(
                self.record + 1,
                format!("Parquet read failed after record {}: {e}", self.record),
            )
        })?;
        let text = to_text(&batch).map_err(|e| FileProblem::at(self.record + 1, e))?;
        let mut b = RawBatchBuilder::new(&self.map, batch.num_rows());
        for row in 0..batch.num_rows() {
            self.record += 1;
            let raw = serde_json::Value::Object(
                self.names
                    .iter()
                    .zip(&text)
                    .map(|(n, c)| {
                        let v = if c.is_null(row) {
                            serde_json::Value::Null
                        } else {
                            serde_json::Value::String(c.value(row).to_string())
                        };
                        (n.clone(), v)
                    })
                    .collect(),
            )
            .to_string();
            let source_of = &self.map.source_of;
            b.push(self.record, raw.as_bytes(), |i| {
                source_of[i].map_or("", |s| {
                    if text[s].is_null(row) {
                        ""
                    } else {
                        text[s].value(row)
                    }
                })
            });
        }
        Ok(Some(b.finish()))
    }
}

/// Every column as text.
fn to_text(batch: &RecordBatch) -> Result<Vec<StringArray>, String> {
    let options = CastOptions {
        safe: false,
        format_options: FormatOptions::default(),
    };
    batch
        .columns()
        .iter()
        .zip(batch.schema().fields())
        .map(|(c, f)| {
            let text: ArrayRef = if matches!(c.data_type(), DataType::Utf8) {
                Arc::clone(c)
            } else {
                cast_with_options(c, &DataType::Utf8, &options)
                    .map_err(|e| format!("column {} cannot be read as text: {e}", f.name()))?
            };
            text.as_any()
                .downcast_ref::<StringArray>()
                .cloned()
                .ok_or_else(|| format!("column {} cannot be read as text", f.name()))
        })
        .collect()
}
