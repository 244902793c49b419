//! What ingest tells people and the manifest: per file, per table, and a one-screen
//! summary. Reject reasons are grouped by pattern (values blanked out) so that the
//! top reasons read like "qty_shipped: … is not a number — 1,204 rows".

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

/// Outcome of one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FileStatus {
    /// Read to the end (some rows may have been rejected).
    Ingested,
    /// Reading stopped early (e.g. a truncated gzip); rows before the problem were kept.
    Partial,
    /// Empty, or a header without rows.
    Empty,
    /// Already in the lake, or the same content twice in this run.
    Skipped,
    /// Could not be read at all; nothing from it is in the lake.
    Failed,
    /// Not an export file (e.g. a README next to the exports).
    Ignored,
}

#[derive(Debug, Clone, Serialize)]
pub struct FileReport {
    pub path: String,
    pub table: Option<String>,
    pub format: String,
    pub status: FileStatus,
    pub message: String,
    pub bytes: u64,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub hash: String,
    pub rows_read: u64,
    pub accepted: u64,
    pub rejected: u64,
    pub duplicates: u64,
    /// Newest value of the table's time column among accepted rows (RFC 3339).
    #[serde(serialize_with = "ser_micros")]
    pub newest: Option<i64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub extra_columns: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub top_reject_reasons: Vec<ReasonCount>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ReasonCount {
    pub reason: String,
    pub rows: u64,
}

impl FileReport {
    pub fn new(path: &Path) -> Self {
        FileReport {
            path: path.display().to_string(),
            table: None,
            format: String::new(),
            status: FileStatus::Ignored,
            message: String::new(),
            bytes: 0,
            hash: String::new(),
            rows_read: 0,
            accepted: 0,
            rejected: 0,
            duplicates: 0,
            newest: None,
            extra_columns: Vec::new(),
            top_reject_reasons: Vec::new(),
        }
    }

    pub(crate) fn set_reasons(&mut self, reasons: HashMap<String, u64>) {
        self.top_reject_reasons = top(reasons.into_iter(), 5);
    }
}

/// Totals for one table.
#[derive(Debug, Clone, Serialize)]
pub struct TableSummary {
    pub table: String,
    pub files: u64,
    pub files_failed: u64,
    pub files_skipped: u64,
    pub rows_read: u64,
    pub accepted: u64,
    pub rejected: u64,
    pub duplicates: u64,
    #[serde(serialize_with = "ser_micros")]
    pub newest: Option<i64>,
    pub top_reject_reasons: Vec<ReasonCount>,
}

/// Everything one ingest did.
#[derive(Debug, Clone, Serialize)]
pub struct IngestReport {
    /// The lake transaction, when anything was committed.
    pub txn: Option<u64>,
    pub seconds: f64,
    pub files: Vec<FileReport>,
    pub tables: Vec<TableSummary>,
}

impl IngestReport {
    pub(crate) fn new(txn: Option<u64>, files: Vec<FileReport>, seconds: f64) -> Self {
        let mut tables: BTreeMap<String, TableSummary> = BTreeMap::new();
        let mut reasons: BTreeMap<String, HashMap<String, u64>> = BTreeMap::new();
        for f in &files {
            let Some(t) = &f.table else { continue };
            let s = tables.entry(t.clone()).or_insert_with(|| TableSummary {
                table: t.clone(),
                files: 0,
                files_failed: 0,
                files_skipped: 0,
                rows_read: 0,
                accepted: 0,
                rejected: 0,
                duplicates: 0,
                newest: None,
                top_reject_reasons: Vec::new(),
            });
            s.files += 1;
            s.files_failed += u64::from(f.status == FileStatus::Failed);
            s.files_skipped += u64::from(f.status == FileStatus::Skipped);
            s.rows_read += f.rows_read;
            s.accepted += f.accepted;
            s.rejected += f.rejected;
            s.duplicates += f.duplicates;
            s.newest = s.newest.max(f.newest);
            let r = reasons.entry(t.clone()).or_default();
            for rc in &f.top_reject_reasons {
                *r.entry(rc.reason.clone()).or_default() += rc.rows;
            }
        }
        for (t, r) in reasons {
            if let Some(s) = tables.get_mut(&t) {
                s.top_reject_reasons = top(r.into_iter(), 5);
            }
        }
        IngestReport {
            txn,
            seconds,
            files,
            tables: tables.into_values().collect(),
        }
    }

    /// Files that could not be read at all.
    pub fn failed(&self) -> impl Iterator<Item = &FileReport> {
        self.files.iter().filter(|f| f.status == FileStatus::Failed)
    }

    pub fn rejected(&self) -> u64 {
        self.files.iter().map(|f| f.rejected).sum()
    }

