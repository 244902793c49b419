//! An independent re-reader of the generated exports, for the tests: its own RFC 4180
//! parser, the 3PL mapping read back from `opintel.toml`, and the contract's validation
//! rules re-stated (required fields, numbers and signs, enums after trimming and case
//! folding, timestamps), so the README's counts can be checked against the files.

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::{Path, PathBuf};

pub(super) fn all_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p)
            } else {
                out.push(p)
            }
        }
    }
    out.sort();
    out
}

/// A small RFC 4180 reader: header + rows.
pub(super) fn parse_csv(text: &str, delim: char) -> Vec<Vec<String>> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let (mut rows, mut row, mut field) = (Vec::new(), Vec::new(), String::new());
    let mut chars = text.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        if quoted {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    field.push('"');
                    chars.next();
                } else {
                    quoted = false;
                }
            } else {
                field.push(c);
            }
        } else if c == '"' {
            quoted = true;
        } else if c == delim {
            row.push(std::mem::take(&mut field));
        } else if c == '\n' || c == '\r' {
            if c == '\r' && chars.peek() == Some(&'\n') {
                chars.next();
            }
            row.push(std::mem::take(&mut field));
            rows.push(std::mem::take(&mut row));
        } else {
            field.push(c);
        }
    }
    rows
}

pub(super) struct Mapping {
    pattern: String,
    table: String,
    columns: BTreeMap<String, String>,
    values: BTreeMap<String, BTreeMap<String, String>>,
}

pub(super) fn mappings(out: &Path) -> Vec<Mapping> {
    let text = std::fs::read_to_string(out.join("opintel.toml")).unwrap();
    let v: toml::Value = toml::from_str(&text).unwrap();
    let strmap = |t: Option<&toml::Value>| -> BTreeMap<String, String> {
        t.and_then(|t| t.as_table())
            .map(|t| {
                t.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                    .collect()
            })
            .unwrap_or_default()
    };
    v["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| Mapping {
            pattern: s["pattern"].as_str().unwrap().to_string(),
            table: s["table"].as_str().unwrap().to_string(),
            columns: strmap(s.get("columns")),
            values: s
                .get("values")
                .and_then(|v| v.as_table())
                .map(|t| {
                    t.iter()
                        .map(|(k, v)| (k.clone(), strmap(Some(v))))
                        .collect()
                })
                .unwrap_or_default(),
        })
        .collect()
}

pub(super) const TABLES: [&str; 10] = [
    "items",
    "locations",
    "suppliers",
    "order_lines",
    "shipments",
    "receipts",
    "cycle_counts",
    "adjustments",
    "exception_events",
    "return_events",
];

/// A stock movement or count: (time, 0 = count / 1 = move, qty or system, counted, reason).
pub(super) type Move = (i64, u8, f64, f64, String);

/// One data row of an export, with canonical column names.
#[derive(Clone, Debug)]
pub(super) struct Row {
    pub table: String,
    pub file: PathBuf,
    pub fields: HashMap<String, String>,
    pub tpl: bool,
}

impl Row {
    pub(super) fn get(&self, k: &str) -> &str {
        self.fields.get(k).map_or("", String::as_str)
    }
}

pub(super) fn read_text(p: &Path) -> String {
    let bytes = std::fs::read(p).unwrap();
    let name = p.to_string_lossy();
    let mut s = String::new();
    if name.ends_with(".gz") {
        flate2::read::GzDecoder::new(&bytes[..])
            .read_to_string(&mut s)
            .unwrap();
    } else if name.ends_with(".zst") {
        s = String::from_utf8(zstd::decode_all(&bytes[..]).unwrap()).unwrap();
    } else {
        s = String::from_utf8(bytes).unwrap();
    }
    s
}

