//! Validation: text columns → typed canonical columns, plus the rows refused and why.
//!
//! Works a column at a time: each canonical field is parsed over the whole batch into
//! an Arrow array, recording the rows that fail; the accepted rows are then taken with
//! one arrow filter. Messages are built only for refused rows, naming the field and the
//! value (`qty_shipped: "abc" is not a number`), so a person can fix the export.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate};
use datafusion::arrow::array::{
    Array, ArrayRef, BooleanArray, BooleanBuilder, Float64Builder, Int64Builder, StringArray,
    StringBuilder, TimestampMicrosecondBuilder, new_null_array,
};
use datafusion::arrow::buffer::BooleanBuffer;
use datafusion::arrow::compute::FilterBuilder;
use datafusion::arrow::record_batch::RecordBatch;

use super::raw::{RawBatch, Reject, clip_raw};
use super::timestamp::TsParser;
use crate::config::SourceMapping;
use crate::contract::{FieldSpec, FieldType, TableSpec};

/// Validation rules for one source file.
pub(crate) struct Validator {
    table: &'static TableSpec,
    ts: TsParser,
    /// Per canonical field: lower-cased source value → canonical value.
    value_maps: Vec<Option<HashMap<String, String>>>,
    min_us: i64,
    max_us: i64,
    min_date: NaiveDate,
    max_date: NaiveDate,
}

/// The outcome of validating one batch.
#[derive(Default)]
pub(crate) struct Validated {
    /// Accepted rows, typed by the canonical schema; `None` when none were accepted.
    pub batch: Option<RecordBatch>,
    pub rejects: Vec<Reject>,
}

/// Rows that failed, with their messages: (row, message).
type Errors = Vec<(usize, String)>;

impl Validator {
    pub fn new(
        table: &'static TableSpec,
        mapping: Option<&SourceMapping>,
        ts: TsParser,
        min_date: NaiveDate,
        max_date: NaiveDate,
    ) -> Self {
        let value_maps = table
            .fields
            .iter()
            .map(|f| {
                mapping.and_then(|m| m.values.get(f.name)).map(|vm| {
                    vm.iter()
                        .map(|(k, v)| (k.trim().to_lowercase(), v.clone()))
                        .collect()
                })
            })
            .collect();
        let us = |d: NaiveDate| {
            d.and_time(chrono::NaiveTime::MIN)
                .and_utc()
                .timestamp_micros()
        };
        Validator {
            table,
            ts,
            value_maps,
            min_us: us(min_date),
            max_us: us(max_date),
            min_date,
            max_date,
        }
    }

    pub fn validate(&self, raw: RawBatch) -> Validated {
        let n = raw.num_rows();
        let mut errors: Errors = Vec::new();
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(self.table.fields.len());
        for (i, f) in self.table.fields.iter().enumerate() {
            let text = raw.columns[i]
                .as_ref()
                .and_then(|c| c.as_any().downcast_ref::<StringArray>());
            let col = match (text, f.ty) {
                (None, FieldType::Dec) if f.default.is_some() => {
                    let mut b = Float64Builder::with_capacity(n);
                    b.append_value_n(f.default.unwrap_or(0.0), n);
                    Arc::new(b.finish()) as ArrayRef
                }
                (None, ty) => {
                    if f.required {
                        errors.extend(
                            (0..n).map(|r| (r, format!("{} is required but missing", f.name))),
                        );
                    }
                    new_null_array(&ty.arrow(), n)
                }
                (Some(t), FieldType::Str) => {
                    self.str_column(t, f, self.value_maps[i].as_ref(), &mut errors)
                }
                (Some(t), FieldType::Dec) => dec_column(t, f, &mut errors),
                (Some(t), FieldType::Int) => int_column(t, f, &mut errors),
                (Some(t), FieldType::Bool) => bool_column(t, f, &mut errors),
                (Some(t), FieldType::Ts) => self.ts_column(t, f, &mut errors),
            };
            columns.push(col);
        }
        self.row_rules(&columns, &mut errors);

        let mut rejects = raw.early.clone();
        let batch = if errors.is_empty() {
            Some(columns)
        } else {
            errors.sort_by_key(|(r, _)| *r);
            let mut keep = vec![true; n];
            let mut k = 0;
            while k < errors.len() {
                let row = errors[k].0;
                let mut reason = String::new();
                while k < errors.len() && errors[k].0 == row {
                    if !reason.is_empty() {
                        reason.push_str("; ");
                    }
                    reason.push_str(&errors[k].1);
                    k += 1;
                }
                keep[row] = false;
                rejects.push(Reject {
                    line: raw.lines[row],
                    raw: clip_raw(raw.raw(row)),
                    reason,
                });
            }
            let mask = BooleanArray::new(BooleanBuffer::from(keep), None);
            let filter = FilterBuilder::new(&mask).optimize().build();
            let kept: Result<Vec<ArrayRef>, _> = columns.iter().map(|c| filter.filter(c)).collect();
            kept.ok()
        };
        let batch = batch
            .filter(|cols| cols.first().is_some_and(|c| !c.is_empty()))
            .and_then(|cols| RecordBatch::try_new(self.table.canonical_schema(), cols).ok());
        rejects.sort_by_key(|r| r.line);
        Validated { batch, rejects }
    }

