//! Deliberate, counted noise in the exports, and the tallies the README reports.
//!
//! Two kinds are applied row by row as rows are written: *invalid rows* (an extra,
//! corrupted copy of the row just written, with its own event id, in a way the contract
//! (docs/contract.md) says must be rejected: non-numeric or negative quantity, empty required field,
//! unknown enum value, unparseable timestamp, `qty_delta` 0, missing disposition) and
//! *enum spelling* (mixed case and surrounding spaces: valid). The other kinds
//! (overlapping exports, a re-sent file, an extra column, date-only timestamps, the
//! 3PL's late batches) are produced by the writers and only counted here. Invalid rows
//! are extras, never replacements: every simulated fact is in the data exactly once.

use std::io;

use super::feed::{Feed, Kind};
use super::rng::Rng;

/// The canonical tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Table {
    Items,
    Locations,
    Suppliers,
    OrderLines,
    Shipments,
    Receipts,
    CycleCounts,
    Adjustments,
    ExceptionEvents,
    ReturnEvents,
}

impl Table {
    pub(crate) const ALL: [Table; 10] = [
        Table::Items,
        Table::Locations,
        Table::Suppliers,
        Table::OrderLines,
        Table::Shipments,
        Table::Receipts,
        Table::CycleCounts,
        Table::Adjustments,
        Table::ExceptionEvents,
        Table::ReturnEvents,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Table::Items => "items",
            Table::Locations => "locations",
            Table::Suppliers => "suppliers",
            Table::OrderLines => "order_lines",
            Table::Shipments => "shipments",
            Table::Receipts => "receipts",
            Table::CycleCounts => "cycle_counts",
            Table::Adjustments => "adjustments",
            Table::ExceptionEvents => "exception_events",
            Table::ReturnEvents => "return_events",
        }
    }
}

/// Every kind of noise, in README order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum NoiseKind {
    NonNumericQty,
    NegativeQty,
    EmptyRequired,
    UnknownEnum,
    BadTimestamp,
    ZeroDelta,
    MissingDisposition,
    EnumSpelling,
    OverlapDuplicate,
    ResentFile,
    ExtraColumn,
    DateOnlyTimestamp,
    LateBatch1Day,
    LateBatch2Days,
    MissingAtEnd,
}

pub(crate) const NOISE_KINDS: usize = 15;

impl NoiseKind {
    pub(crate) const ALL: [NoiseKind; NOISE_KINDS] = [
        NoiseKind::NonNumericQty,
        NoiseKind::NegativeQty,
        NoiseKind::EmptyRequired,
        NoiseKind::UnknownEnum,
        NoiseKind::BadTimestamp,
        NoiseKind::ZeroDelta,
        NoiseKind::MissingDisposition,
        NoiseKind::EnumSpelling,
        NoiseKind::OverlapDuplicate,
        NoiseKind::ResentFile,
        NoiseKind::ExtraColumn,
        NoiseKind::DateOnlyTimestamp,
        NoiseKind::LateBatch1Day,
        NoiseKind::LateBatch2Days,
        NoiseKind::MissingAtEnd,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            NoiseKind::NonNumericQty => "invalid_non_numeric_qty",
            NoiseKind::NegativeQty => "invalid_negative_qty",
            NoiseKind::EmptyRequired => "invalid_empty_required",
            NoiseKind::UnknownEnum => "invalid_unknown_enum",
            NoiseKind::BadTimestamp => "invalid_timestamp",
            NoiseKind::ZeroDelta => "invalid_zero_delta",
            NoiseKind::MissingDisposition => "invalid_missing_disposition",
            NoiseKind::EnumSpelling => "enum_mixed_case_or_spaces",
            NoiseKind::OverlapDuplicate => "overlap_duplicate",
            NoiseKind::ResentFile => "resent_file_rows",
            NoiseKind::ExtraColumn => "extra_column_rows",
            NoiseKind::DateOnlyTimestamp => "date_only_timestamp",
            NoiseKind::LateBatch1Day => "late_batch_1_day",
            NoiseKind::LateBatch2Days => "late_batch_2_days",
            NoiseKind::MissingAtEnd => "missing_at_end",
        }
    }

    /// Rows the product must reject.
    pub(crate) fn invalid(self) -> bool {
        (self as usize) < NoiseKind::EnumSpelling as usize
    }

    pub(crate) fn meaning(self) -> &'static str {
        match self {
            NoiseKind::NonNumericQty => {
                "extra row whose required quantity is not a number (reject)"
            }
            NoiseKind::NegativeQty => {
                "extra row with a negative quantity where > 0 / ≥ 0 is required (reject)"
            }
            NoiseKind::EmptyRequired => "extra row with a required field empty (reject)",
            NoiseKind::UnknownEnum => {
                "extra row with a misspelt enum value such as `closedd` (reject)"
            }
            NoiseKind::BadTimestamp => "extra row with an unparseable timestamp (reject)",
            NoiseKind::ZeroDelta => "extra adjustment row with qty_delta 0 (reject)",
            NoiseKind::MissingDisposition => {
                "extra return row, stage dispositioned, disposition empty (reject)"
            }
            NoiseKind::EnumSpelling => {
                "valid row with an enum in mixed case and/or surrounding spaces (accept)"
            }
            NoiseKind::OverlapDuplicate => {
                "row repeated from the previous day's export (last ~2 hours), same event_id (skip as duplicate)"
            }
            NoiseKind::ResentFile => {
                "rows of an export re-sent byte-identically under a second name (skip)"
            }
            NoiseKind::ExtraColumn => {
                "rows of files with a non-canonical column `wms_batch` (accept, column reported)"
            }
            NoiseKind::DateOnlyTimestamp => {
                "valid row whose expected_at is a date alone (midnight)"
            }
            NoiseKind::LateBatch1Day => {
                "3PL rows delivered one day after their business day (accept)"
            }
            NoiseKind::LateBatch2Days => {
                "3PL rows delivered two days after their business day (accept)"
            }
            NoiseKind::MissingAtEnd => {
                "3PL rows not yet delivered when the period ends (not written)"
            }
        }
    }
}

