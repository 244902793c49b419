//! Row identities already in the lake, for de-duplication at ingest.
//!
//! Each committed transaction adds one file per table of 64-bit identity hashes
//! (little-endian). Loading a table's index reads them all into a hash set: 8 bytes
//! per row plus the set's overhead, about 150 MB for ten million rows.

use std::collections::HashSet;
use std::fs;
use std::hash::{BuildHasherDefault, Hasher};
use std::io::Write;

use super::{Lake, Txn};
use crate::error::{Result, io_at};

/// The identities of one table: those committed plus those added in this run.
pub struct IdIndex {
    table: String,
    known: HashSet<u64, Ids>,
    added: Vec<u64>,
}

impl IdIndex {
    /// Load the committed identities of `table`.
    pub fn load(lake: &Lake, table: &str) -> Result<IdIndex> {
        let dir = lake.index_dir(table);
        let mut known = HashSet::default();
        if let Ok(entries) = fs::read_dir(&dir) {
            for e in entries {
                let path = e.map_err(io_at(&dir))?.path();
                if path.extension().is_some_and(|x| x == "ids") {
                    let bytes = fs::read(&path).map_err(io_at(&path))?;
                    known.reserve(bytes.len() / 8);
                    known.extend(
                        bytes
                            .chunks_exact(8)
                            .map(|c| u64::from_le_bytes(c.try_into().unwrap_or([0; 8]))),
                    );
                }
            }
        }
        Ok(IdIndex {
            table: table.to_string(),
            known,
            added: Vec::new(),
        })
    }

    /// Add an identity; false when it was already there (a duplicate).
    pub fn insert(&mut self, id: u64) -> bool {
        let new = self.known.insert(id);
        if new {
            self.added.push(id);
        }
        new
    }

    pub fn len(&self) -> usize {
        self.known.len()
    }

    pub fn is_empty(&self) -> bool {
        self.known.is_empty()
    }

    /// Stage the identities added in this run as part of `txn`.
    pub fn stage(&mut self, txn: &Txn) -> Result<()> {
        if self.added.is_empty() {
            return Ok(());
        }
        let rel = format!("_opintel/index/{}/{:08}.ids", self.table, txn.id());
        let path = txn.stage(&rel)?;
        let mut bytes = Vec::with_capacity(self.added.len() * 8);
        for id in &self.added {
            bytes.extend_from_slice(&id.to_le_bytes());
        }
        let mut f = fs::File::create(&path).map_err(io_at(&path))?;
        f.write_all(&bytes).map_err(io_at(&path))?;
        self.added.clear();
        Ok(())
    }
}

/// The identities are already uniform hashes: use them as their own hash.
type Ids = BuildHasherDefault<IdentityHasher>;

#[derive(Default)]
pub(crate) struct IdentityHasher(u64);

impl Hasher for IdentityHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}
