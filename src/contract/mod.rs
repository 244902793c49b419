//! The data contract as code: every canonical table of docs/contract.md, declared once.
//!
//! Arrow schemas, ingest validation, the lake's partitioning, the `<table>_current`
//! views and the README's table reference are all derived from [`TABLES`]. Nothing else
//! in the crate spells a canonical field name except the SQL in `queries/`.
//! This module holds declarations only; validation lives in `ingest::validate`.

mod tables;

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};

pub use tables::TABLES;

/// Column added by the lake to every row: a number unique per row that grows with
/// ingest order (ties in `updated_at` go to the later ingested row).
pub const INGEST_SEQ: &str = "_ingest_seq";
/// Column added by the lake to every row: the export file the row came from.
pub const SOURCE_FILE: &str = "_source_file";
/// Hive partition column of every lake table (UTC date of the table's time column).
pub const PARTITION_COLUMN: &str = "event_date";

/// Type of a canonical field (docs/contract.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    Str,
    Int,
    Dec,
    Ts,
    Bool,
}

impl FieldType {
    pub fn arrow(self) -> DataType {
        match self {
            FieldType::Str => DataType::Utf8,
            FieldType::Int => DataType::Int64,
            FieldType::Dec => DataType::Float64,
            FieldType::Ts => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            FieldType::Bool => DataType::Boolean,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            FieldType::Str => "str",
            FieldType::Int => "int",
            FieldType::Dec => "dec",
            FieldType::Ts => "ts",
            FieldType::Bool => "bool",
        }
    }
}

/// A numeric constraint on a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    None,
    /// > 0
    Positive,
    /// ≥ 0
    NonNegative,
    /// ≠ 0
    NonZero,
}

impl Check {
    pub fn holds(self, v: f64) -> bool {
        match self {
            Check::None => true,
            Check::Positive => v > 0.0,
            Check::NonNegative => v >= 0.0,
            Check::NonZero => v != 0.0,
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Check::None => "",
            Check::Positive => "> 0",
            Check::NonNegative => "≥ 0",
            Check::NonZero => "≠ 0",
        }
    }
}

/// One canonical field.
#[derive(Debug, Clone, Copy)]
pub struct FieldSpec {
    pub name: &'static str,
    pub ty: FieldType,
    pub required: bool,
    /// Allowed values, in their canonical spelling; matched case-insensitively after trim.
    pub enum_values: Option<&'static [&'static str]>,
    pub check: Check,
    /// Value used when the source leaves the field empty (numeric fields only).
    pub default: Option<f64>,
    pub doc: &'static str,
}

impl FieldSpec {
    pub const fn new(name: &'static str, ty: FieldType, doc: &'static str) -> Self {
        FieldSpec {
            name,
            ty,
            required: false,
            enum_values: None,
            check: Check::None,
            default: None,
            doc,
        }
    }
    pub const fn required(mut self) -> Self {
        self.required = true;
        self
    }
    pub const fn one_of(mut self, values: &'static [&'static str]) -> Self {
        self.enum_values = Some(values);
        self
    }
    pub const fn check(mut self, check: Check) -> Self {
        self.check = check;
        self
    }
    pub const fn default(mut self, v: f64) -> Self {
        self.default = Some(v);
        self
    }
}

/// How rows of a table relate to each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableKind {
    /// Master data: latest version per key by `updated_at`.
    Master,
    /// Order lines: latest version per key by `updated_at`.
    Versioned,
    /// Immutable facts, deduplicated by `event_id`.
    Event,
    /// Point-in-time statements (stock by status): a row is identified by its key
    /// (`location_id` may be empty); the same key sent again is a duplicate. An
    /// optional feed: a lake without it is complete.
    Snapshot,
}

/// A rule that involves more than one field of a row.
#[derive(Debug, Clone, Copy)]
pub struct RowRule {
    /// When `when_field` equals `when_value` ...
    pub when_field: &'static str,
    pub when_value: &'static str,
    /// ... then this field is required.
    pub then_required: &'static str,
}

/// One canonical table.
#[derive(Debug)]
pub struct TableSpec {
    pub name: &'static str,
    pub kind: TableKind,
    /// Key of the table: the version key, `event_id` for events, the identity of a
    /// snapshot row.
    pub key: &'static [&'static str],
    /// Main timestamp: partitions the lake and bounds rows to the as-of date.
    pub time_column: &'static str,
    pub fields: &'static [FieldSpec],
    pub rules: &'static [RowRule],
    pub doc: &'static str,
}

impl TableSpec {
    pub fn field(&self, name: &str) -> Option<&FieldSpec> {
        self.fields.iter().find(|f| f.name == name)
    }

