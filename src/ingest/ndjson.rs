//! NDJSON reader: one JSON object per line, streamed in batches of text columns.
//!
//! Each object is deserialised straight into the batch (no intermediate JSON tree):
//! strings stay as they are, numbers keep their text, `true`/`false` become text,
//! `null` is empty. Nested objects or arrays in a canonical field refuse the row.
//! The column set is the union of canonical fields that appear in the first batch's
//! objects; a key that is not canonical is reported once per file.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::io::{BufRead, BufReader, Read};

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};

use super::raw::{ColumnMap, MAX_FIELD_BYTES, RawBatch, RawBatchBuilder};
use super::{FileProblem, RowSource};
use crate::config::SourceMapping;
use crate::contract::TableSpec;

pub(crate) struct NdjsonSource {
    input: BufReader<Box<dyn Read + Send>>,
    line: u64,
    /// Source key (as written) → canonical field index.
    keys: HashMap<String, Option<usize>>,
    mapping_keys: HashMap<String, usize>,
    table: &'static TableSpec,
    map: ColumnMap,
    extras: BTreeSet<String>,
    batch_rows: usize,
    buf: Vec<u8>,
    values: Vec<Option<String>>,
    /// A read error met after some rows of a batch: returned on the next call.
    failed: Option<FileProblem>,
}

impl NdjsonSource {
    pub fn open(
        input: Box<dyn Read + Send>,
        table: &'static TableSpec,
        mapping: Option<&SourceMapping>,
        batch_rows: usize,
    ) -> Result<NdjsonSource, FileProblem> {
        // Every canonical field gets a column; absent keys read as empty, so a missing
        // required field is a per-row reject naming the field.
        if let Some(m) = mapping.filter(|m| !m.derive.is_empty()) {
            return Err(FileProblem::file(format!(
                "source mapping {:?}: derived fields ([sources.derive]) are supported for CSV and Parquet files, not NDJSON yet",
                if m.name.is_empty() {
                    &m.pattern
                } else {
                    &m.name
                }
            )));
        }
        let mut mapping_keys = HashMap::new();
        if let Some(m) = mapping {
            for (src, dst) in &m.columns {
                if let Some(i) = table.field_index(dst) {
                    mapping_keys.insert(src.trim().to_ascii_lowercase(), i);
                }
            }
        }
        Ok(NdjsonSource {
            input: BufReader::with_capacity(1 << 20, input),
            line: 0,
            keys: HashMap::new(),
            mapping_keys,
            table,
            map: ColumnMap {
                source_of: (0..table.fields.len()).map(Some).collect(),
                fields: table.fields.len(),
                kept: Vec::new(),
                extras: Vec::new(),
                width: table.fields.len(),
            },
            extras: BTreeSet::new(),
            batch_rows,
            buf: Vec::new(),
            values: vec![None; table.fields.len()],
            failed: None,
        })
    }

    fn field_for(&mut self, key: &str) -> Option<usize> {
        if let Some(&f) = self.keys.get(key) {
            return f;
        }
        let norm = key.trim().to_ascii_lowercase();
        let f = self
            .mapping_keys
            .get(&norm)
            .copied()
            .or_else(|| self.table.field_index(&norm.replace([' ', '-'], "_")));
        if f.is_none() {
            self.extras.insert(key.to_string());
        }
        self.keys.insert(key.to_string(), f);
        f
    }
}

impl RowSource for NdjsonSource {
    fn column_map(&self) -> &ColumnMap {
        &self.map
    }

    fn extras(&self) -> Vec<String> {
        self.extras.iter().cloned().collect()
    }