    fn str_column(
        &self,
        t: &StringArray,
        f: &FieldSpec,
        map: Option<&HashMap<String, String>>,
        errors: &mut Errors,
    ) -> ArrayRef {
        if f.enum_values.is_none()
            && map.is_none()
            && t.null_count() == 0
            && t.iter()
                .flatten()
                .all(|s| !s.is_empty() && s.trim().len() == s.len())
        {
            return Arc::new(t.clone());
        }
        let mut b = StringBuilder::with_capacity(t.len(), t.value_data().len());
        for (row, v) in t.iter().enumerate() {
            let v = v.unwrap_or("").trim();
            if v.is_empty() {
                if f.required {
                    errors.push((row, format!("{} is required but empty", f.name)));
                }
                b.append_null();
                continue;
            }
            let mapped = map
                .and_then(|m| m.get(&v.to_lowercase()))
                .map(String::as_str);
            let v = mapped.unwrap_or(v);
            match f.enum_values {
                None => b.append_value(v),
                Some(allowed) => match allowed.iter().find(|a| a.eq_ignore_ascii_case(v)) {
                    Some(canonical) => b.append_value(canonical),
                    None => {
                        errors.push((
                            row,
                            format!(
                                "{}: {} is not one of {}",
                                f.name,
                                quote(v),
                                allowed.join(", ")
                            ),
                        ));
                        b.append_null();
                    }
                },
            }
        }
        Arc::new(b.finish())
    }

    fn ts_column(&self, t: &StringArray, f: &FieldSpec, errors: &mut Errors) -> ArrayRef {
        let mut b = TimestampMicrosecondBuilder::with_capacity(t.len());
        for (row, v) in t.iter().enumerate() {
            let v = v.unwrap_or("").trim();
            if v.is_empty() {
                if f.required {
                    errors.push((row, format!("{} is required but empty", f.name)));
                }
                b.append_null();
                continue;
            }
            match self.ts.parse(v) {
                Some(us) if us >= self.min_us && us < self.max_us => b.append_value(us),
                Some(us) => {
                    let when = DateTime::from_timestamp_micros(us)
                        .map(|d| d.format("%Y-%m-%dT%H:%M:%SZ").to_string())
                        .unwrap_or_else(|| v.to_string());
                    let why = if us < self.min_us {
                        format!("is before {}", self.min_date)
                    } else {
                        format!("is on or after {}", self.max_date)
                    };
                    errors.push((
                        row,
                        format!(
                            "{}: {} ({when}) {why}, which is not plausible",
                            f.name,
                            quote(v)
                        ),
                    ));
                    b.append_null();
                }
                None => {
                    errors.push((
                        row,
                        format!(
                            "{}: {} is not a timestamp (expected ISO 8601 such as \
                             2026-11-21T14:05:00Z, or set timestamp_format in a [[sources]] mapping)",
                            f.name,
                            quote(v)
                        ),
                    ));
                    b.append_null();
                }
            }
        }
        Arc::new(b.finish().with_timezone("UTC"))
    }