pub(super) fn read_rows(out: &Path) -> (Vec<Row>, BTreeMap<String, Vec<String>>) {
    let maps = mappings(out);
    let mut rows = Vec::new();
    let mut headers = BTreeMap::new();
    for p in all_files(&out.join("exports")) {
        let name = p.file_name().unwrap().to_string_lossy().to_string();
        let text = read_text(&p);
        let map = maps
            .iter()
            .find(|m| name.starts_with(m.pattern.trim_end_matches('*')));
        let table = match map {
            Some(m) => m.table.clone(),
            None => match TABLES
                .iter()
                .filter(|t| name.starts_with(*t))
                .max_by_key(|t| t.len())
            {
                Some(t) => t.to_string(),
                // Inventory snapshots are written without noise (stock.rs): not re-read.
                None if name.starts_with("inventory_snapshots") => continue,
                None => panic!("no table for export {name}"),
            },
        };
        if name.contains(".ndjson") {
            for line in text.lines() {
                let v: serde_json::Value = serde_json::from_str(line).unwrap();
                let fields = v
                    .as_object()
                    .unwrap()
                    .iter()
                    .map(|(k, v)| {
                        (
                            k.clone(),
                            v.as_str().map_or_else(|| v.to_string(), str::to_string),
                        )
                    })
                    .map(|(k, v)| (k, if v == "null" { String::new() } else { v }))
                    .collect();
                rows.push(Row {
                    table: table.clone(),
                    file: p.clone(),
                    fields,
                    tpl: false,
                });
            }
            continue;
        }
        let grid = parse_csv(&text, if map.is_some() { ';' } else { ',' });
        let head: Vec<String> = grid[0]
            .iter()
            .map(|h| {
                map.and_then(|m| m.columns.get(h).cloned())
                    .unwrap_or_else(|| h.clone())
            })
            .collect();
        headers.insert(name.clone(), head.clone());
        for r in &grid[1..] {
            let mut fields: HashMap<String, String> =
                head.iter().cloned().zip(r.iter().cloned()).collect();
            if let Some(m) = map {
                for (field, vm) in &m.values {
                    if let Some(v) = fields.get_mut(field)
                        && let Some(c) = vm.get(v.trim())
                    {
                        *v = c.clone();
                    }
                }
            }
            rows.push(Row {
                table: table.clone(),
                file: p.clone(),
                fields,
                tpl: map.is_some(),
            });
        }
    }
    (rows, headers)
}

pub(super) fn parse_ts(s: &str, tpl: bool) -> Option<i64> {
    use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone};
    if tpl {
        let n = NaiveDateTime::parse_from_str(s, "%d/%m/%Y %H:%M:%S").ok()?;
        return chrono_tz::America::Chicago
            .from_local_datetime(&n)
            .earliest()
            .map(|d| d.timestamp());
    }
    if let Ok(d) = DateTime::parse_from_rfc3339(s) {
        return Some(d.timestamp());
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .map(|d| d.and_hms_opt(0, 0, 0).unwrap().and_utc().timestamp())
}

/// The contract's rules, re-stated: (required, kind) per table field.
pub(super) fn rules(table: &str) -> Vec<(&'static str, bool, &'static str)> {
    let e = |s| s;
    match table {
        "items" => vec![
            ("sku", true, "str"),
            ("unit_cost", false, e("nonneg")),
            ("abc_class", false, "abc"),
            ("updated_at", true, "ts"),
        ],
        "locations" => vec![
            ("location_id", true, "str"),
            ("warehouse_id", true, "str"),
            ("zone", true, "str"),
            ("location_type", false, "loctype"),
            ("updated_at", true, "ts"),
        ],
        "suppliers" => vec![("supplier_id", true, "str"), ("updated_at", true, "ts")],
        "order_lines" => vec![
            ("order_id", true, "str"),
            ("line_id", true, "str"),
            ("sku", true, "str"),
            ("channel", true, "str"),
            ("warehouse_id", true, "str"),
            ("ordered_at", true, "ts"),
            ("promised_ship_at", true, "ts"),
            ("qty_ordered", true, "pos"),
            ("cancelled_qty", false, "nonneg"),
            ("cancel_reason", false, "cancel"),
            ("updated_at", true, "ts"),
        ],
        "shipments" => vec![
            ("event_id", true, "str"),
            ("shipment_id", true, "str"),
            ("order_id", true, "str"),
            ("line_id", true, "str"),
            ("sku", true, "str"),
            ("warehouse_id", true, "str"),
            ("qty_shipped", true, "pos"),
            ("shipped_at", true, "ts"),
        ],
        "receipts" => vec![
            ("event_id", true, "str"),
            ("po_id", true, "str"),
            ("po_line", true, "str"),
            ("supplier_id", true, "str"),
            ("sku", true, "str"),
            ("warehouse_id", true, "str"),
            ("qty_expected", true, "nonneg"),
            ("qty_received", true, "nonneg"),
            ("qty_damaged", false, "nonneg"),
            ("expected_at", false, "ts"),
            ("received_at", true, "ts"),
            ("available_at", false, "ts"),
        ],
        "cycle_counts" => vec![
            ("event_id", true, "str"),
            ("count_id", true, "str"),
            ("warehouse_id", true, "str"),
            ("location_id", true, "str"),
            ("sku", true, "str"),
            ("system_qty", true, "num"),
            ("counted_qty", true, "nonneg"),
            ("counted_at", true, "ts"),
        ],
        "adjustments" => vec![
            ("event_id", true, "str"),
            ("warehouse_id", true, "str"),
            ("location_id", true, "str"),
            ("sku", true, "str"),
            ("qty_delta", true, "nonzero"),
            ("reason_code", true, "reason"),
            ("adjusted_at", true, "ts"),
        ],
        "exception_events" => vec![
            ("event_id", true, "str"),
            ("exception_id", true, "str"),
            ("event_at", true, "ts"),
            ("status", true, "status"),
            ("exception_type", true, "extype"),
            ("severity", true, "severity"),
            ("impact_value", false, "num"),
        ],
        _ => vec![
            ("event_id", true, "str"),
            ("return_id", true, "str"),
            ("sku", true, "str"),
            ("warehouse_id", true, "str"),
            ("qty", true, "pos"),
            ("stage", true, "stage"),
            ("disposition", false, "disposition"),
            ("event_at", true, "ts"),
        ],
    }
}

