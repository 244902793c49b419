//! What every reader hands to validation: a batch of rows as text columns, one per
//! canonical field, with each row's line number and raw text kept for rejects.
//! Also the header → canonical field mapping shared by all formats. No typing or
//! checking of values happens here; that is `validate`.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, StringBuilder};

use crate::config::SourceMapping;
use crate::contract::TableSpec;

/// Longest value a field may hold; longer values are rejected (a 10 MB "description"
/// is a broken export, not data).
pub(crate) const MAX_FIELD_BYTES: usize = 1 << 20;
/// Raw text kept for a rejected row (longer text is cut, with a note).
pub(crate) const MAX_RAW_BYTES: usize = 64 << 10;

/// A row that was refused, with the reason a person can act on.
#[derive(Debug, Clone)]
pub struct Reject {
    pub line: u64,
    pub raw: String,
    pub reason: String,
}

/// Cut raw text to [`MAX_RAW_BYTES`] for storage.
pub(crate) fn clip_raw(raw: &[u8]) -> String {
    if raw.len() <= MAX_RAW_BYTES {
        return String::from_utf8_lossy(raw).into_owned();
    }
    let mut s = String::from_utf8_lossy(&raw[..MAX_RAW_BYTES]).into_owned();
    s.push_str(&format!("… [cut: the row is {} bytes]", raw.len()));
    s
}

/// Rows of one file as text, one optional column per canonical field.
pub(crate) struct RawBatch {
    /// Indexed like `TableSpec::fields`, then the source columns a mapping's derived
    /// fields may read (`ColumnMap::kept`); `None` when the source has no such column.
    pub columns: Vec<Option<ArrayRef>>,
    /// How many of `columns` are canonical fields.
    pub fields: usize,
    /// Line (CSV, NDJSON) or record number (Parquet) of each row, 1-based.
    pub lines: Vec<u64>,
    raw: Vec<u8>,
    raw_ends: Vec<usize>,
    /// Rows refused while reading (bad UTF-8, wrong number of fields …).
    pub early: Vec<Reject>,
}

impl RawBatch {
    /// The kept source columns (after the canonical fields).
    pub fn kept_columns(&self) -> &[Option<ArrayRef>] {
        &self.columns[self.fields.min(self.columns.len())..]
    }

    pub fn num_rows(&self) -> usize {
        self.lines.len()
    }

    /// Rows read, including those refused while reading.
    pub fn rows_read(&self) -> u64 {
        (self.lines.len() + self.early.len()) as u64
    }

    /// Raw text of row `i`, as it stood in the file.
    pub fn raw(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.raw_ends[i - 1] };
        &self.raw[start..self.raw_ends[i]]
    }
}

/// Collects rows into a [`RawBatch`].
pub(crate) struct RawBatchBuilder {
    builders: Vec<Option<StringBuilder>>,
    fields: usize,
    lines: Vec<u64>,
    raw: Vec<u8>,
    raw_ends: Vec<usize>,
    early: Vec<Reject>,
}

impl RawBatchBuilder {
    pub fn new(map: &ColumnMap, capacity: usize) -> Self {
        RawBatchBuilder {
            builders: map
                .source_of
                .iter()
                .map(|s| s.map(|_| StringBuilder::with_capacity(capacity, capacity * 8)))
                .collect(),
            fields: map.fields,
            lines: Vec::with_capacity(capacity),
            raw: Vec::new(),
            raw_ends: Vec::with_capacity(capacity),
            early: Vec::new(),
        }
    }

