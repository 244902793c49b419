//! opintel's own records beside the Delta tables (the ingest log, done markers,
//! identity files) and the staging of an ingest's files, on a local disk or an object
//! store. On a disk the staging folder is inside the lake (`_opintel/staging/<n>/`)
//! and files are moved into place after the commit record; on an object store the
//! staging folder is local and files are uploaded before the record is written.

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures::TryStreamExt;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};

use super::location::Location;
use crate::error::{Error, Result, io_at};

#[derive(Debug, Clone)]
pub(crate) struct Store {
    loc: Location,
    kind: Kind,
}

#[derive(Debug, Clone)]
enum Kind {
    Local(PathBuf),
    Remote {
        store: Arc<dyn ObjectStore>,
        /// Local folder for the staging of this process's ingests.
        staging: PathBuf,
    },
}

fn txn_name(n: u64, ext: &str) -> String {
    format!("{n:08}{ext}")
}

/// The ingest number in a `00000012.json` / `00000012` name.
fn txn_of(name: &str, ext: &str) -> Option<u64> {
    let stem = name.strip_suffix(ext)?;
    (stem.len() == 8 && stem.bytes().all(|b| b.is_ascii_digit()))
        .then(|| stem.parse().ok())
        .flatten()
}

/// What the log folder holds (see [`Store::log_listing`]).
pub struct LogListing {
    /// Ingest records, in order.
    pub records: Vec<u64>,
    /// Done markers.
    pub done: BTreeSet<u64>,
}

fn remote_err(loc: &Location, what: &str, e: impl std::fmt::Display) -> Error {
    Error::Lake {
        path: format!("{}/{what}", loc.display()).into(),
        message: e.to_string(),
    }
}

impl Store {
    pub fn new(loc: &Location) -> Result<Store> {
        if loc.is_local() {
            return Ok(Store::local(loc));
        }
        let store = loc.store()?;
        // A private local folder for staging, per lake URL.
        let key = xxhash_rust::xxh3::xxh3_64(loc.display().as_bytes());
        let staging = std::env::temp_dir().join(format!("opintel-staging-{key:016x}"));
        Ok(Store {
            loc: loc.clone(),
            kind: Kind::Remote { store, staging },
        })
    }

    pub fn local(loc: &Location) -> Store {
        Store {
            loc: loc.clone(),
            kind: Kind::Local(loc.local_root().map(Path::to_path_buf).unwrap_or_default()),
        }
    }

    fn meta(root: &Path) -> PathBuf {
        root.join("_opintel")
    }

    /// Create the folders a writer needs.
    pub fn prepare(&self) -> Result<()> {
        let dirs = match &self.kind {
            Kind::Local(root) => vec![
                Self::meta(root).join("log"),
                Self::meta(root).join("index"),
                Self::meta(root).join("staging"),
            ],
            // The staging folder of an object store's lake is made by the ingest that
            // stages (`Txn`), and goes when it is done (`finish_staging`): one made
            // here stayed behind after an ingest that found nothing new.
            Kind::Remote { .. } => Vec::new(),
        };
        for d in dirs {
            fs::create_dir_all(&d).map_err(io_at(&d))?;
        }
        Ok(())
    }

    /// Whether anything of a lake is here.
    pub fn exists(&self) -> Result<bool> {
        match &self.kind {
            Kind::Local(root) => Ok(root.is_dir()
                && (Self::meta(root).is_dir()
                    || crate::contract::TABLES
                        .iter()
                        .any(|t| root.join(t.name).is_dir()))),
            Kind::Remote { store, .. } => {
                let prefix = self.loc.object_path("")?;
                crate::runtime::block_on(async {
                    let mut list = store.list(Some(&prefix));
                    list.try_next().await.map(|o| o.is_some())
                })?
                .map_err(|e| remote_err(&self.loc, "", e))
            }
        }
    }

    /// Names of the objects or files under lake folder `rel` (not recursive for disks).
    fn list(&self, rel: &str) -> Result<Vec<String>> {
        match &self.kind {
            Kind::Local(root) => {
                let dir = root.join(rel);
                match fs::read_dir(&dir) {
                    Ok(entries) => Ok(entries
                        .flatten()
                        .map(|e| e.file_name().to_string_lossy().into_owned())
                        .collect()),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
                    Err(e) => Err(io_at(&dir)(e)),
                }
            }
            Kind::Remote { store, .. } => {
                let prefix = self.loc.object_path(rel)?;
                let metas: Vec<object_store::ObjectMeta> =
                    crate::runtime::block_on(store.list(Some(&prefix)).try_collect::<Vec<_>>())?
                        .map_err(|e| remote_err(&self.loc, rel, e))?;
                Ok(metas
                    .into_iter()
                    .filter_map(|m| m.location.filename().map(str::to_string))
                    .collect())
            }
        }
    }

