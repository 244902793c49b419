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
//!
//! What a nightly ingest pays for the lake's history: when the run fits in one chunk
//! and the history has fewer than 32 files, the merge is a `probe`: each history
//! file is walked once against the run's sorted identities, without a heap over every
//! committed identity. And a run expecting far fewer rows than the history holds
//! identities does not read the history into its filter of identities seen; it holds
//! all its rows back for the merge instead (a scratch file of the night's rows).

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
/// A run expecting fewer rows than the lake's identities over this ratio does not read
/// the history into its filter: it holds every row back for the merge instead.
const HOLD_ALL_RATIO: u64 = 4;

/// Collects the identities of the rows a transaction adds to one table.
pub struct IdSpill {
    table: String,
    /// The identity files of committed ingests (lake path, local path).
    history: Vec<(String, PathBuf)>,
    /// Every identity seen so far: the history's, then this run's.
    seen: Seen,
    /// The history is not in `seen`: every row may be a duplicate.
    hold_all: bool,
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
    /// `expected` is a guess of the rows this run adds (it sizes the filter).
    pub fn new(lake: &Lake, txn: &Txn, table: &str, base: i64, expected: u64) -> Result<IdSpill> {
        let scratch = txn.scratch_dir().join("ids").join(table);
        fs::create_dir_all(&scratch).map_err(io_at(&scratch))?;
        let history = lake.identity_files(txn.log(), table, &txn.scratch_dir())?;
        let sizes: u64 = history
            .iter()
            .map(|(_, p)| fs::metadata(p).map_or(0, |m| m.len() / 8))
            .sum();
        // A night's few thousand rows against a year of identities: reading every
        // committed identity into the filter cost more than holding the night's rows
        // back (a scratch file, read once) and settling them all in the merge.
        let hold_all = sizes > expected.max(1).saturating_mul(HOLD_ALL_RATIO);
        let mut seen = Seen::with_capacity(if hold_all { expected } else { sizes + expected });
        if !hold_all {
            for (_, path) in &history {
                let mut run = Run::open(path, false)?;
                while let Some((id, _)) = run.next()? {
                    seen.check_and_insert(id);
                }
            }
        }
        Ok(IdSpill {
            table: table.to_string(),
            history,
            seen,
            hold_all,
            scratch,
            chunk: Vec::with_capacity(CHUNK_PAIRS.min(1 << 16)),
            runs: Vec::new(),
            base,
            count: 0,
        })
    }

