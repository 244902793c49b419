//! Exit codes (README, "Operating opintel") and the one-line message of an error.

use opintel::error::Error;
use opintel::ingest::IngestReport;
use opintel::publish::manifest::{Manifest, RunStatus};

/// Everything worked.
pub const OK: u8 = 0;
/// An unexpected failure (I/O error, bug): nothing was published.
pub const FAILURE: u8 = 1;
/// Bad command line, config or SQL.
pub const USAGE: u8 = 2;
/// Published, but something failed: a file not ingested, a KPI query failed, a check
/// found rows, or (with --strict) rows were rejected.
pub const PARTIAL: u8 = 3;
/// The input cannot be used at all (a path, a lake or a report folder that does not exist).
pub const INPUT: u8 = 4;
/// Another run holds the lake.
pub const LOCKED: u8 = 5;
/// Published, but a feed is stale or missing and --fail-on-stale was given.
pub const STALE: u8 = 6;
/// Published, but an alert (or an owner's digest) could not be delivered after its
/// retries; the next run of the same night tries it again.
pub const ALERT: u8 = 7;

pub fn code_of(e: &Error) -> u8 {
    match e {
        Error::ConfigFile { .. } | Error::Setting { .. } | Error::Query { .. } => USAGE,
        Error::Input { .. } => INPUT,
        Error::Locked { .. } => LOCKED,
        _ => FAILURE,
    }
}

/// The error and its causes on one line; a full disk says that nothing changed.
pub fn one_line(e: &Error) -> String {
    let mut msg = e.to_string();
    if e.is_disk_full() {
        msg.push_str(
            " — the disk is full; nothing was committed and the lake and reports are as they were",
        );
    }
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let text = s.to_string();
        if !msg.contains(&text) {
            msg.push_str(": ");
            msg.push_str(&text);
        }
        source = s.source();
    }
    msg.split_whitespace().collect::<Vec<_>>().join(" ")
}

pub fn ingest_code(report: &IngestReport, strict: bool) -> u8 {
    if report.failed().next().is_some() || (strict && report.rejected() > 0) {
        PARTIAL
    } else {
        OK
    }
}

/// A published run: OK, or PARTIAL when a file, a KPI or a check failed (or, with
/// `strict`, a row was rejected).
pub fn run_code(m: &Manifest, strict: bool, _stale: bool) -> u8 {
    let mut code = if m.status == RunStatus::Ok {
        OK
    } else {
        PARTIAL
    };
    if let Some(r) = &m.ingest
        && ingest_code(r, strict) != OK
    {
        code = PARTIAL;
    }
    let undelivered = m
        .alerts
        .as_ref()
        .and_then(|v| serde_json::from_value::<opintel::alert::AlertReport>(v.clone()).ok())
        .is_some_and(|r| r.failed());
    if code == OK && undelivered {
        code = ALERT;
    }
    code
}
