//! Row identities, for de-duplication at ingest, in memory that does not grow with
//! the size of the input or of the lake.
//!
//! Every committed ingest leaves one *sorted* file of 64-bit identity hashes per
//! table (`_opintel/index/<table>/<txn>.ids`, little-endian); the live ones are those
//! the ingest records list and no later record retired. During ingest each
//! accepted row's (identity, sequence number) goes to an [`IdSpill`], which sorts
//! fixed-size chunks and writes them to scratch files. At the end a k-way merge of the
//! committed files and the scratch runs walks all identities in order: in each group
//! of equal identities the earliest row (the lake's, else the lowest sequence number)
//! is kept and every other one is a duplicate. The merge writes the transaction's own
//! sorted identity file and returns the duplicates as a bitmap over the run's sequence
//! numbers. Memory: one chunk (32 MiB) while ingesting, one buffer per run while merging.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::{self, File};
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use super::{Lake, Txn};
use crate::error::{Result, io_at};

/// (identity, sequence) pairs held before a chunk is sorted and spilled: 32 MiB.
const CHUNK_PAIRS: usize = 2 << 20;
/// History files beyond which a commit merges them all into its own file.
const MAX_HISTORY_FILES: usize = 32;

/// Collects the identities of the rows a transaction adds to one table.
pub struct IdSpill {
    table: String,
    scratch: PathBuf,
    chunk: Vec<(u64, i64)>,
    runs: Vec<PathBuf>,
    /// First sequence number of this run and the number handed out.
    base: i64,
    count: u64,
}

/// Which of a run's rows were duplicates: a bitmap over sequence numbers.
#[derive(Debug, Default)]
pub struct Duplicates {
    base: i64,
    bits: Vec<u64>,
    count: u64,
}

impl Duplicates {
    fn mark(&mut self, seq: i64) {
        let i = (seq - self.base) as usize;
        if self.bits.len() <= i / 64 {
            self.bits.resize(i / 64 + 1, 0);
        }
        if self.bits[i / 64] & (1 << (i % 64)) == 0 {
            self.bits[i / 64] |= 1 << (i % 64);
            self.count += 1;
        }
    }

    pub fn contains(&self, seq: i64) -> bool {
        if seq < self.base {
            return false;
        }
        let i = (seq - self.base) as usize;
        self.bits
            .get(i / 64)
            .is_some_and(|w| w & (1 << (i % 64)) != 0)
    }

    /// Duplicates with sequence numbers in `[from, to)`.
    pub fn count_in(&self, from: i64, to: i64) -> u64 {
        (from.max(self.base)..to)
            .filter(|&s| self.contains(s))
            .count() as u64
    }

    pub fn len(&self) -> u64 {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
}

impl IdSpill {
    pub fn new(txn: &Txn, table: &str, base: i64) -> Result<IdSpill> {
        let scratch = txn.scratch_dir().join("ids").join(table);
        fs::create_dir_all(&scratch).map_err(io_at(&scratch))?;
        Ok(IdSpill {
            table: table.to_string(),
            scratch,
            chunk: Vec::with_capacity(CHUNK_PAIRS.min(1 << 16)),
            runs: Vec::new(),
            base,
            count: 0,
        })
    }

    /// Remember row `seq`'s identity.
    pub fn push(&mut self, id: u64, seq: i64) -> Result<()> {
        self.chunk.push((id, seq));
        self.count += 1;
        if self.chunk.len() >= CHUNK_PAIRS {
            self.spill()?;
        }
        Ok(())
    }

    fn spill(&mut self) -> Result<()> {
        if self.chunk.is_empty() {
            return Ok(());
        }
        self.chunk.sort_unstable();
        let path = self.scratch.join(format!("run-{:05}", self.runs.len()));
        let mut w = BufWriter::with_capacity(1 << 20, File::create(&path).map_err(io_at(&path))?);
        for (id, seq) in &self.chunk {
            w.write_all(&id.to_le_bytes()).map_err(io_at(&path))?;
            w.write_all(&seq.to_le_bytes()).map_err(io_at(&path))?;
        }
        w.flush().map_err(io_at(&path))?;
        self.chunk.clear();
        self.runs.push(path);
        Ok(())
    }