    pub fn field_index(&self, name: &str) -> Option<usize> {
        self.fields.iter().position(|f| f.name == name)
    }

    /// Is the table versioned (latest row per key wins)?
    pub fn versioned(&self) -> bool {
        matches!(self.kind, TableKind::Master | TableKind::Versioned)
    }

    /// May a lake lack this feed altogether (no warning, no stale exit)?
    pub fn optional(&self) -> bool {
        self.kind == TableKind::Snapshot
    }

    /// Arrow schema of the canonical fields only.
    pub fn canonical_schema(&self) -> SchemaRef {
        Arc::new(Schema::new(
            self.fields
                .iter()
                .map(|f| Field::new(f.name, f.ty.arrow(), !f.required))
                .collect::<Vec<_>>(),
        ))
    }

    /// Arrow schema of a lake file: canonical fields plus the system columns.
    pub fn lake_schema(&self) -> SchemaRef {
        let mut fields: Vec<Field> = self
            .fields
            .iter()
            .map(|f| Field::new(f.name, f.ty.arrow(), !f.required))
            .collect();
        fields.push(Field::new(INGEST_SEQ, DataType::Int64, false));
        fields.push(Field::new(SOURCE_FILE, DataType::Utf8, false));
        Arc::new(Schema::new(fields))
    }
}

/// Find a canonical table by name.
pub fn table(name: &str) -> Option<&'static TableSpec> {
    TABLES.iter().find(|t| t.name == name)
}

/// The canonical table a file name designates: the longest table name that prefixes it
/// (docs/contract.md), compared case-insensitively.
pub fn table_for_file_name(file_name: &str) -> Option<&'static TableSpec> {
    let lower = file_name.to_ascii_lowercase();
    TABLES
        .iter()
        .filter(|t| lower.starts_with(t.name))
        .max_by_key(|t| t.name.len())
}

/// The table reference in Markdown, as the README shows it.
pub fn markdown_reference() -> String {
    let mut out = String::new();
    for t in TABLES {
        let kind = match t.kind {
            TableKind::Master | TableKind::Versioned => {
                format!("latest version per ({}) by `updated_at`", t.key.join(", "))
            }
            TableKind::Event => "events, deduplicated by `event_id`".to_string(),
            TableKind::Snapshot => format!(
                "optional snapshots, one row per ({}); the same row sent again is a duplicate",
                t.key.join(", ")
            ),
        };
        out.push_str(&format!(
            "### `{}`\n\n{} Kind: {}; partitioned by the UTC date of `{}`.\n\n",
            t.name, t.doc, kind, t.time_column
        ));
        out.push_str("| field | type | required | rule | meaning |\n|---|---|---|---|---|\n");
        for f in t.fields {
            let mut rule = Vec::new();
            if let Some(values) = f.enum_values {
                rule.push(format!("one of {}", values.join(", ")));
            }
            if f.check != Check::None {
                rule.push(f.check.describe().to_string());
            }
            if let Some(d) = f.default {
                rule.push(format!("default {d}"));
            }
            for r in t.rules.iter().filter(|r| r.then_required == f.name) {
                rule.push(format!("required when {} = {}", r.when_field, r.when_value));
            }
            out.push_str(&format!(
                "| `{}` | {} | {} | {} | {} |\n",
                f.name,
                f.ty.label(),
                if f.required { "yes" } else { "" },
                rule.join("; "),
                f.doc
            ));
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_pick_the_longest_table_prefix() {
        let name = |f| table_for_file_name(f).map(|t| t.name);
        assert_eq!(name("shipments.csv"), Some("shipments"));
        assert_eq!(name("shipments-2026-11-21.ndjson.gz"), Some("shipments"));
        assert_eq!(name("cycle_counts_part2.csv"), Some("cycle_counts"));
        assert_eq!(name("Order_Lines.csv"), Some("order_lines"));
        assert_eq!(name("orders.csv"), None);
    }

    #[test]
    fn every_table_has_its_key_and_time_column_as_required_fields() {
        for t in TABLES {
            for k in t.key.iter().chain([&t.time_column]) {
                let f = t
                    .field(k)
                    .unwrap_or_else(|| panic!("{}.{k} missing", t.name));
                // A snapshot's location may be empty (stock held for the whole site).
                if !(t.kind == TableKind::Snapshot && *k == "location_id") {
                    assert!(f.required, "{}.{k} must be required", t.name);
                }
            }
            if t.kind == TableKind::Event {
                assert_eq!(t.key, &["event_id"]);
            }
            assert_eq!(t.field(t.time_column).map(|f| f.ty), Some(FieldType::Ts));
        }
    }
}