/// Rows and noise per table, and every file written.
#[derive(Default)]
pub(crate) struct Tally {
    pub rows: [u64; 10],
    pub noise: [[u64; NOISE_KINDS]; 10],
    pub files: Vec<(std::path::PathBuf, u64)>,
}

impl Tally {
    pub(crate) fn add(&mut self, table: Table, kind: NoiseKind, n: u64) {
        self.noise[table as usize][kind as usize] += n;
    }

    pub(crate) fn kind_total(&self, kind: NoiseKind) -> u64 {
        self.noise.iter().map(|t| t[kind as usize]).sum()
    }
}

/// Chooses and applies the row-level noise.
pub(crate) struct Noise {
    rng: Rng,
    pub tally: Tally,
    seen: [u64; 10],
}

const INVALID_RATE: f64 = 0.002;
const SPELLING_RATE: f64 = 0.003;

impl Noise {
    pub(crate) fn new(seed: u64) -> Noise {
        Noise {
            rng: Rng::stream(seed, "noise"),
            tally: Tally::default(),
            seen: [0; 10],
        }
    }

    /// Before a row is written: maybe respell one of its enum values (still valid).
    pub(crate) fn before(&mut self, feed: &mut Feed) {
        if feed.tpl || feed.path.is_none() {
            return;
        }
        let row = &feed.row;
        let mut candidates = [0usize; 8];
        let mut n = 0;
        for i in 0..row.len() {
            if n < candidates.len()
                && matches!(feed.cols[i].kind, Kind::Enum | Kind::OptEnum)
                && !row.field(i).is_empty()
            {
                candidates[n] = i;
                n += 1;
            }
        }
        if n == 0 {
            return;
        }
        let t = feed.table as usize;
        let first =
            self.tally.noise[t][NoiseKind::EnumSpelling as usize] == 0 && self.seen[t] >= 10;
        if !first && !self.rng.chance(SPELLING_RATE) {
            return;
        }
        let i = candidates[self.rng.index(n)];
        let v = row.field(i).to_vec();
        let mut out = Vec::with_capacity(v.len() + 2);
        let variant = self.rng.below(4);
        if variant >= 2 {
            out.push(b' ');
        }
        for (k, b) in v.iter().enumerate() {
            out.push(match variant {
                0 | 2 if k == 0 => b.to_ascii_uppercase(),
                1 | 3 => b.to_ascii_uppercase(),
                _ => b.to_ascii_lowercase(),
            });
        }
        if variant == 3 || variant == 1 {
            out.push(b' ');
        }
        // A one-letter upper-case class would stay the same: use lower case there.
        if out == v {
            out = v.to_ascii_lowercase();
            out.push(b' ');
        }
        feed.row = feed.row.with_field(i, &out);
        self.tally.add(feed.table, NoiseKind::EnumSpelling, 1);
    }