    fn read(&self, rel: &str) -> Result<Vec<u8>> {
        match &self.kind {
            Kind::Local(root) => {
                let p = root.join(rel);
                fs::read(&p).map_err(io_at(&p))
            }
            Kind::Remote { store, .. } => {
                let path = self.loc.object_path(rel)?;
                crate::runtime::block_on(async {
                    let r = store.get(&path).await?;
                    r.bytes().await
                })?
                .map(|b| b.to_vec())
                .map_err(|e| remote_err(&self.loc, rel, e))
            }
        }
    }

    /// The log folder in one listing: the numbers of the ingest records (in order)
    /// and of the ingests whose every table holds their files (the done markers).
    pub fn log_listing(&self) -> Result<LogListing> {
        let names = self.list("_opintel/log")?;
        let mut records: Vec<u64> = names.iter().filter_map(|n| txn_of(n, ".json")).collect();
        records.sort_unstable();
        let done = names.iter().filter_map(|n| txn_of(n, ".done")).collect();
        Ok(LogListing { records, done })
    }

    /// The numbers of the ingest records, in order.
    pub fn record_numbers(&self) -> Result<Vec<u64>> {
        Ok(self.log_listing()?.records)
    }

    /// The bytes of ingest record `n`.
    pub fn record(&self, n: u64) -> Result<Vec<u8>> {
        self.read(&format!("_opintel/log/{n:08}.json"))
    }

    /// The next ingest number after those of `listing` and of the staging folders
    /// (call with the lake's lock held).
    pub fn next_txn(&self, listing: &LogListing) -> u64 {
        let logged = listing.records.iter().chain(&listing.done).max();
        let mut next = logged.map_or(1, |n| n + 1);
        if let Kind::Local(root) = &self.kind
            && let Ok(entries) = fs::read_dir(Self::meta(root).join("staging"))
        {
            for e in entries.flatten() {
                if let Some(n) = txn_of(&e.file_name().to_string_lossy(), "") {
                    next = next.max(n + 1);
                }
            }
        }
        next
    }

    /// Where ingest `n` stages its files.
    pub fn staging_dir(&self, n: u64) -> PathBuf {
        match &self.kind {
            Kind::Local(root) => Self::meta(root).join("staging").join(txn_name(n, "")),
            Kind::Remote { staging, .. } => staging.join(txn_name(n, "")),
        }
    }

    /// Make staged file `rel` of ingest `n` reachable before its record is written: on
    /// an object store, upload it to its final path (on a disk it moves after).
    pub fn upload(&self, n: u64, rel: &str) -> Result<()> {
        let Kind::Remote { store, .. } = &self.kind else {
            return Ok(());
        };
        let local = self.staging_dir(n).join(rel);
        let path = self.loc.object_path(rel)?;
        crate::fault::point("lake.upload");
        crate::runtime::block_on(async {
            let mut file = tokio::fs::File::open(&local).await?;
            let mut w = object_store::buffered::BufWriter::new(Arc::clone(store), path);
            tokio::io::copy(&mut file, &mut w).await?;
            tokio::io::AsyncWriteExt::shutdown(&mut w).await?;
            Ok::<_, std::io::Error>(())
        })?
        .map_err(|e| remote_err(&self.loc, rel, e))
    }

    /// Write ingest `n`'s record: the commit point (atomic: a rename on a disk, a
    /// put-if-absent on an object store).
    pub fn write_record(&self, n: u64, bytes: &[u8]) -> Result<()> {
        match &self.kind {
            Kind::Local(root) => {
                let dir = Self::meta(root).join("log");
                let tmp = dir.join(format!("{}.tmp", txn_name(n, ".json")));
                let dst = dir.join(txn_name(n, ".json"));
                {
                    let mut f = File::create(&tmp).map_err(io_at(&tmp))?;
                    f.write_all(bytes)
                        .and_then(|_| f.sync_all())
                        .map_err(io_at(&tmp))?;
                }
                crate::fault::point("lake.commit.before_log_rename");
                fs::rename(&tmp, &dst).map_err(io_at(&dst))?;
                if let Ok(d) = File::open(&dir) {
                    let _ = d.sync_all();
                }
                Ok(())
            }
            Kind::Remote { store, .. } => {
                let rel = format!("_opintel/log/{}", txn_name(n, ".json"));
                let path = self.loc.object_path(&rel)?;
                crate::fault::point("lake.commit.before_log_rename");
                let opts = PutOptions {
                    mode: PutMode::Create,
                    ..Default::default()
                };
                crate::runtime::block_on(store.put_opts(
                    &path,
                    PutPayload::from(bytes.to_vec()),
                    opts,
                ))?
                .map(|_| ())
                .map_err(|e| remote_err(&self.loc, &rel, e))
            }
        }
    }