pub(super) fn enum_values(kind: &str) -> Option<&'static [&'static str]> {
    Some(match kind {
        "abc" => &["a", "b", "c"],
        "loctype" => &[
            "pick", "reserve", "bulk", "staging", "returns", "dock", "other",
        ],
        "cancel" => &["customer", "stockout", "fraud", "other"],
        "reason" => &[
            "count_correction",
            "damage",
            "shrink",
            "found",
            "expiry",
            "return_restock",
            "transfer",
            "other",
        ],
        "status" => &[
            "open",
            "acknowledged",
            "in_progress",
            "resolved",
            "cancelled",
        ],
        "extype" => &super::catalog::EXCEPTION_TYPES,
        "severity" => &["low", "medium", "high", "critical"],
        "stage" => &["received", "inspected", "dispositioned"],
        "disposition" => &[
            "restock",
            "refurbish",
            "quarantine",
            "vendor_return",
            "write_off",
        ],
        _ => return None,
    })
}

/// (valid, enum respelled) for one row under the contract.
pub(super) fn check(row: &Row) -> (bool, bool) {
    let mut respelled = false;
    for (name, required, kind) in rules(&row.table) {
        let v = row.get(name);
        if v.trim().is_empty() {
            if required {
                return (false, false);
            }
            continue;
        }
        let num = || v.trim().parse::<f64>().ok();
        let ok = match kind {
            "ts" => parse_ts(v, row.tpl).is_some(),
            "num" => num().is_some(),
            "pos" => num().is_some_and(|x| x > 0.0),
            "nonneg" => num().is_some_and(|x| x >= 0.0),
            "nonzero" => num().is_some_and(|x| x != 0.0),
            "str" => true,
            k => {
                let canon = v.trim().to_lowercase();
                if !row.tpl && canon != v && !(k == "abc" && v.len() == 1 && v == v.to_uppercase())
                {
                    respelled = true;
                }
                enum_values(k).unwrap().contains(&canon.as_str())
            }
        };
        if !ok {
            return (false, false);
        }
    }
    if row.table == "return_events"
        && row
            .get("stage")
            .trim()
            .eq_ignore_ascii_case("dispositioned")
        && row.get("disposition").trim().is_empty()
    {
        return (false, false);
    }
    (true, respelled)
}

pub(super) fn readme_noise(out: &Path) -> BTreeMap<(String, String), u64> {
    let text = std::fs::read_to_string(out.join("README.md")).unwrap();
    let mut m = BTreeMap::new();
    for line in text.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if cells.len() == 6 && TABLES.contains(&cells[2]) && cells[1] != "kind" {
            m.insert(
                (cells[1].to_string(), cells[2].to_string()),
                cells[3].parse().unwrap(),
            );
        }
    }
    m
}
