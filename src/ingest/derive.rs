//! Derived fields of a source mapping (`[sources.derive]`: canonical field = SQL
//! expression), evaluated on each batch with DataFusion's expression machinery.
//!
//! An expression sees two kinds of columns:
//! - the canonical fields the mapping fills from a source column, by their canonical
//!   name and with their contract type (`ordered_at` is a timestamp, `qty_ordered` a
//!   number), parsed with the source's time zone and timestamp format (a value that
//!   does not parse is NULL there; the field itself is still validated as usual);
//! - every source column, by its name in the file as text (`"Created at"`, quoted
//!   when it has spaces; its normalised form `created_at` works too).
//!
//! `row_hash()` is a stable hash of the source record (its values in header order),
//! for exports that carry no event id: the same record sent again hashes the same.
//! The result is validated like any other value of the field (required, type, enum,
//! `> 0` …), so a derived value that breaks the contract is a reject with a reason.
//! An expression that cannot be planned or evaluated names the mapping, the field and
//! the expression.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, BooleanArray, Float64Array, Int64Array, StringArray, StringBuilder,
    TimestampMicrosecondArray,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::DFSchema;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::logical_expr::simplify::SimplifyContext;
use datafusion::logical_expr::{ColumnarValue, Expr, Volatility, create_udf};
use datafusion::optimizer::simplify_expressions::ExprSimplifier;
use datafusion::physical_plan::PhysicalExpr;
use datafusion::prelude::{SessionContext, col};

use super::FileProblem;
use super::raw::{ColumnMap, RawBatch};
use super::timestamp::TsParser;
use crate::config::SourceMapping;
use crate::contract::{FieldType, TableSpec};

/// The hidden column holding each row's `row_hash()`.
const ROW_HASH: &str = "__opintel_row_hash";

/// The derived fields of one file, planned.
pub(crate) struct Derive {
    /// (canonical field index, field name, expression text, planned expression)
    fields: Vec<(usize, &'static str, String, Arc<dyn PhysicalExpr>)>,
    /// The context each batch is given: typed canonical fields, then source columns.
    context: SchemaRef,
    /// For each context column: where it comes from.
    sources: Vec<Source>,
    mapping: String,
}

#[derive(Debug, Clone, Copy)]
enum Source {
    /// A canonical field's slot, parsed to its type.
    Field(usize, FieldType),
    /// A kept source column's slot, as text.
    Text(usize),
    RowHash,
}

impl Derive {
    /// Plan `mapping`'s derived fields for a file whose columns `map` describes.
    pub fn plan(
        table: &'static TableSpec,
        mapping: &SourceMapping,
        map: &ColumnMap,
    ) -> Result<Option<Derive>, FileProblem> {
        if mapping.derive.is_empty() {
            return Ok(None);
        }
        let name = if mapping.name.is_empty() {
            mapping.pattern.clone()
        } else {
            mapping.name.clone()
        };
        let mut fields: Vec<Field> = Vec::new();
        let mut sources: Vec<Source> = Vec::new();
        let mut names: std::collections::BTreeSet<String> = Default::default();
        for (i, f) in table.fields.iter().enumerate() {
            if map.source_of[i].is_some() && !mapping.derive.contains_key(f.name) {
                fields.push(Field::new(f.name, f.ty.arrow(), true));
                sources.push(Source::Field(i, f.ty));
                names.insert(f.name.to_string());
            }
        }
        for (j, header) in map.kept.iter().enumerate() {
            let slot = table.fields.len() + j;
            for alias in [header.clone(), super::raw::normalise(header)] {
                if names.insert(alias.clone()) {
                    fields.push(Field::new(alias, DataType::Utf8, true));
                    sources.push(Source::Text(slot));
                }
            }
        }
        fields.push(Field::new(ROW_HASH, DataType::Utf8, false));
        sources.push(Source::RowHash);
        let context: SchemaRef = Arc::new(Schema::new(fields));
        let ctx = SessionContext::new();
        // `row_hash()` parses as a function; it is replaced by the hidden column.
        ctx.register_udf(create_udf(
            "row_hash",
            vec![],
            DataType::Utf8,
            Volatility::Immutable,
            Arc::new(|_: &[ColumnarValue]| {
                Err(datafusion::error::DataFusionError::Internal(
                    "row_hash() is evaluated by opintel".into(),
                ))
            }),
        ));
        let df_schema = DFSchema::try_from(Arc::clone(&context))
            .map_err(|e| FileProblem::file(format!("source mapping {name:?}: {e}")))?;
        let mut planned = Vec::new();
        for (field, sql) in &mapping.derive {
            let Some(i) = table.field_index(field) else {
                return Err(FileProblem::file(format!(
                    "source mapping {name:?}: derive: {field:?} is not a field of {}",
                    table.name
                )));
            };
            let fail = |e: &dyn std::fmt::Display| {
                FileProblem::file(format!(
                    "source mapping {name:?}: derive {field} = {sql:?}: {e}{}",
                    if e.to_string().contains("Utf8") {
                        " (source columns are text: CAST(\"Column\" AS TIMESTAMP) or a canonical field the mapping fills gives a typed value)"
                    } else {
                        ""
                    }
                ))
            };
            let expr = ctx.parse_sql_expr(sql, &df_schema).map_err(|e| fail(&e))?;
            let expr = expr
                .transform(|e| match &e {
                    Expr::ScalarFunction(f) if f.name() == "row_hash" && f.args.is_empty() => {
                        Ok(Transformed::yes(col(ROW_HASH)))
                    }
                    _ => Ok(Transformed::no(e)),
                })
                .map_err(|e| fail(&e))?
                .data;
            // Coerce and simplify before planning: some functions (coalesce) are only
            // executable in their simplified form.
            let simplifier = ExprSimplifier::new(
                SimplifyContext::builder()
                    .with_schema(Arc::new(df_schema.clone()))
                    .build(),
            );
            let expr = simplifier
                .coerce(expr, &df_schema)
                .and_then(|e| simplifier.simplify(e))
                .map_err(|e| fail(&e))?;
            let physical = ctx
                .create_physical_expr(expr, &df_schema)
                .map_err(|e| fail(&e))?;
            planned.push((i, table.fields[i].name, sql.clone(), physical));
        }
        Ok(Some(Derive {
            fields: planned,
            context,
            sources,
            mapping: name,
        }))
    }