    /// Record that every table holds ingest `n`.
    pub fn mark_done(&self, n: u64) -> Result<()> {
        let rel = format!("_opintel/log/{}", txn_name(n, ".done"));
        match &self.kind {
            Kind::Local(root) => {
                let p = root.join(&rel);
                fs::write(&p, b"").map_err(io_at(&p))
            }
            Kind::Remote { store, .. } => {
                let path = self.loc.object_path(&rel)?;
                crate::runtime::block_on(store.put(&path, PutPayload::from_static(b"")))?
                    .map(|_| ())
                    .map_err(|e| remote_err(&self.loc, &rel, e))
            }
        }
    }

    /// After the record: move staged file `rel` of ingest `n` into place on a disk
    /// (a file already moved is skipped). Nothing to do on an object store.
    pub fn place(&self, n: u64, rel: &str) -> Result<bool> {
        let Kind::Local(root) = &self.kind else {
            return Ok(false);
        };
        let src = self.staging_dir(n).join(rel);
        if !src.exists() {
            return Ok(false);
        }
        let dst = root.join(rel);
        if let Some(dir) = dst.parent() {
            fs::create_dir_all(dir).map_err(io_at(dir))?;
        }
        fs::rename(&src, &dst).map_err(io_at(&dst))?;
        Ok(true)
    }

    /// Delete lake file `rel` (missing is fine).
    pub fn delete(&self, rel: &str) -> Result<()> {
        match &self.kind {
            Kind::Local(root) => match fs::remove_file(root.join(rel)) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io_at(root.join(rel))(e)),
                _ => Ok(()),
            },
            Kind::Remote { store, .. } => {
                let path = self.loc.object_path(rel)?;
                match crate::runtime::block_on(store.delete(&path))? {
                    Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                    Err(e) => Err(remote_err(&self.loc, rel, e)),
                }
            }
        }
    }

    /// A local path with the contents of lake file `rel`: the file itself on a disk;
    /// a download into `scratch` from an object store.
    pub fn fetch(&self, rel: &str, scratch: &Path) -> Result<PathBuf> {
        match &self.kind {
            Kind::Local(root) => Ok(root.join(rel)),
            Kind::Remote { .. } => {
                let local = scratch.join("fetched").join(rel);
                if let Some(dir) = local.parent() {
                    fs::create_dir_all(dir).map_err(io_at(dir))?;
                }
                let bytes = self.read(rel)?;
                fs::write(&local, bytes).map_err(io_at(&local))?;
                Ok(local)
            }
        }
    }

    /// Remove staging folders no record refers to (an ingest killed before its
    /// commit) and those of committed ingests (call after every committed ingest was
    /// finished: their files are in place), and on an object store every local
    /// staging folder of this lake.
    pub fn drop_stale_staging(&self, committed: &BTreeSet<u64>) -> Result<()> {
        match &self.kind {
            Kind::Local(root) => {
                let dir = Self::meta(root).join("staging");
                if let Ok(entries) = fs::read_dir(&dir) {
                    for e in entries.flatten() {
                        let name = e.file_name().to_string_lossy().into_owned();
                        match txn_of(&name, "") {
                            // Committed and rolled forward (the caller finished
                            // every committed ingest first): a process killed
                            // between its done marker and this removal left it.
                            Some(n) if committed.contains(&n) => {
                                fs::remove_dir_all(e.path()).map_err(io_at(e.path()))?;
                            }
                            Some(n) => {
                                tracing::warn!(
                                    txn = n,
                                    "discarding an ingest interrupted before its commit"
                                );
                                fs::remove_dir_all(e.path()).map_err(io_at(e.path()))?;
                            }
                            None => {}
                        }
                    }
                }
                // Temporary records never renamed into place.
                if let Ok(entries) = fs::read_dir(Self::meta(root).join("log")) {
                    for e in entries.flatten() {
                        if e.file_name().to_string_lossy().ends_with(".tmp") {
                            let _ = fs::remove_file(e.path());
                        }
                    }
                }
                Ok(())
            }
            Kind::Remote { staging, .. } => {
                if let Ok(entries) = fs::read_dir(staging) {
                    for e in entries.flatten() {
                        let _ = fs::remove_dir_all(e.path());
                    }
                }
                let _ = fs::remove_dir(staging);
                Ok(())
            }
        }
    }

    /// Remove ingest `n`'s staging folder (its files are in place), and for an object
    /// store the lake's local staging folder too when nothing else is in it: a
    /// machine that ingests into many lakes (or a test suite, each S3 server on its
    /// own port) would otherwise keep an empty folder in the temporary directory per
    /// lake URL. Removing only an empty folder cannot touch another ingest's files,
    /// and one that stages next creates it again.
    pub fn finish_staging(&self, n: u64) -> Result<()> {
        let dir = self.staging_dir(n);
        match fs::remove_dir_all(&dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io_at(&dir)(e)),
            _ => {}
        }
        if let Kind::Remote { staging, .. } = &self.kind {
            let _ = fs::remove_dir(staging);
        }
        Ok(())
    }
}
