//! CSV reader: RFC 4180 quoting, any one-byte delimiter, UTF-8 with or without BOM,
//! LF or CRLF, streamed in batches of text columns.
//!
//! Built on `csv-core` so that each record's exact bytes are known: a rejected row keeps
//! its raw text and its line number. Memory is one read buffer plus one batch,
//! whatever the file size. A record with the wrong number of fields or bytes that are
//! not UTF-8 is refused here; everything about values is left to `validate`.

use std::io::Read;

use csv_core::{ReadRecordResult, Reader, ReaderBuilder};

use super::raw::{ColumnMap, MAX_FIELD_BYTES, RawBatch, RawBatchBuilder};
use super::{FileProblem, RowSource};
use crate::config::SourceMapping;
use crate::contract::TableSpec;

const READ_CHUNK: usize = 1 << 20;
/// A record longer than this is refused without being held in memory.
const MAX_RECORD_BYTES: usize = 64 << 20;

pub(crate) struct CsvSource {
    input: Box<dyn Read + Send>,
    core: Reader,
    buf: Vec<u8>,
    /// Parse position and end of valid data in `buf`.
    pos: usize,
    end: usize,
    eof: bool,
    done: bool,
    out: Vec<u8>,
    ends: Vec<usize>,
    /// Lines consumed so far (the next record starts on line `line + 1` or later).
    line: u64,
    map: ColumnMap,
    batch_rows: usize,
    /// A read error met after some rows of a batch: returned on the next call.
    failed: Option<FileProblem>,
}

/// One parsed record: positions into the reader's buffers.
struct Rec {
    raw_start: usize,
    raw_end: usize,
    nout: usize,
    nend: usize,
    line: u64,
    oversized: bool,
}

impl CsvSource {
    /// Read the header and map it onto `table`.
    pub fn open(
        input: Box<dyn Read + Send>,
        delimiter: u8,
        table: &TableSpec,
        mapping: Option<&SourceMapping>,
        batch_rows: usize,
    ) -> Result<Option<CsvSource>, FileProblem> {
        let core = ReaderBuilder::new().delimiter(delimiter).build();
        let mut src = CsvSource {
            input,
            core,
            buf: vec![0; READ_CHUNK],
            pos: 0,
            end: 0,
            eof: false,
            done: false,
            out: vec![0; 4096],
            ends: vec![0; 64],
            line: 0,
            map: ColumnMap {
                source_of: Vec::new(),
                fields: 0,
                kept: Vec::new(),
                extras: Vec::new(),
                width: 0,
            },
            batch_rows,
            failed: None,
        };
        let Some(rec) = src.next_record()? else {
            return Ok(None);
        };
        if rec.oversized {
            return Err(FileProblem::at(
                1,
                format!(
                    "the header is longer than {} MiB: is this a CSV file?",
                    MAX_RECORD_BYTES >> 20
                ),
            ));
        }
        let fields = src
            .fields(&rec)
            .map_err(|e| FileProblem::at(rec.line, format!("header {e}")))?;
        let header: Vec<String> = fields.iter().map(|s| s.to_string()).collect();
        src.map =
            ColumnMap::new(table, mapping, &header).map_err(|m| FileProblem::at(rec.line, m))?;
        Ok(Some(src))
    }

    /// The record's fields as text, or why not.
    fn fields(&self, rec: &Rec) -> Result<Vec<&str>, String> {
        let text = std::str::from_utf8(&self.out[..rec.nout]).map_err(|e| {
            let at = e.valid_up_to();
            format!(
                "is not valid UTF-8 (byte 0x{:02X} after {:?}); convert the file to UTF-8",
                self.out[at],
                String::from_utf8_lossy(&self.out[at.saturating_sub(20)..at])
            )
        })?;
        // The record's bytes can be valid UTF-8 while a field's are not: a delimiter
        // between the bytes of one character ("\xD0,\x89").
        let mut fields = Vec::with_capacity(rec.nend);
        let mut start = 0;
        for &e in &self.ends[..rec.nend] {
            let f = text.get(start..e).ok_or_else(|| {
                format!(
                    "is not valid UTF-8 (field {} is cut inside a character); convert the file to UTF-8",
                    fields.len() + 1
                )
            })?;
            fields.push(f);
            start = e;
        }
        Ok(fields)
    }

