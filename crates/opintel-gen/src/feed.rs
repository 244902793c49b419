//! One export file being written: its columns, text format (CSV with a delimiter,
//! optional BOM and CRLF, or NDJSON), compression (none, gzip, zstd), timestamp style
//! and enum spellings, plus the row buffer the simulation fills field by field.
//!
//! A row is assembled in a reused [`RowBuf`] (bytes plus field boundaries), so noise can
//! rewrite a single field before the row is serialised; serialisation appends to a
//! reused line buffer and goes to a buffered, possibly compressing, writer. Nothing here
//! decides *what* to write.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::rc::Rc;

use super::layout::{self, EnumOf};
use super::model::{Item, Location, Style};
use super::noise::Table;
use super::rng::Rng;
use super::timefmt::{self, TsStyle, ZoneClock};

/// What a column holds, for serialisation and for choosing noise.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `event_id`: unique per row.
    Id,
    /// Required text.
    Req,
    /// Optional text.
    Opt,
    /// Required quantity that must be > 0 or ≥ 0.
    Qty,
    /// Quantity without a sign rule (`system_qty`) or optional (`qty_damaged`).
    Num,
    /// `qty_delta` (≠ 0).
    Delta,
    /// Required timestamp.
    Ts,
    /// Optional timestamp.
    OptTs,
    /// Required enumeration.
    Enum,
    /// Optional enumeration.
    OptEnum,
    /// A column outside the contract (kept out of the canonical table).
    Extra,
}