    /// Find the duplicates against the lake and within the run, and stage the run's
    /// identity file (merged with the history when the history has many files).
    pub fn resolve(mut self, lake: &Lake, txn: &Txn) -> Result<Duplicates> {
        let mut dups = Duplicates {
            base: self.base,
            ..Duplicates::default()
        };
        if self.count == 0 {
            return Ok(dups);
        }
        let history = lake.identity_files(&self.table, &txn.scratch_dir())?;
        let compact = history.len() >= MAX_HISTORY_FILES;
        let mut sources: Vec<Run> = Vec::new();
        for (_, path) in &history {
            sources.push(Run::open(path, false)?);
        }
        // The last chunk is merged straight from memory.
        self.chunk.sort_unstable();
        for r in &self.runs {
            sources.push(Run::open(r, true)?);
        }
        let in_memory = std::mem::take(&mut self.chunk);
        let rel = format!("_opintel/index/{}/{:08}.ids", self.table, txn.id());
        let out_path = txn.stage(&rel)?;
        let mut out =
            BufWriter::with_capacity(1 << 20, File::create(&out_path).map_err(io_at(&out_path))?);
        let mut heap: BinaryHeap<Reverse<(u64, i64, usize)>> = BinaryHeap::new();
        let memory_source = sources.len();
        for (i, s) in sources.iter_mut().enumerate() {
            if let Some((id, seq)) = s.next()? {
                heap.push(Reverse((id, seq, i)));
            }
        }
        let mut mem_pos = 0;
        if let Some(&(id, seq)) = in_memory.first() {
            heap.push(Reverse((id, seq, memory_source)));
            mem_pos = 1;
        }
        let mut current: Option<u64> = None;
        while let Some(Reverse((id, seq, src))) = heap.pop() {
            if current == Some(id) {
                if seq != i64::MIN {
                    dups.mark(seq);
                }
            } else {
                current = Some(id);
                // The first of a group is kept; history ids are rewritten only when compacting.
                if seq != i64::MIN || compact {
                    out.write_all(&id.to_le_bytes()).map_err(io_at(&out_path))?;
                }
            }
            let next = if src == memory_source {
                let n = in_memory.get(mem_pos).copied();
                mem_pos += 1;
                n
            } else {
                sources[src].next()?
            };
            if let Some((nid, nseq)) = next {
                heap.push(Reverse((nid, nseq, src)));
            }
        }
        out.flush().map_err(io_at(&out_path))?;
        drop(out);
        for r in &self.runs {
            let _ = fs::remove_file(r);
        }
        if compact {
            // The new file holds every identity: the old ones go once the commit is
            // durable (a crash before that leaves harmless repeats).
            for (rel, _) in history {
                txn.retire(rel);
            }
        }
        Ok(dups)
    }
}

/// A sorted stream of identities: a committed history file (ids only, sequence
/// `i64::MIN`: older than any new row) or a scratch run (id, seq pairs).
struct Run {
    reader: BufReader<File>,
    with_seq: bool,
    path: PathBuf,
}

impl Run {
    fn open(path: &Path, with_seq: bool) -> Result<Run> {
        let f = File::open(path).map_err(io_at(path))?;
        Ok(Run {
            reader: BufReader::with_capacity(256 << 10, f),
            with_seq,
            path: path.to_path_buf(),
        })
    }

    fn next(&mut self) -> Result<Option<(u64, i64)>> {
        let mut id = [0u8; 8];
        match self.reader.read_exact(&mut id) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(io_at(&self.path)(e)),
        }
        let seq = if self.with_seq {
            let mut s = [0u8; 8];
            self.reader.read_exact(&mut s).map_err(io_at(&self.path))?;
            i64::from_le_bytes(s)
        } else {
            i64::MIN
        };
        Ok(Some((u64::from_le_bytes(id), seq)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_bitmap() {
        let mut d = Duplicates {
            base: 100,
            ..Duplicates::default()
        };
        d.mark(100);
        d.mark(230);
        d.mark(230);
        assert_eq!(d.len(), 2);
        assert!(d.contains(100) && d.contains(230) && !d.contains(101) && !d.contains(5));
        assert_eq!(d.count_in(0, 231), 2);
        assert_eq!(d.count_in(101, 230), 0);
    }
}