    /// Refill `buf`, keeping bytes from `keep` on (the record being parsed).
    fn fill(&mut self, keep: usize) -> Result<usize, FileProblem> {
        if keep > 0 {
            self.buf.copy_within(keep..self.end, 0);
            self.end -= keep;
            self.pos -= keep;
        }
        if self.buf.len() - self.end < READ_CHUNK / 2 {
            self.buf.resize(self.buf.len() + READ_CHUNK, 0);
        }
        loop {
            match self.input.read(&mut self.buf[self.end..]) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(keep);
                }
                Ok(n) => {
                    self.end += n;
                    return Ok(keep);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Err(FileProblem::at(
                        self.line + 1,
                        format!("read failed after line {}: {e}", self.line),
                    ));
                }
            }
        }
    }

    fn next_record(&mut self) -> Result<Option<Rec>, FileProblem> {
        if self.done {
            return Ok(None);
        }
        let mut raw_start = self.pos;
        let (mut nout, mut nend) = (0usize, 0usize);
        let mut oversized = false;
        loop {
            if self.pos == self.end && !self.eof {
                let shift = if oversized { self.pos } else { raw_start };
                self.fill(shift)?;
                raw_start -= shift.min(raw_start);
                continue;
            }
            let input = &self.buf[self.pos..self.end];
            let (res, nin, no, ne) =
                self.core
                    .read_record(input, &mut self.out[nout..], &mut self.ends[nend..]);
            self.pos += nin;
            nout += no;
            nend += ne;
            match res {
                ReadRecordResult::InputEmpty => {}
                ReadRecordResult::OutputFull => {
                    if self.out.len() >= MAX_RECORD_BYTES {
                        oversized = true;
                        nout = 0;
                    } else {
                        let n = self.out.len() * 2;
                        self.out.resize(n, 0);
                    }
                }
                ReadRecordResult::OutputEndsFull => {
                    if oversized || self.ends.len() >= 1 << 16 {
                        oversized = true;
                        nend = 0;
                    } else {
                        let n = self.ends.len() * 2;
                        self.ends.resize(n, 0);
                    }
                }
                ReadRecordResult::Record => {
                    let raw = &self.buf[raw_start..self.pos];
                    let lead = raw
                        .iter()
                        .take_while(|&&c| c == b'\n' || c == b'\r')
                        .count();
                    let leading_newlines =
                        raw[..lead].iter().filter(|&&c| c == b'\n').count() as u64;
                    let line = self.line + 1 + leading_newlines;
                    self.line += memchr::memchr_iter(b'\n', raw).count() as u64;
                    let mut raw_end = self.pos;
                    while raw_end > raw_start + lead
                        && matches!(self.buf[raw_end - 1], b'\n' | b'\r')
                    {
                        raw_end -= 1;
                    }
                    return Ok(Some(Rec {
                        raw_start: raw_start + lead,
                        raw_end,
                        nout,
                        nend,
                        line,
                        oversized,
                    }));
                }
                ReadRecordResult::End => {
                    self.done = true;
                    return Ok(None);
                }
            }
        }
    }
}

impl RowSource for CsvSource {
    fn column_map(&self) -> &ColumnMap {
        &self.map
    }

    fn next_batch(&mut self) -> Result<Option<RawBatch>, FileProblem> {
        if let Some(p) = self.failed.take() {
            return Err(p);
        }
        let mut b = RawBatchBuilder::new(&self.map, self.batch_rows);
        while b.len() < self.batch_rows {
            let rec = match self.next_record() {
                Ok(Some(rec)) => rec,
                Ok(None) => break,
                Err(p) if b.is_empty() => return Err(p),
                Err(p) => {
                    // Hand over the rows read so far; report the problem next time.
                    self.failed = Some(p);
                    self.done = true;
                    break;
                }
            };
            let raw = &self.buf[rec.raw_start..rec.raw_end];
            if rec.oversized {
                b.reject(
                    rec.line,
                    raw,
                    format!("the row is longer than {} MiB", MAX_RECORD_BYTES >> 20),
                );
                continue;
            }
            let fields = match self.fields(&rec) {
                Ok(f) => f,
                Err(e) => {
                    b.reject(rec.line, raw, format!("the row {e}"));
                    continue;
                }
            };
            if fields.len() != self.map.width {
                b.reject(
                    rec.line,
                    raw,
                    format!(
                        "the row has {} fields but the header has {} (a missing quote or delimiter?)",
                        fields.len(),
                        self.map.width
                    ),
                );
                continue;
            }
            if let Some(f) = fields.iter().position(|f| f.len() > MAX_FIELD_BYTES) {
                b.reject(
                    rec.line,
                    raw,
                    format!(
                        "field {} is {} bytes long; values are limited to {} KiB",
                        f + 1,
                        fields[f].len(),
                        MAX_FIELD_BYTES >> 10
                    ),
                );
                continue;
            }
            let source_of = &self.map.source_of;
            b.push(rec.line, raw, |i| source_of[i].map_or("", |s| fields[s]));
        }
        Ok((!b.is_empty()).then(|| b.finish()))
    }
}
