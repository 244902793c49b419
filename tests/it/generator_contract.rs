//! The sample-data generator (`crates/opintel-gen`) writes only what the contract
//! declares (`opintel::contract::TABLES`): every column of every export, read through
//! the source mappings of the `opintel.toml` it writes (renamed 3PL columns), is a field
//! of the file's table, and every value of an enum field, read the way
//! `ingest::validate` reads it (trimmed; the mapping's value map keyed by the trimmed,
//! lower-cased source spelling; then matched case-insensitively), is one of the
//! contract's values. Otherwise the demo and the tests built on generated data would
//! exercise the reject path by accident instead of on purpose.
//!
//! Deliberate departures are read from the generator's own `README.md` noise table
//! (`| kind | table | rows | meaning |`), not hard-coded:
//! - columns outside the contract: the backquoted names in the meaning of the
//!   `extra_column_rows` rows of that table (`wms_batch` on WH-EAST's adjustments);
//! - out-of-contract enum values: the `invalid_unknown_enum` rows. The comparison is
//!   exact, per table: each such row is one extra copy of a valid row with exactly one
//!   required-enum field misspelt (`noise.rs`, `Noise::after`/`corrupt`); the other
//!   invalid kinds never touch an enum column (empty-required hits non-enum required
//!   columns, a missing disposition is an empty optional field); and noise copies are
//!   never repeated (they are kept out of the overlap tail, and only an export without
//!   invalid rows is re-sent). So one unknown enum value the README does not count, or a
//!   counted one that is missing, fails the test. An empty value counts as out of
//!   contract only in a required field.
//!
//! So that it cannot pass on empty input, every canonical table must have a file and
//! every enum field of the contract at least one valid value.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::{Path, PathBuf};

use opintel::config::{Config, SourceMapping};
use opintel::contract::{self, TABLES};

use crate::common::opintel_ok;

/// README noise kind of the extra rows with a misspelt enum value
/// (`NoiseKind::UnknownEnum` in crates/opintel-gen/src/noise.rs).
const UNKNOWN_ENUM: &str = "invalid_unknown_enum";
/// README noise kind of the files with a column outside the contract
/// (`NoiseKind::ExtraColumn`); its meaning names the column in backquotes.
const EXTRA_COLUMN: &str = "extra_column_rows";

/// A file read back: its source column names, and its rows as source column → raw value.
type Export = (Vec<String>, Vec<BTreeMap<String, String>>);

#[test]
fn generated_exports_use_only_contract_columns_and_enum_values() {
    let tmp = tempfile::tempdir().expect("tmp");
    let args = [
        "generate", "--out", "gen", "--scale", "0.05", "--days", "14", "--seed", "3",
    ];
    opintel_ok(tmp.path(), &args);
    let gen_dir = tmp.path().join("gen");

    let readme = std::fs::read_to_string(gen_dir.join("README.md")).expect("gen/README.md");
    let noise = noise_rows(&readme);
    assert!(
        !noise.is_empty(),
        "gen/README.md has no `| kind | table | rows | meaning |` rows"
    );
    let mut extra_columns: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut expected_bad: BTreeMap<String, u64> = BTreeMap::new();
    for (kind, table, rows, meaning) in &noise {
        if kind == EXTRA_COLUMN {
            let names = meaning.split('`').skip(1).step_by(2).map(str::to_string);
            extra_columns
                .entry(table.clone())
                .or_default()
                .extend(names);
        } else if kind == UNKNOWN_ENUM {
            *expected_bad.entry(table.clone()).or_default() += rows;
        }
    }

    let config = Config::load(Some(gen_dir.join("opintel.toml").as_path()))
        .unwrap_or_else(|e| panic!("gen/opintel.toml: {e}"));
    let mut tables_seen: BTreeSet<&'static str> = BTreeSet::new();
    let mut values_seen: BTreeMap<(&'static str, &'static str), BTreeSet<&'static str>> =
        BTreeMap::new();
    let mut bad: BTreeMap<&'static str, Vec<String>> = BTreeMap::new();

    for path in export_files(&gen_dir.join("exports")) {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .expect("UTF-8 file name");
        let mapping = config.mapping_for(name);
        let spec = match mapping.and_then(|m| m.table.as_deref()) {
            Some(t) => contract::table(t),
            None => contract::table_for_file_name(name),
        }
        .unwrap_or_else(|| panic!("{name}: no source mapping and no table-name prefix"));
        tables_seen.insert(spec.name);

        let text = read_text(&path);
        let (columns, rows) = if name.contains(".ndjson") {
            ndjson_file(&text, name)
        } else {
            let delim = mapping
                .and_then(|m| m.delimiter_byte())
                .map_or(',', char::from);
            csv_file(&text, delim, name)
        };

        let extra = extra_columns.get(spec.name);
        for c in &columns {
            let field = canonical_name(mapping, c);
            assert!(
                spec.field(&field).is_some() || extra.is_some_and(|x| x.contains(&field)),
                "{name}: column {c:?} (canonical {field:?}) is not a field of {} and the \
                 generator's README declares no such extra column for that table",
                spec.name
            );
        }

        for f in spec.fields {
            let Some(allowed) = f.enum_values else {
                continue;
            };
            let source = columns
                .iter()
                .find(|c| canonical_name(mapping, c) == f.name);
            let map = mapping.and_then(|m| m.values.get(f.name));
            for (i, row) in rows.iter().enumerate() {
                let raw = source
                    .and_then(|c| row.get(c))
                    .map_or("", String::as_str)
                    .trim();
                if raw.is_empty() && !f.required {
                    continue;
                }
                // As ingest::validate: value maps are keyed by the trimmed, lower-cased
                // source spelling; the result is matched case-insensitively.
                let key = raw.to_lowercase();
                let value = map
                    .and_then(|m| m.iter().find(|(k, _)| k.trim().to_lowercase() == key))
                    .map_or(raw, |(_, v)| v.as_str());
                match allowed.iter().find(|a| a.eq_ignore_ascii_case(value)) {
                    Some(canonical) => {
                        values_seen
                            .entry((spec.name, f.name))
                            .or_default()
                            .insert(*canonical);
                    }
                    None => bad.entry(spec.name).or_default().push(format!(
                        "{name} data row {}: column {:?} ({}) = {raw:?}, not one of {}",
                        i + 1,
                        source.map_or(f.name, String::as_str),
                        f.name,
                        allowed.join(", ")
                    )),
                }
            }
        }
    }

    for t in TABLES {
        assert!(
            tables_seen.contains(t.name),
            "no export file of table {} was generated",
            t.name
        );
        for f in t.fields.iter().filter(|f| f.enum_values.is_some()) {
            assert!(
                values_seen
                    .get(&(t.name, f.name))
                    .is_some_and(|v| !v.is_empty()),
                "no valid value of the enum field {}.{} in any export: the check saw no input",
                t.name,
                f.name
            );
        }
        let found = bad.get(&t.name).map_or(&[][..], Vec::as_slice);
        let expected = expected_bad.get(t.name).copied().unwrap_or(0);
        assert_eq!(
            found.len() as u64,
            expected,
            "{}: {} enum values outside the contract, but the generator's README counts {expected} \
             `{UNKNOWN_ENUM}` rows for it; the values:\n{}",
            t.name,
            found.len(),
            found.join("\n")
        );
    }
}