    /// Whether a row with identity `id` may have been seen before (in the lake or
    /// earlier in this run); the identity is remembered either way. `false` is
    /// certain: such a row is the first of its identity and is kept. `true` may be
    /// wrong (a filter's false positive), so the merge in [`IdSpill::resolve`] decides.
    pub fn maybe_seen(&mut self, id: u64) -> bool {
        self.seen.check_and_insert(id) || self.hold_all
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
    pub fn resolve(mut self, txn: &Txn) -> Result<Duplicates> {
        let mut dups = Duplicates {
            base: self.base,
            ..Duplicates::default()
        };
        if self.count == 0 {
            return Ok(dups);
        }
        let history = std::mem::take(&mut self.history);
        let compact = history.len() >= MAX_HISTORY_FILES;
        let rel = format!("_opintel/index/{}/{:08}.ids", self.table, txn.id());
        if !compact && self.runs.is_empty() {
            let out_path = txn.stage(&rel)?;
            probe(
                std::mem::take(&mut self.chunk),
                &history,
                &out_path,
                &mut dups,
            )?;
            return Ok(dups);
        }
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

/// The merge for a run that fits in memory and keeps the history files as they are:
/// the run's distinct identities, sorted, are looked up in each history file by one
/// sequential walk (no heap over every committed identity, which was a fifth of a
/// nightly ingest's CPU on a year of history). In each group of equal identities the
/// lowest sequence number is kept unless the history has the identity; every other row
/// is a duplicate. Writes the kept identities, sorted, to `out_path`: the same file and
/// the same duplicates as the full merge without compaction.
fn probe(
    mut chunk: Vec<(u64, i64)>,
    history: &[(String, PathBuf)],
    out_path: &Path,
    dups: &mut Duplicates,
) -> Result<()> {
    chunk.sort_unstable();
    let mut ids: Vec<u64> = chunk.iter().map(|&(id, _)| id).collect();
    ids.dedup();
    let mut known = vec![false; ids.len()];
    for (_, path) in history {
        let mut run = Run::open(path, false)?;
        let mut i = 0;
        while i < ids.len() {
            let Some((h, _)) = run.next()? else { break };
            while i < ids.len() && ids[i] < h {
                i += 1;
            }
            if i < ids.len() && ids[i] == h {
                known[i] = true;
            }
        }
    }
    let mut out =
        BufWriter::with_capacity(1 << 20, File::create(out_path).map_err(io_at(out_path))?);
    let mut k = 0;
    let mut previous = None;
    for (id, seq) in chunk {
        if previous == Some(id) {
            dups.mark(seq);
            continue;
        }
        previous = Some(id);
        while ids[k] != id {
            k += 1;
        }
        if known[k] {
            dups.mark(seq);
        } else {
            out.write_all(&id.to_le_bytes()).map_err(io_at(out_path))?;
        }
    }
    out.flush().map_err(io_at(out_path))?;
    Ok(())
}

/// A blocked Bloom filter of 64-bit identities (already hashes): high bits of an
/// identity pick one 64-bit word, low bits pick seven bits in it, so a lookup touches
/// one cache line (eight probes spread over the whole filter
/// cost an ingest 6% of its time in cache misses). Its size is fixed when it is made,
/// between 1 Mbit and 256 Mbit (32 MiB): ~16 bits per expected identity give about
/// 0.1% false positives, and more identities than expected only raise that.
struct Seen {
    words: Vec<u64>,
    mask: u64,
}

const SEEN_MIN_BITS: u64 = 1 << 20;
const SEEN_MAX_BITS: u64 = 1 << 28;

impl Seen {
    fn with_capacity(ids: u64) -> Seen {
        let bits = ids
            .saturating_mul(16)
            .clamp(SEEN_MIN_BITS, SEEN_MAX_BITS)
            .next_power_of_two();
        Seen {
            words: vec![0; (bits / 64) as usize],
            mask: bits / 64 - 1,
        }
    }

    /// The word of `id` and the bits it sets there: the word from the top 22 bits,
    /// seven bits from the seven 6-bit slices of the low 42 (disjoint bits of the hash:
    /// when the word and the slices shared bits, every identity of a word set the same
    /// bits and 1.2% of new identities looked seen).
    fn slot(&self, id: u64) -> (usize, u64) {
        let word = ((id >> 42) & self.mask) as usize;
        let bits = (0..7).fold(0u64, |acc, i| acc | 1 << ((id >> (6 * i)) & 63));
        (word, bits)
    }

    /// Whether `id` may have been inserted before.
    #[cfg(test)]
    fn contains(&self, id: u64) -> bool {
        let (word, bits) = self.slot(id);
        self.words[word] & bits == bits
    }

    /// Whether `id` may have been inserted before; inserts it.
    fn check_and_insert(&mut self, id: u64) -> bool {
        let (word, bits) = self.slot(id);
        let seen = self.words[word] & bits == bits;
        self.words[word] |= bits;
        seen
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
    fn seen_has_no_false_negatives_and_few_false_positives() {
        let mut seen = Seen::with_capacity(100_000);
        let ids: Vec<u64> = (0..100_000u64)
            .map(|i| xxhash_rust::xxh3::xxh3_64(&i.to_le_bytes()))
            .collect();
        // Ids distinct by construction (xxh3 of distinct inputs); a repeat of one is seen.
        let fresh = ids.iter().filter(|&&id| !seen.check_and_insert(id)).count();
        assert!(ids.iter().all(|&id| seen.check_and_insert(id)));
        let false_positives = (100_000..200_000u64)
            .map(|i| xxhash_rust::xxh3::xxh3_64(&i.to_le_bytes()))
            .filter(|&id| seen.contains(id))
            .count();
        // 2 Mbit for 100k: ~3 identities of 7 bits per word; over the Poisson spread of
        // identities per word that is ≈ 0.14% false positives, ~140 of 100k.
        assert!(
            fresh > 99_800,
            "{fresh} of 100000 first insertions were new"
        );
        assert!(false_positives < 400, "{false_positives} false positives");
    }

    #[test]
    fn probe_finds_the_duplicates_a_model_finds() {
        use std::collections::{BTreeSet, HashSet};
        let h = |i: u64| xxhash_rust::xxh3::xxh3_64(&i.to_le_bytes());
        let dir = tempfile::tempdir().expect("tempdir");
        // Three committed files of distinct identities (0..3000, 3000..6000, 6000..9000).
        let mut history = Vec::new();
        let mut committed = HashSet::new();
        for f in 0..3u64 {
            let mut ids: Vec<u64> = (f * 3000..(f + 1) * 3000).map(h).collect();
            ids.sort_unstable();
            let path = dir.path().join(format!("{f}.ids"));
            let bytes: Vec<u8> = ids.iter().flat_map(|id| id.to_le_bytes()).collect();
            fs::write(&path, bytes).expect("write");
            committed.extend(ids);
            history.push((format!("{f}.ids"), path));
        }
        // A run: new identities, some sent twice, some the lake has (every 7th of 0..9000),
        // in an order unrelated to their sequence numbers.
        let mut run: Vec<(u64, i64)> = Vec::new();
        let mut seq = 1000;
        for i in 8_000..12_000u64 {
            for _ in 0..(1 + (i % 3 == 0) as u64) {
                run.push((
                    h(if i < 9_000 || i % 7 == 0 {
                        i
                    } else {
                        i + 100_000
                    }),
                    seq,
                ));
                seq += 1;
            }
        }
        run.reverse();
        // The model: walk in sequence order; a row is kept when its identity is neither
        // committed nor kept before.
        let mut by_seq = run.clone();
        by_seq.sort_by_key(|&(_, s)| s);
        let mut kept = BTreeSet::new();
        let mut expected_dups = BTreeSet::new();
        for &(id, s) in &by_seq {
            if committed.contains(&id) || !kept.insert(id) {
                expected_dups.insert(s);
            }
        }
        let mut dups = Duplicates {
            base: 1000,
            ..Duplicates::default()
        };
        let out = dir.path().join("out.ids");
        probe(run, &history, &out, &mut dups).expect("probe");
        let got: BTreeSet<i64> = (1000..seq).filter(|&s| dups.contains(s)).collect();
        assert_eq!(got, expected_dups);
        assert_eq!(dups.len(), expected_dups.len() as u64);
        assert!(!expected_dups.is_empty() && expected_dups.len() < by_seq.len());
        // The staged file: the kept identities, sorted, each once.
        let written: Vec<u64> = fs::read(&out)
            .expect("read")
            .chunks(8)
            .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")))
            .collect();
        assert_eq!(written, kept.into_iter().collect::<Vec<_>>());
    }

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