    /// Rules across fields (e.g. `disposition` required when `stage` = dispositioned).
    fn row_rules(&self, columns: &[ArrayRef], errors: &mut Errors) {
        for rule in self.table.rules {
            let (Some(w), Some(t)) = (
                self.table.field_index(rule.when_field),
                self.table.field_index(rule.then_required),
            ) else {
                continue;
            };
            let Some(when) = columns[w].as_any().downcast_ref::<StringArray>() else {
                continue;
            };
            for row in 0..when.len() {
                if when.is_valid(row)
                    && when.value(row) == rule.when_value
                    && columns[t].is_null(row)
                {
                    errors.push((
                        row,
                        format!(
                            "{} is required when {} is {}",
                            rule.then_required, rule.when_field, rule.when_value
                        ),
                    ));
                }
            }
        }
    }
}

/// A value for a message: quoted, cut to a readable length.
fn quote(v: &str) -> String {
    if v.chars().count() <= 60 {
        format!("{v:?}")
    } else {
        let cut: String = v.chars().take(57).collect();
        format!("{:?}…", cut)
    }
}

fn dec_column(t: &StringArray, f: &FieldSpec, errors: &mut Errors) -> ArrayRef {
    let mut b = Float64Builder::with_capacity(t.len());
    for (row, v) in t.iter().enumerate() {
        let v = v.unwrap_or("").trim();
        if v.is_empty() {
            match f.default {
                Some(d) => b.append_value(d),
                None => {
                    if f.required {
                        errors.push((row, format!("{} is required but empty", f.name)));
                    }
                    b.append_null();
                }
            }
            continue;
        }
        match v.parse::<f64>() {
            Ok(x) if !x.is_finite() => {
                errors.push((
                    row,
                    format!("{}: {} is not a finite number", f.name, quote(v)),
                ));
                b.append_null();
            }
            Ok(x) if !f.check.holds(x) => {
                errors.push((
                    row,
                    format!("{}: {} must be {}", f.name, quote(v), f.check.describe()),
                ));
                b.append_null();
            }
            Ok(x) => b.append_value(if x == 0.0 { 0.0 } else { x }),
            Err(_) => {
                errors.push((row, format!("{}: {} is not a number", f.name, quote(v))));
                b.append_null();
            }
        }
    }
    Arc::new(b.finish())
}

fn int_column(t: &StringArray, f: &FieldSpec, errors: &mut Errors) -> ArrayRef {
    let mut b = Int64Builder::with_capacity(t.len());
    for (row, v) in t.iter().enumerate() {
        let v = v.unwrap_or("").trim();
        if v.is_empty() {
            if f.required {
                errors.push((row, format!("{} is required but empty", f.name)));
            }
            b.append_null();
            continue;
        }
        let parsed = v.parse::<i64>().ok().or_else(|| {
            v.parse::<f64>()
                .ok()
                .filter(|x| x.fract() == 0.0 && x.abs() < 9.0e15)
                .map(|x| x as i64)
        });
        match parsed {
            Some(x) if f.check.holds(x as f64) => b.append_value(x),
            Some(_) => {
                errors.push((
                    row,
                    format!("{}: {} must be {}", f.name, quote(v), f.check.describe()),
                ));
                b.append_null();
            }
            None => {
                errors.push((
                    row,
                    format!("{}: {} is not a whole number", f.name, quote(v)),
                ));
                b.append_null();
            }
        }
    }
    Arc::new(b.finish())
}

fn bool_column(t: &StringArray, f: &FieldSpec, errors: &mut Errors) -> ArrayRef {
    let mut b = BooleanBuilder::with_capacity(t.len());
    for (row, v) in t.iter().enumerate() {
        let v = v.unwrap_or("").trim();
        let parsed = match v.to_ascii_lowercase().as_str() {
            "" => None,
            "true" | "t" | "yes" | "y" | "1" => Some(true),
            "false" | "f" | "no" | "n" | "0" => Some(false),
            _ => {
                errors.push((
                    row,
                    format!("{}: {} is not true or false", f.name, quote(v)),
                ));
                None
            }
        };
        if parsed.is_none() && v.is_empty() && f.required {
            errors.push((row, format!("{} is required but empty", f.name)));
        }
        b.append_option(parsed);
    }
    Arc::new(b.finish())
}