/// The canonical name of source column `column`: renamed by the mapping, else itself.
fn canonical_name(mapping: Option<&SourceMapping>, column: &str) -> String {
    mapping
        .and_then(|m| m.columns.get(column))
        .map_or(column, String::as_str)
        .to_string()
}

/// The README's noise table: (kind, table, rows, meaning) per line.
fn noise_rows(readme: &str) -> Vec<(String, String, u64, String)> {
    readme
        .lines()
        .skip_while(|l| !l.starts_with("| kind | table | rows | meaning |"))
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .map(|l| {
            let c: Vec<&str> = l.split('|').map(str::trim).collect();
            assert!(c.len() >= 6, "README noise line with too few cells: {l}");
            let rows = c[3]
                .parse::<u64>()
                .unwrap_or_else(|e| panic!("README noise line {l}: {e}"));
            (c[1].to_string(), c[2].to_string(), rows, c[4].to_string())
        })
        .collect()
}

/// Every file under `dir`, recursively, sorted.
fn export_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display()));
        for e in entries {
            let p = e.expect("folder entry").path();
            if p.is_dir() {
                stack.push(p);
            } else {
                files.push(p);
            }
        }
    }
    files.sort();
    files
}

/// The file's text, decompressed by its extension (`.gz`, `.zst`).
fn read_text(path: &Path) -> String {
    let name = path.display().to_string();
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{name}: {e}"));
    let mut reader: Box<dyn Read> = if name.ends_with(".gz") {
        Box::new(flate2::read::MultiGzDecoder::new(file))
    } else if name.ends_with(".zst") {
        Box::new(zstd::stream::read::Decoder::new(file).unwrap_or_else(|e| panic!("{name}: {e}")))
    } else {
        Box::new(file)
    };
    let mut text = String::new();
    reader
        .read_to_string(&mut text)
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    text
}

/// A CSV file (optional UTF-8 BOM, LF or CRLF, RFC 4180 quotes): header and rows.
fn csv_file(text: &str, delim: char, name: &str) -> Export {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut records = csv_records(text, delim).into_iter();
    let header = records
        .next()
        .unwrap_or_else(|| panic!("{name}: no header line"));
    let rows = records
        .enumerate()
        .map(|(i, r)| {
            let (n, width) = (r.len(), header.len());
            assert_eq!(
                n,
                width,
                "{name} data row {}: {n} fields under a {width}-column header",
                i + 1
            );
            header
                .iter()
                .cloned()
                .zip(r)
                .collect::<BTreeMap<String, String>>()
        })
        .collect();
    (header, rows)
}

/// RFC 4180 records: quoted fields may hold the delimiter, `""` and line breaks.
fn csv_records(text: &str, delim: char) -> Vec<Vec<String>> {
    let (mut records, mut record, mut field) = (Vec::new(), Vec::new(), String::new());
    let (mut quoted, mut chars) = (false, text.chars().peekable());
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            '"' => quoted = !quoted,
            c if quoted => field.push(c),
            '\r' => {}
            '\n' => {
                record.push(std::mem::take(&mut field));
                records.push(std::mem::take(&mut record));
            }
            c if c == delim => record.push(std::mem::take(&mut field)),
            c => field.push(c),
        }
    }
    if !field.is_empty() || !record.is_empty() {
        record.push(field);
        records.push(record);
    }
    records
}

/// An NDJSON file: the keys of every object (first-seen order) and the rows; `null`
/// reads as empty, numbers and booleans as their JSON text.
fn ndjson_file(text: &str, name: &str) -> Export {
    let (mut columns, mut rows) = (Vec::<String>::new(), Vec::new());
    for (i, line) in text.lines().filter(|l| !l.trim().is_empty()).enumerate() {
        let object: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{name} object {}: {e}", i + 1));
        let mut row = BTreeMap::new();
        for (k, v) in object {
            if !columns.contains(&k) {
                columns.push(k.clone());
            }
            let v = match v {
                serde_json::Value::Null => String::new(),
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            };
            row.insert(k, v);
        }
        rows.push(row);
    }
    (columns, rows)
}
