//! A KPI result as one record batch with typed accessors, for the report.

use datafusion::arrow::array::{Array, ArrayRef, Float64Array, StringArray};
use datafusion::arrow::compute::{cast, concat_batches};
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;

/// Rows of one KPI table.
#[derive(Debug, Clone)]
pub struct Frame {
    batch: RecordBatch,
}

impl Frame {
    pub fn new(schema: &SchemaRef, batches: &[RecordBatch]) -> Frame {
        let batch = concat_batches(schema, batches)
            .unwrap_or_else(|_| RecordBatch::new_empty(schema.clone()));
        Frame { batch }
    }

    pub fn rows(&self) -> usize {
        self.batch.num_rows()
    }

    pub fn columns(&self) -> Vec<String> {
        self.batch
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect()
    }

    fn column(&self, name: &str) -> Option<&ArrayRef> {
        self.batch.column_by_name(name)
    }

    /// A numeric column as f64 (None for NULL or a missing column).
    pub fn num(&self, name: &str) -> Vec<Option<f64>> {
        let n = self.rows();
        let Some(c) = self.column(name) else {
            return vec![None; n];
        };
        match cast(c, &DataType::Float64) {
            Ok(a) => match a.as_any().downcast_ref::<Float64Array>() {
                Some(f) => f.iter().collect(),
                None => vec![None; n],
            },
            Err(_) => vec![None; n],
        }
    }

    /// Any column as text (dates as YYYY-MM-DD).
    pub fn text(&self, name: &str) -> Vec<Option<String>> {
        let n = self.rows();
        let Some(c) = self.column(name) else {
            return vec![None; n];
        };
        match cast(c, &DataType::Utf8) {
            Ok(a) => match a.as_any().downcast_ref::<StringArray>() {
                Some(s) => s.iter().map(|v| v.map(str::to_string)).collect(),
                None => vec![None; n],
            },
            Err(_) => vec![None; n],
        }
    }

    /// Σ of a column (NULLs skipped).
    pub fn sum(&self, name: &str) -> f64 {
        self.num(name).into_iter().flatten().sum()
    }

    /// Σ a·b over rows where both are present.
    pub fn sum_product(&self, a: &str, b: &str) -> f64 {
        self.num(a)
            .into_iter()
            .zip(self.num(b))
            .filter_map(|(x, y)| Some(x? * y?))
            .sum()
    }

    /// Σ of `value` over rows where `weight` is present (the denominator of a weighted mean).
    pub fn weighted_mean(&self, value: &str, weight: &str) -> Option<f64> {
        let pairs: Vec<(f64, f64)> = self
            .num(value)
            .into_iter()
            .zip(self.num(weight))
            .filter_map(|(v, w)| Some((v?, w?)))
            .collect();
        let w: f64 = pairs.iter().map(|p| p.1).sum();
        (w > 0.0).then(|| pairs.iter().map(|p| p.0 * p.1).sum::<f64>() / w)
    }

    /// Rows where `keep(row)` holds.
    pub fn filter(&self, keep: impl Fn(usize) -> bool) -> Frame {
        let mask: datafusion::arrow::array::BooleanArray =
            (0..self.rows()).map(|i| Some(keep(i))).collect();
        let batch = datafusion::arrow::compute::filter_record_batch(&self.batch, &mask)
            .unwrap_or_else(|_| RecordBatch::new_empty(self.batch.schema()));
        Frame { batch }
    }

    /// A cell as shown on the page.
    pub fn display(&self, name: &str, row: usize) -> String {
        self.column(name)
            .map(|c| {
                if c.is_null(row) {
                    String::new()
                } else {
                    crate::kpi::output::display(c, row)
                }
            })
            .unwrap_or_default()
    }
}