impl Kind {
    pub(crate) fn numeric(self) -> bool {
        matches!(self, Kind::Qty | Kind::Num | Kind::Delta)
    }
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct Col {
    pub name: &'static str,
    pub kind: Kind,
}

pub(crate) const fn col(name: &'static str, kind: Kind) -> Col {
    Col { name, kind }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Format {
    Csv { delim: u8, crlf: bool, bom: bool },
    Ndjson,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Compression {
    None,
    Gzip,
    Zstd,
}

enum Sink {
    Plain(BufWriter<File>),
    Gzip(flate2::write::GzEncoder<BufWriter<File>>),
    Zstd(zstd::Encoder<'static, BufWriter<File>>),
    /// Rows that are never delivered (the 3PL's batches after the last day).
    Null,
}

impl Sink {
    fn write_all(&mut self, b: &[u8]) -> io::Result<()> {
        match self {
            Sink::Plain(w) => w.write_all(b),
            Sink::Gzip(w) => w.write_all(b),
            Sink::Zstd(w) => w.write_all(b),
            Sink::Null => Ok(()),
        }
    }

    fn finish(self) -> io::Result<()> {
        match self {
            Sink::Plain(mut w) => w.flush(),
            Sink::Gzip(w) => w.finish()?.flush(),
            Sink::Zstd(w) => w.finish()?.flush(),
            Sink::Null => Ok(()),
        }
    }
}

/// Fields of the row being built.
#[derive(Default, Clone)]
pub(crate) struct RowBuf {
    pub bytes: Vec<u8>,
    /// End offset of each field in `bytes`.
    pub ends: Vec<u32>,
}

impl RowBuf {
    pub(crate) fn clear(&mut self) {
        self.bytes.clear();
        self.ends.clear();
    }

    pub(crate) fn field(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        &self.bytes[start..self.ends[i] as usize]
    }

    pub(crate) fn len(&self) -> usize {
        self.ends.len()
    }

    fn close(&mut self) {
        self.ends.push(self.bytes.len() as u32);
    }

    /// A copy with field `i` replaced by `value`.
    pub(crate) fn with_field(&self, i: usize, value: &[u8]) -> RowBuf {
        let mut out = RowBuf::default();
        for k in 0..self.len() {
            out.bytes
                .extend_from_slice(if k == i { value } else { self.field(k) });
            out.close();
        }
        out
    }
}

/// An export file being written.
pub(crate) struct Feed {
    pub table: Table,
    pub cols: &'static [Col],
    pub path: Option<PathBuf>,
    format: Format,
    style: TsStyle,
    clock: Rc<ZoneClock>,
    /// The 3PL's enum spellings (and upper-case exception types).
    pub tpl: bool,
    sink: Sink,
    pub row: RowBuf,
    line: Vec<u8>,
    /// Data lines written (including duplicates and noise).
    pub rows: u64,
    /// Invalid noise rows among them.
    pub invalid_rows: u64,
    /// Keep the last two hours of rows for the next day's overlapping export.
    retain: bool,
    pub tail: VecDeque<(i64, Vec<u8>)>,
    /// Recycled tail buffers.
    spare: Vec<Vec<u8>>,
    max_t: i64,
    /// Value of the extra, non-canonical column (when the feed has one).
    pub extra_value: String,
    /// This export is sent twice: the noise leaves it free of invalid rows.
    pub resend: bool,
}

pub(crate) struct FeedSpec {
    pub table: Table,
    pub cols: &'static [Col],
    pub format: Format,
    pub compression: Compression,
    pub style: TsStyle,
    pub tpl: bool,
    pub retain: bool,
}

impl Feed {
    /// Create the file (or a sink that discards rows when `path` is `None`) and write
    /// the header.
    pub(crate) fn create(
        spec: &FeedSpec,
        path: Option<PathBuf>,
        clock: Rc<ZoneClock>,
    ) -> io::Result<Feed> {
        let sink = match &path {
            None => Sink::Null,
            Some(p) => {
                let file = BufWriter::with_capacity(256 * 1024, File::create(p)?);
                match spec.compression {
                    Compression::None => Sink::Plain(file),
                    Compression::Gzip => Sink::Gzip(flate2::write::GzEncoder::new(
                        file,
                        flate2::Compression::fast(),
                    )),
                    Compression::Zstd => Sink::Zstd(zstd::Encoder::new(file, 1)?),
                }
            }
        };
        let mut feed = Feed {
            table: spec.table,
            cols: spec.cols,
            path,
            format: spec.format,
            style: spec.style,
            clock,
            tpl: spec.tpl,
            sink,
            row: RowBuf::default(),
            line: Vec::with_capacity(512),
            rows: 0,
            invalid_rows: 0,
            retain: spec.retain,
            tail: VecDeque::new(),
            spare: Vec::new(),
            max_t: i64::MIN,
            extra_value: String::new(),
            resend: false,
        };
        if let Format::Csv { delim, crlf, bom } = spec.format {
            let mut head = Vec::new();
            if bom {
                head.extend_from_slice(b"\xEF\xBB\xBF");
            }
            for (i, c) in spec.cols.iter().enumerate() {
                if i > 0 {
                    head.push(delim);
                }
                head.extend_from_slice(c.name.as_bytes());
            }
            head.extend_from_slice(if crlf { b"\r\n" } else { b"\n" });
            feed.sink.write_all(&head)?;
        }
        Ok(feed)
    }

    /// Start a row.
    pub(crate) fn begin(&mut self) -> &mut Self {
        self.row.clear();
        self
    }

    pub(crate) fn s(&mut self, v: &str) -> &mut Self {
        self.row.bytes.extend_from_slice(v.as_bytes());
        self.row.close();
        self
    }

    /// An id: `prefix` and `n`, zero-padded to `width` digits (0: no padding).
    pub(crate) fn id(&mut self, prefix: &str, n: u64, width: usize) -> &mut Self {
        self.row.bytes.extend_from_slice(prefix.as_bytes());
        timefmt::push_padded(&mut self.row.bytes, n, width);
        self.row.close();
        self
    }

    /// An event id in the site's style: the 3PL's references (`CHI1-S00001234`), UUIDs
    /// at WH-WEST, `<prefix>-<n>` elsewhere.
    pub(crate) fn event_id(
        &mut self,
        style: Style,
        prefix: &str,
        tpl_letter: char,
        n: u64,
        rng: &mut Rng,
    ) -> &mut Self {
        let b = &mut self.row.bytes;
        match style {
            Style::ThirdParty => {
                b.extend_from_slice(b"CHI1-");
                b.push(tpl_letter as u8);
                timefmt::push_padded(b, n, 8);
            }
            Style::West => rng.uuid_like(b),
            _ => {
                b.extend_from_slice(prefix.as_bytes());
                b.push(b'-');
                timefmt::push_u64(b, n);
            }
        }
        self.row.close();
        self
    }

    /// A SKU (`SKU-000123`).
    pub(crate) fn sku(&mut self, item: &Item) -> &mut Self {
        self.id("SKU-", u64::from(item.sku), 6)
    }

    /// A location id (`E-A03-12-2`).
    pub(crate) fn loc(&mut self, loc: &Location) -> &mut Self {
        loc.push_id(&mut self.row.bytes);
        self.row.close();
        self
    }

    pub(crate) fn int(&mut self, v: i64) -> &mut Self {
        timefmt::push_i64(&mut self.row.bytes, v);
        self.row.close();
        self
    }

    pub(crate) fn qty(&mut self, v: f64) -> &mut Self {
        timefmt::push_qty(&mut self.row.bytes, v);
        self.row.close();
        self
    }

    pub(crate) fn money(&mut self, v: f64) -> &mut Self {
        timefmt::push_money(&mut self.row.bytes, v);
        self.row.close();
        self
    }

    /// A timestamp in the feed's style.
    pub(crate) fn ts(&mut self, t: i64) -> &mut Self {
        // Milliseconds as a function of the instant: the same instant always prints the
        // same, and round minutes (SLA and due times) print `.000`.
        let millis = if t % 60 == 0 {
            0
        } else {
            ((t as u64).wrapping_mul(2_654_435_761) >> 7) as u32 % 1000
        };
        timefmt::push_ts(&mut self.row.bytes, t, self.style, millis, &self.clock);
        self.row.close();
        self
    }

    /// The UTC date alone (`YYYY-MM-DD`), which readers take as midnight.
    pub(crate) fn date_only(&mut self, t: i64) -> &mut Self {
        timefmt::push_date(&mut self.row.bytes, t.div_euclid(timefmt::DAY));
        self.row.close();
        self
    }

    /// An enumeration value, spelled the feed's way.
    pub(crate) fn en(&mut self, which: EnumOf, canonical: &str) -> &mut Self {
        if self.tpl && which == EnumOf::Other {
            // Other enumerations in capitals (valid: matched case-insensitively).
            self.row
                .bytes
                .extend(canonical.bytes().map(|b| b.to_ascii_uppercase()));
        } else if self.tpl {
            self.row
                .bytes
                .extend_from_slice(layout::tpl_spelling(which, canonical).as_bytes());
        } else {
            self.row.bytes.extend_from_slice(canonical.as_bytes());
        }
        self.row.close();
        self
    }

    /// Serialise `row` into the line buffer.
    fn serialise(&mut self, row: &RowBuf) {
        self.line.clear();
        match self.format {
            Format::Csv { delim, crlf, .. } => {
                for i in 0..row.len() {
                    if i > 0 {
                        self.line.push(delim);
                    }
                    timefmt::csv_field(&mut self.line, row.field(i), delim);
                }
                if self.cols.last().is_some_and(|c| c.kind == Kind::Extra) {
                    self.line.push(delim);
                    timefmt::csv_field(&mut self.line, self.extra_value.as_bytes(), delim);
                }
                self.line
                    .extend_from_slice(if crlf { b"\r\n" } else { b"\n" });
            }
            Format::Ndjson => {
                self.line.push(b'{');
                let mut first = true;
                for i in 0..row.len() {
                    let v = row.field(i);
                    let c = self.cols[i];
                    if v.is_empty()
                        && !matches!(
                            c.kind,
                            Kind::Id | Kind::Req | Kind::Qty | Kind::Ts | Kind::Enum
                        )
                    {
                        continue;
                    }
                    if !first {
                        self.line.push(b',');
                    }
                    first = false;
                    timefmt::json_string(&mut self.line, c.name.as_bytes());
                    self.line.push(b':');
                    if v.is_empty() {
                        self.line.extend_from_slice(b"null");
                    } else if c.kind.numeric() && timefmt::looks_numeric(v) {
                        self.line.extend_from_slice(v);
                    } else {
                        timefmt::json_string(&mut self.line, v);
                    }
                }
                self.line.extend_from_slice(b"}\n");
            }
        }
    }

    /// Write the current row (event time `t`, for the overlap tail).
    pub(crate) fn write_row(&mut self, t: i64) -> io::Result<()> {
        let row = std::mem::take(&mut self.row);
        self.serialise(&row);
        self.row = row;
        self.sink.write_all(&self.line)?;
        self.rows += 1;
        if self.retain {
            self.max_t = self.max_t.max(t);
            let mut kept = self.spare.pop().unwrap_or_default();
            kept.clear();
            kept.extend_from_slice(&self.line);
            self.tail.push_back((t, kept));
            while self
                .tail
                .front()
                .is_some_and(|(ft, _)| *ft < self.max_t - 2 * timefmt::HOUR)
            {
                if let Some((_, old)) = self.tail.pop_front() {
                    self.spare.push(old);
                }
            }
        }
        Ok(())
    }

    /// Write another row (a noise clone), not kept for the overlap.
    pub(crate) fn write_other(&mut self, row: &RowBuf) -> io::Result<()> {
        self.serialise(row);
        self.sink.write_all(&self.line)?;
        self.rows += 1;
        Ok(())
    }

    /// Write an already serialised line (the overlap from the previous export).
    pub(crate) fn write_line(&mut self, line: &[u8]) -> io::Result<()> {
        self.sink.write_all(line)?;
        self.rows += 1;
        Ok(())
    }

    /// Flush and close; returns the rows of the last two hours (for the overlap).
    pub(crate) fn finish(self) -> io::Result<Finished> {
        let max_t = self.max_t;
        let tail = self
            .tail
            .into_iter()
            .filter(|(t, _)| *t >= max_t - 2 * timefmt::HOUR)
            .map(|(_, l)| l)
            .collect();
        self.sink.finish()?;
        Ok(Finished {
            resend: self.resend,
            path: self.path,
            rows: self.rows,
            invalid_rows: self.invalid_rows,
            tail,
        })
    }
}

/// A closed feed: where it went, its rows, and the overlap for the next export.
pub(crate) struct Finished {
    pub resend: bool,
    pub path: Option<PathBuf>,
    pub rows: u64,
    pub invalid_rows: u64,
    pub tail: Vec<Vec<u8>>,
}
