//! Writing KPI tables for analysts: `<name>.parquet` (typed, zstd) and `<name>.csv`.
//!
//! The CSV is for Excel as much as for tools: RFC 4180 quoting, dates as ISO dates,
//! timestamps in RFC 3339 UTC, floats in their shortest exact form, and text cells that
//! begin with `=`, `+`, `-`, `@`, tab or carriage return prefixed with `'` so that a
//! spreadsheet shows them instead of executing them (numbers are never touched: a
//! negative variance stays a number). Parquet keeps values exactly as computed.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use datafusion::arrow::array::{
    Array, ArrayRef, BooleanArray, Date32Array, Float32Array, Float64Array, Int8Array, Int16Array,
    Int32Array, Int64Array, LargeStringArray, StringArray, StringViewArray,
    TimestampMicrosecondArray, UInt32Array, UInt64Array,
};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::parquet::arrow::ArrowWriter;

use crate::error::{Result, io_at};
use crate::lake::writer_properties;

/// Write `batches` to `path` as Parquet.
pub fn write_parquet(path: &Path, schema: SchemaRef, batches: &[RecordBatch]) -> Result<()> {
    let file = File::create(path).map_err(io_at(path))?;
    let props = writer_properties(&schema);
    let mut w = ArrowWriter::try_new(file, schema, Some(props))?;
    for b in batches {
        w.write(b)?;
    }
    w.close()?;
    Ok(())
}

/// Write `batches` to `path` as CSV with a header row.
pub fn write_csv(path: &Path, schema: &SchemaRef, batches: &[RecordBatch]) -> Result<()> {
    let file = File::create(path).map_err(io_at(path))?;
    let mut w = BufWriter::new(file);
    write_csv_to(&mut w, schema, batches).map_err(io_at(path))?;
    w.flush().map_err(io_at(path))
}

/// Write `batches` as CSV with a header row to any writer.
pub fn write_csv_to(
    w: &mut impl Write,
    schema: &SchemaRef,
    batches: &[RecordBatch],
) -> std::io::Result<()> {
    let header: Vec<String> = schema
        .fields()
        .iter()
        .map(|f| text_cell(f.name()))
        .collect();
    write!(w, "{}\r\n", header.join(","))?;
    let mut line = String::new();
    for b in batches {
        for row in 0..b.num_rows() {
            line.clear();
            for (i, col) in b.columns().iter().enumerate() {
                if i > 0 {
                    line.push(',');
                }
                line.push_str(&cell(col, row));
            }
            line.push_str("\r\n");
            w.write_all(line.as_bytes())?;
        }
    }
    Ok(())
}

/// One value as a CSV cell.
pub fn cell(col: &ArrayRef, row: usize) -> String {
    let (text, is_text) = plain(col, row);
    if is_text { text_cell(&text) } else { text }
}

/// One value as plain text for people (no CSV quoting or formula guard).
pub fn display(col: &ArrayRef, row: usize) -> String {
    plain(col, row).0
}

/// The value as text, and whether it is text (as opposed to a number or date).
fn plain(col: &ArrayRef, row: usize) -> (String, bool) {
    if col.is_null(row) {
        return (String::new(), false);
    }
    let any = col.as_any();
    macro_rules! num {
        ($($t:ty),*) => {$(
            if let Some(a) = any.downcast_ref::<$t>() {
                return (a.value(row).to_string(), false);
            }
        )*};
    }
    num!(
        Int64Array,
        Int32Array,
        Int16Array,
        Int8Array,
        UInt64Array,
        UInt32Array
    );
    if let Some(a) = any.downcast_ref::<Float64Array>() {
        return (float(a.value(row)), false);
    }
    if let Some(a) = any.downcast_ref::<Float32Array>() {
        return (float(f64::from(a.value(row))), false);
    }
    if let Some(a) = any.downcast_ref::<BooleanArray>() {
        return (a.value(row).to_string(), false);
    }
    if let Some(a) = any.downcast_ref::<Date32Array>() {
        return (
            a.value_as_date(row)
                .map(|d| d.to_string())
                .unwrap_or_default(),
            false,
        );
    }
    if let Some(a) = any.downcast_ref::<TimestampMicrosecondArray>() {
        let t = chrono::DateTime::from_timestamp_micros(a.value(row))
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
            .unwrap_or_default();
        return (t, false);
    }
    if let Some(a) = any.downcast_ref::<StringArray>() {
        return (a.value(row).to_string(), true);
    }
    if let Some(a) = any.downcast_ref::<LargeStringArray>() {
        return (a.value(row).to_string(), true);
    }
    if let Some(a) = any.downcast_ref::<StringViewArray>() {
        return (a.value(row).to_string(), true);
    }
    let text = ArrayFormatter::try_new(col.as_ref(), &FormatOptions::default())
        .map(|f| f.value(row).to_string())
        .unwrap_or_default();
    (text, true)
}

fn float(v: f64) -> String {
    if v.is_finite() {
        // Rust's Display gives the shortest text that reads back to the same f64.
        let s = v.to_string();
        if s == "-0" { "0".into() } else { s }
    } else {
        String::new()
    }
}

/// Quote when needed and neutralise spreadsheet formulas.
pub fn text_cell(s: &str) -> String {
    let neutral = match s.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{s}"),
        _ => s.to_string(),
    };
    if neutral.contains([',', '"', '\n', '\r'])
        || neutral.starts_with(' ')
        || neutral.ends_with(' ')
    {
        format!("\"{}\"", neutral.replace('"', "\"\""))
    } else {
        neutral
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn cells() {
        assert_eq!(text_cell("web"), "web");
        assert_eq!(text_cell("=1+2"), "'=1+2");
        assert_eq!(text_cell("-x"), "'-x");
        assert_eq!(text_cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(text_cell("a,b"), "\"a,b\"");
        assert_eq!(text_cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(text_cell("=a,b"), "\"'=a,b\"");
        let neg: ArrayRef = Arc::new(Float64Array::from(vec![-2.5, 0.1, -0.0]));
        assert_eq!(cell(&neg, 0), "-2.5");
        assert_eq!(cell(&neg, 1), "0.1");
        assert_eq!(cell(&neg, 2), "0");
        let d: ArrayRef = Arc::new(Date32Array::from(vec![20_412]));
        assert_eq!(cell(&d, 0), "2025-11-20");
    }
}