    fn next_batch(&mut self) -> Result<Option<RawBatch>, FileProblem> {
        if let Some(p) = self.failed.take() {
            return Err(p);
        }
        let mut b = RawBatchBuilder::new(&self.map, self.batch_rows);
        while b.len() < self.batch_rows {
            self.buf.clear();
            let read = self.input.read_until(b'\n', &mut self.buf).map_err(|e| {
                FileProblem::at(
                    self.line + 1,
                    format!("read failed after line {}: {e}", self.line),
                )
            });
            let n = match read {
                Ok(n) => n,
                Err(p) if b.is_empty() => return Err(p),
                Err(p) => {
                    // Hand over the rows read so far; report the problem next time.
                    self.failed = Some(p);
                    break;
                }
            };
            if n == 0 {
                break;
            }
            self.line += 1;
            let line = self.line;
            let mut raw = std::mem::take(&mut self.buf);
            if self.line == 1 && raw.starts_with(b"\xEF\xBB\xBF") {
                raw.drain(..3);
            }
            while matches!(raw.last(), Some(b'\n' | b'\r')) {
                raw.pop();
            }
            if raw.iter().all(|c| c.is_ascii_whitespace()) {
                self.buf = raw;
                continue;
            }
            match self.parse_object(&raw) {
                Ok(()) => {
                    let values = &self.values;
                    b.push(line, &raw, |i| values[i].as_deref().unwrap_or(""));
                }
                Err(reason) => b.reject(line, &raw, reason),
            }
            self.buf = raw;
        }
        Ok((!b.is_empty()).then(|| b.finish()))
    }
}

impl NdjsonSource {
    fn parse_object(&mut self, raw: &[u8]) -> Result<(), String> {
        for v in self.values.iter_mut() {
            *v = None;
        }
        let text = std::str::from_utf8(raw).map_err(|e| {
            format!(
                "the row is not valid UTF-8 (byte 0x{:02X} at column {}); convert the file to UTF-8",
                raw[e.valid_up_to()],
                e.valid_up_to() + 1
            )
        })?;
        let mut de = serde_json::Deserializer::from_str(text);
        let seed = RowSeed { src: self };
        de.deserialize_map(seed).map_err(|e| {
            let m = e.to_string();
            if m.starts_with("invalid type") {
                "the line is not a JSON object".to_string()
            } else {
                format!("the line is not valid JSON: {m}")
            }
        })?;
        de.end()
            .map_err(|e| format!("the line has more than one JSON value: {e}"))?;
        if let Some(i) = self
            .values
            .iter()
            .position(|v| v.as_ref().is_some_and(|s| s.len() > MAX_FIELD_BYTES))
        {
            return Err(format!(
                "{} is longer than {} KiB",
                self.table.fields[i].name,
                MAX_FIELD_BYTES >> 10
            ));
        }
        Ok(())
    }
}

struct RowSeed<'s> {
    src: &'s mut NdjsonSource,
}

impl<'de> DeserializeSeed<'de> for RowSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for RowSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            match self.src.field_for(&key) {
                Some(i) => {
                    let v: Scalar = map.next_value()?;
                    if self.src.values[i].is_some() {
                        return Err(de::Error::custom(format!("key {key:?} appears twice")));
                    }
                    self.src.values[i] = Some(v.0.ok_or_else(|| {
                        de::Error::custom(format!(
                            "{key}: nested objects and arrays are not allowed"
                        ))
                    })?);
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

/// A JSON scalar as text; `None` for objects and arrays.
struct Scalar(Option<String>);

impl<'de> de::Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ScalarVisitor)
    }
}

struct ScalarVisitor;

impl<'de> Visitor<'de> for ScalarVisitor {
    type Value = Scalar;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON scalar")
    }
    fn visit_str<E>(self, v: &str) -> Result<Scalar, E> {
        Ok(Scalar(Some(v.to_string())))
    }
    fn visit_string<E>(self, v: String) -> Result<Scalar, E> {
        Ok(Scalar(Some(v)))
    }
    fn visit_bool<E>(self, v: bool) -> Result<Scalar, E> {
        Ok(Scalar(Some(v.to_string())))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Scalar, E> {
        Ok(Scalar(Some(v.to_string())))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Scalar, E> {
        Ok(Scalar(Some(v.to_string())))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Scalar, E> {
        Ok(Scalar(Some(v.to_string())))
    }
    fn visit_unit<E>(self) -> Result<Scalar, E> {
        Ok(Scalar(Some(String::new())))
    }
    fn visit_none<E>(self) -> Result<Scalar, E> {
        Ok(Scalar(Some(String::new())))
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Scalar, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Scalar(None))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Scalar, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Scalar(None))
    }
}