    /// Fill the derived fields of `raw` (as text, to be validated like the rest).
    pub fn apply(&self, mut raw: RawBatch, ts: &TsParser) -> Result<RawBatch, FileProblem> {
        let n = raw.num_rows();
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(self.sources.len());
        for s in &self.sources {
            let col: ArrayRef = match *s {
                Source::Field(slot, ty) => typed(raw.columns[slot].as_ref(), ty, ts, n),
                Source::Text(slot) => raw.columns[slot]
                    .clone()
                    .unwrap_or_else(|| Arc::new(StringArray::from(vec![None::<&str>; n]))),
                Source::RowHash => Arc::new(row_hashes(&raw, n)),
            };
            columns.push(col);
        }
        let batch = RecordBatch::try_new(Arc::clone(&self.context), columns)
            .map_err(|e| FileProblem::file(format!("source mapping {:?}: {e}", self.mapping)))?;
        for (i, field, sql, expr) in &self.fields {
            let fail = |e: &dyn std::fmt::Display| {
                FileProblem::file(format!(
                    "source mapping {:?}: derive {field} = {sql:?}: {e}",
                    self.mapping
                ))
            };
            let value = expr
                .evaluate(&batch)
                .and_then(|v| v.into_array(n))
                .map_err(|e| fail(&e))?;
            let text = cast(&value, &DataType::Utf8).map_err(|e| fail(&e))?;
            raw.columns[*i] = Some(text);
        }
        Ok(raw)
    }
}

/// A canonical field's text parsed to its contract type (what does not parse: NULL).
fn typed(text: Option<&ArrayRef>, ty: FieldType, ts: &TsParser, n: usize) -> ArrayRef {
    let strings: Vec<Option<&str>> = match text
        .and_then(|a| a.as_any().downcast_ref::<StringArray>())
    {
        Some(a) => (0..n)
            .map(|i| (a.is_valid(i) && !a.value(i).trim().is_empty()).then(|| a.value(i).trim()))
            .collect(),
        None => vec![None; n],
    };
    match ty {
        FieldType::Str => Arc::new(StringArray::from(strings)),
        FieldType::Int => Arc::new(Int64Array::from(
            strings
                .iter()
                .map(|s| s.and_then(|s| s.parse().ok()))
                .collect::<Vec<_>>(),
        )),
        FieldType::Dec => Arc::new(Float64Array::from(
            strings
                .iter()
                .map(|s| s.and_then(|s| s.parse().ok()))
                .collect::<Vec<_>>(),
        )),
        FieldType::Ts => Arc::new(
            TimestampMicrosecondArray::from(
                strings
                    .iter()
                    .map(|s| s.and_then(|s| ts.parse(s)))
                    .collect::<Vec<_>>(),
            )
            .with_timezone("UTC"),
        ),
        FieldType::Bool => Arc::new(BooleanArray::from(
            strings
                .iter()
                .map(|s| match s.map(str::to_ascii_lowercase).as_deref() {
                    Some("true" | "t" | "yes" | "1") => Some(true),
                    Some("false" | "f" | "no" | "0") => Some(false),
                    _ => None,
                })
                .collect::<Vec<_>>(),
        )),
    }
}

/// xxh3-128 of each row's source values (header order, unit-separated), as hex.
fn row_hashes(raw: &RawBatch, n: usize) -> StringArray {
    let kept: Vec<&StringArray> = raw
        .kept_columns()
        .iter()
        .filter_map(|c| {
            c.as_ref()
                .and_then(|a| a.as_any().downcast_ref::<StringArray>())
        })
        .collect();
    let mut b = StringBuilder::with_capacity(n, n * 32);
    let mut buf = Vec::with_capacity(256);
    for row in 0..n {
        buf.clear();
        for c in &kept {
            if c.is_valid(row) {
                buf.extend_from_slice(c.value(row).trim().as_bytes());
            }
            buf.push(0x1f);
        }
        b.append_value(format!("{:032x}", xxhash_rust::xxh3::xxh3_128(&buf)));
    }
    b.finish()
}