    /// Rows so far, including early rejects.
    pub fn len(&self) -> usize {
        self.lines.len() + self.early.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Add a row: `value(i)` gives the text of slot `i` (canonical field, then kept
    /// source column; only called for slots the source has).
    pub fn push<'a>(&mut self, line: u64, raw: &[u8], mut value: impl FnMut(usize) -> &'a str) {
        for (i, b) in self.builders.iter_mut().enumerate() {
            if let Some(b) = b {
                b.append_value(value(i));
            }
        }
        self.lines.push(line);
        self.raw
            .extend_from_slice(&raw[..raw.len().min(MAX_RAW_BYTES)]);
        self.raw_ends.push(self.raw.len());
    }

    pub fn reject(&mut self, line: u64, raw: &[u8], reason: String) {
        self.early.push(Reject {
            line,
            raw: clip_raw(raw),
            reason,
        });
    }

    pub fn finish(&mut self) -> RawBatch {
        RawBatch {
            columns: self
                .builders
                .iter_mut()
                .map(|b| b.as_mut().map(|b| Arc::new(b.finish()) as ArrayRef))
                .collect(),
            fields: self.fields,
            lines: std::mem::take(&mut self.lines),
            raw: std::mem::take(&mut self.raw),
            raw_ends: std::mem::take(&mut self.raw_ends),
            early: std::mem::take(&mut self.early),
        }
    }
}

/// Where each canonical field comes from in a source's columns.
#[derive(Debug, Clone)]
pub(crate) struct ColumnMap {
    /// For each slot — the canonical fields (by index), then the kept source columns —
    /// the source column index.
    pub source_of: Vec<Option<usize>>,
    /// How many slots are canonical fields.
    pub fields: usize,
    /// Source columns kept for derived fields (`[sources.derive]`): all of them, by
    /// header name, when the mapping derives any field.
    pub kept: Vec<String>,
    /// Source columns that are not canonical (reported once per file).
    pub extras: Vec<String>,
    /// Number of source columns.
    pub width: usize,
}

impl ColumnMap {
    /// Match a header against the table. Source mappings rename first; then names
    /// match canonical fields ignoring case, surrounding spaces, and `-`/space vs `_`.
    pub fn new(
        table: &TableSpec,
        mapping: Option<&SourceMapping>,
        header: &[String],
    ) -> Result<ColumnMap, String> {
        let renames: HashMap<String, &str> = mapping
            .map(|m| {
                m.columns
                    .iter()
                    .map(|(src, dst)| (normalise(src), dst.as_str()))
                    .collect()
            })
            .unwrap_or_default();
        let mut source_of = vec![None; table.fields.len()];
        let mut extras = Vec::new();
        let mut seen = BTreeSet::new();
        for (i, name) in header.iter().enumerate() {
            let norm = normalise(name);
            if !seen.insert(norm.clone()) {
                return Err(format!("the header names column {name:?} twice"));
            }
            let canonical = renames.get(&norm).copied().unwrap_or(norm.as_str());
            match table.field_index(canonical) {
                Some(f) => {
                    if let Some(prev) = source_of[f] {
                        return Err(format!(
                            "columns {:?} and {:?} both map to field {}",
                            header[prev], name, table.fields[f].name
                        ));
                    }
                    source_of[f] = Some(i);
                }
                None => extras.push(name.clone()),
            }
        }
        let derived = |name: &str| mapping.is_some_and(|m| m.derive.contains_key(name));
        let missing: Vec<&str> = table
            .fields
            .iter()
            .zip(&source_of)
            .filter(|(f, s)| f.required && s.is_none() && !derived(f.name))
            .map(|(f, _)| f.name)
            .collect();
        if !missing.is_empty() {
            let mut msg = format!(
                "missing required column{} {} for table {}",
                if missing.len() > 1 { "s" } else { "" },
                missing.join(", "),
                table.name
            );
            if header.len() == 1 {
                for d in [';', '\t', '|', ','] {
                    if header[0].contains(d) {
                        msg.push_str(&format!(
                            " (the header is one column containing {d:?}: is the delimiter {d:?}? \
                             set `delimiter` in a [[sources]] mapping)"
                        ));
                        break;
                    }
                }
            } else if !extras.is_empty() {
                msg.push_str(&format!(
                    "; the file has columns {} that a [[sources]] mapping could rename \
                     (or derive the field from, in [sources.derive])",
                    extras
                        .iter()
                        .map(|e| format!("{e:?}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            return Err(msg);
        }
        let fields = source_of.len();
        let mut kept = Vec::new();
        if mapping.is_some_and(|m| !m.derive.is_empty()) {
            for (i, name) in header.iter().enumerate() {
                source_of.push(Some(i));
                kept.push(name.clone());
            }
        }
        Ok(ColumnMap {
            source_of,
            fields,
            kept,
            extras,
            width: header.len(),
        })
    }
}

/// Column-name normal form: trimmed, lower case, spaces and dashes as underscores.
pub(crate) fn normalise(name: &str) -> String {
    name.trim()
        .chars()
        .map(|c| match c {
            ' ' | '-' => '_',
            c => c.to_ascii_lowercase(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::table;

    fn header(cols: &[&str]) -> Vec<String> {
        cols.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn header_matching() {
        let t = table("suppliers").expect("suppliers");
        let m = ColumnMap::new(
            t,
            None,
            &header(&[" Supplier_ID", "NAME", "extra", "updated-at"]),
        )
        .expect("maps");
        assert_eq!(m.source_of, vec![Some(0), Some(1), None, Some(3)]);
        assert_eq!(m.extras, vec!["extra".to_string()]);

        let err = ColumnMap::new(t, None, &header(&["supplier_id;name;updated_at"])).unwrap_err();
        assert!(err.contains("delimiter ';'"), "{err}");
        let err = ColumnMap::new(
            t,
            None,
            &header(&["supplier_id", "name", "Name", "updated_at"]),
        )
        .unwrap_err();
        assert!(err.contains("twice"), "{err}");

        let mapping = SourceMapping {
            pattern: "*".into(),
            columns: [("Vendor".to_string(), "supplier_id".to_string())].into(),
            ..Default::default()
        };
        let m =
            ColumnMap::new(t, Some(&mapping), &header(&["vendor", "updated_at"])).expect("maps");
        assert_eq!(m.source_of[0], Some(0));
    }
}