    /// After a row is written: maybe add a corrupted copy of it.
    pub(crate) fn after(&mut self, feed: &mut Feed) -> io::Result<()> {
        if feed.path.is_none() || feed.resend {
            return Ok(());
        }
        let t = feed.table as usize;
        self.seen[t] += 1;
        let forced = self.seen[t] >= 20 && self.rng.chance(0.05);
        if !forced && !self.rng.chance(INVALID_RATE) {
            return Ok(());
        }
        let options = self.options(feed);
        if options.is_empty() {
            return Ok(());
        }
        let missing: Vec<&(NoiseKind, usize)> = options
            .iter()
            .filter(|(k, _)| self.tally.noise[t][*k as usize] == 0)
            .collect();
        let (kind, col) = if let Some(first) = missing.first() {
            **first
        } else if forced {
            return Ok(());
        } else {
            // Kind first (evenly), then one of the columns it applies to.
            let mut kinds: Vec<NoiseKind> = options.iter().map(|o| o.0).collect();
            kinds.sort_unstable();
            kinds.dedup();
            let kind = kinds[self.rng.index(kinds.len())];
            let cols: Vec<usize> = options
                .iter()
                .filter(|o| o.0 == kind)
                .map(|o| o.1)
                .collect();
            (kind, cols[self.rng.index(cols.len())])
        };
        let value = self.corrupt(kind, feed, col);
        let mut clone = feed.row.with_field(col, &value);
        if feed.cols[0].kind == Kind::Id {
            let mut id = clone.field(0).to_vec();
            id.extend_from_slice(b"-r");
            clone = clone.with_field(0, &id);
        }
        feed.write_other(&clone)?;
        feed.invalid_rows += 1;
        self.tally.add(feed.table, kind, 1);
        Ok(())
    }

    fn options(&self, feed: &Feed) -> Vec<(NoiseKind, usize)> {
        let mut out = Vec::new();
        for (i, c) in feed.cols.iter().enumerate().take(feed.row.len()) {
            match c.kind {
                Kind::Qty => {
                    out.push((NoiseKind::NonNumericQty, i));
                    out.push((NoiseKind::NegativeQty, i));
                }
                Kind::Delta => {
                    out.push((NoiseKind::NonNumericQty, i));
                    out.push((NoiseKind::ZeroDelta, i));
                }
                Kind::Req => out.push((NoiseKind::EmptyRequired, i)),
                Kind::Enum => out.push((NoiseKind::UnknownEnum, i)),
                Kind::Ts => out.push((NoiseKind::BadTimestamp, i)),
                Kind::OptEnum if c.name == "disposition" && !feed.row.field(i).is_empty() => {
                    out.push((NoiseKind::MissingDisposition, i));
                }
                _ => {}
            }
        }
        out
    }

    fn corrupt(&mut self, kind: NoiseKind, feed: &Feed, col: usize) -> Vec<u8> {
        let original = feed.row.field(col);
        match kind {
            NoiseKind::NonNumericQty => self
                .rng
                .pick(&["abc", "1O", "n/a", "12 units", "#REF!"])
                .as_bytes()
                .to_vec(),
            NoiseKind::NegativeQty => {
                let mut v = b"-".to_vec();
                // "-0" would still be ≥ 0: use -1 for zero and empty values.
                let zero = original.iter().all(|b| *b == b'0' || *b == b'.');
                v.extend_from_slice(if zero || original[0] == b'-' {
                    b"1"
                } else {
                    original
                });
                v
            }
            NoiseKind::UnknownEnum => {
                let name = feed.cols[col].name;
                let v: &str = match (feed.tpl, name) {
                    (true, "Status") => "CLOSEDD",
                    (true, "Priority") => "P0",
                    (true, "Reason") => "SHRK",
                    (_, "status") => "closedd",
                    (_, "severity") => "urgent",
                    (_, "reason_code") => "shrinkage",
                    (_, "stage") => "recieved",
                    _ => "unknown_value",
                };
                v.as_bytes().to_vec()
            }
            NoiseKind::BadTimestamp => {
                let v = if feed.tpl {
                    *self
                        .rng
                        .pick(&["32/11/2026 10:00:00", "n/a", "11/31/2026 25:00:00"])
                } else {
                    *self.rng.pick(&[
                        "2026-13-02T10:00:00Z",
                        "yesterday",
                        "2026-11-05T26:15:00Z",
                        "0000-00-00 00:00:00",
                    ])
                };
                v.as_bytes().to_vec()
            }
            NoiseKind::ZeroDelta => b"0".to_vec(),
            _ => Vec::new(),
        }
    }
}