    /// The one-screen summary printed at the end of an ingest.
    pub fn summary(&self) -> String {
        let mut out = String::new();
        let read: u64 = self.tables.iter().map(|t| t.rows_read).sum();
        let accepted: u64 = self.tables.iter().map(|t| t.accepted).sum();
        let rejected: u64 = self.tables.iter().map(|t| t.rejected).sum();
        let duplicates: u64 = self.tables.iter().map(|t| t.duplicates).sum();
        let _ = writeln!(
            out,
            "read {} rows ({} accepted, {} rejected, {} duplicates) from {} files in {:.1}s{}",
            group(read),
            group(accepted),
            group(rejected),
            group(duplicates),
            self.files
                .iter()
                .filter(|f| matches!(
                    f.status,
                    FileStatus::Ingested | FileStatus::Partial | FileStatus::Empty
                ))
                .count(),
            self.seconds,
            match self.txn {
                Some(t) => format!(" (lake transaction {t})"),
                None => " (nothing new for the lake)".into(),
            }
        );
        let _ = writeln!(
            out,
            "{:<18} {:>6} {:>12} {:>12} {:>10} {:>10}",
            "table", "files", "rows read", "accepted", "rejected", "duplicates"
        );
        for t in &self.tables {
            let _ = writeln!(
                out,
                "{:<18} {:>6} {:>12} {:>12} {:>10} {:>10}",
                t.table,
                t.files,
                group(t.rows_read),
                group(t.accepted),
                group(t.rejected),
                group(t.duplicates)
            );
            for r in t.top_reject_reasons.iter().take(3) {
                let _ = writeln!(out, "    {:>8} × {}", group(r.rows), r.reason);
            }
        }
        let mut skipped = 0;
        let mut extras: BTreeMap<(String, String), u64> = BTreeMap::new();
        for f in &self.files {
            let tag = match f.status {
                FileStatus::Failed => Some("FAILED "),
                FileStatus::Partial => Some("PARTIAL"),
                FileStatus::Empty => Some("empty  "),
                FileStatus::Skipped => {
                    skipped += 1;
                    None
                }
                _ => None,
            };
            if let Some(tag) = tag {
                let _ = writeln!(out, "{tag} {}: {}", f.path, f.message);
            }
            if !f.extra_columns.is_empty() {
                let key = (
                    f.table.clone().unwrap_or_default(),
                    f.extra_columns.join(", "),
                );
                *extras.entry(key).or_default() += 1;
            }
        }
        if skipped > 0 {
            let _ = writeln!(
                out,
                "skipped {skipped} file{} already ingested or sent twice (listed in the manifest)",
                if skipped == 1 { "" } else { "s" }
            );
        }
        for ((table, cols), n) in extras {
            let _ = writeln!(
                out,
                "note    {n} {table} file{} had columns outside the contract, left out: {cols}",
                if n == 1 { "" } else { "s" }
            );
        }
        out
    }
}

fn top(items: impl Iterator<Item = (String, u64)>, n: usize) -> Vec<ReasonCount> {
    let mut v: Vec<ReasonCount> = items
        .map(|(reason, rows)| ReasonCount { reason, rows })
        .collect();
    v.sort_by(|a, b| b.rows.cmp(&a.rows).then_with(|| a.reason.cmp(&b.reason)));
    v.truncate(n);
    v
}

/// A reason with its quoted values blanked: `qty: "abc" is not a number` →
/// `qty: … is not a number`.
pub(crate) fn reason_pattern(reason: &str) -> String {
    let mut out = String::with_capacity(reason.len());
    let mut chars = reason.chars();
    while let Some(c) = chars.next() {
        if c == '"' {
            let mut escaped = false;
            for d in chars.by_ref() {
                if escaped {
                    escaped = false;
                } else if d == '\\' {
                    escaped = true;
                } else if d == '"' {
                    break;
                }
            }
            out.push('…');
        } else {
            out.push(c);
        }
    }
    out
}

/// 1234567 → "1,234,567".
pub fn group(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn ser_micros<S: serde::Serializer>(v: &Option<i64>, s: S) -> Result<S::Ok, S::Error> {
    match v.and_then(chrono::DateTime::from_timestamp_micros) {
        Some(d) => s.serialize_str(&d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_and_grouping() {
        assert_eq!(
            reason_pattern(r#"qty: "abc" is not a number"#),
            "qty: … is not a number"
        );
        assert_eq!(
            reason_pattern(r#"s: "a\"b" is not one of x"#),
            "s: … is not one of x"
        );
        assert_eq!(group(0), "0");
        assert_eq!(group(999), "999");
        assert_eq!(group(1000), "1,000");
        assert_eq!(group(1234567), "1,234,567");
    }
}
