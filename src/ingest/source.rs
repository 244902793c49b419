//! Finding export files and opening them: folders are walked, each file's table,
//! format and compression are worked out from its name (and its first bytes, which
//! win over a misleading extension), and a reader is opened that decompresses on the fly.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use xxhash_rust::xxh3::Xxh3;

use crate::config::{Config, SourceMapping, parse_delimiter};
use crate::contract::{TableSpec, table, table_for_file_name};
use crate::error::{Error, Result, io_at};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    Csv,
    Ndjson,
    Parquet,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Compression {
    None,
    Gzip,
    Zstd,
}

impl Format {
    pub fn label(self, c: Compression) -> String {
        let f = match self {
            Format::Csv => "csv",
            Format::Ndjson => "ndjson",
            Format::Parquet => "parquet",
        };
        match c {
            Compression::None => f.to_string(),
            Compression::Gzip => format!("{f}.gz"),
            Compression::Zstd => format!("{f}.zst"),
        }
    }
}

/// An export file and how to read it.
#[derive(Debug, Clone)]
pub struct SourceFile {
    pub path: PathBuf,
    pub table: &'static TableSpec,
    pub mapping: Option<SourceMapping>,
    pub(crate) format: Format,
    pub(crate) compression: Compression,
    pub delimiter: u8,
    pub size: u64,
}

impl SourceFile {
    /// Whether the file is gzip or zstd compressed.
    pub fn is_compressed(&self) -> bool {
        self.compression != Compression::None
    }
}

/// Every file under `paths` (files as given, folders walked recursively, hidden
/// entries skipped), sorted by path so that ingest order is reproducible.
pub(crate) fn discover(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in paths {
        let meta = std::fs::metadata(p).map_err(|e| {
            Error::input(
                p,
                match e.kind() {
                    io::ErrorKind::NotFound => "no such file or folder".to_string(),
                    _ => e.to_string(),
                },
            )
        })?;
        if meta.is_dir() {
            walk(p, &mut out)?;
        } else {
            out.push(p.clone());
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let entries = std::fs::read_dir(dir).map_err(io_at(dir))?;
    for e in entries {
        let e = e.map_err(io_at(dir))?;
        if e.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        let path = e.path();
        let ft = e.file_type().map_err(io_at(&path))?;
        if ft.is_dir() {
            walk(&path, out)?;
        } else if ft.is_file() || ft.is_symlink() {
            out.push(path);
        }
    }
    Ok(())
}

/// Format and compression from a file name; `None` when the name is not an export.
pub(crate) fn kind_from_name(name: &str) -> Option<(Format, Compression)> {
    let lower = name.to_ascii_lowercase();
    let (stem, compression) = if let Some(s) = lower
        .strip_suffix(".gz")
        .or_else(|| lower.strip_suffix(".gzip"))
    {
        (s, Compression::Gzip)
    } else if let Some(s) = lower
        .strip_suffix(".zst")
        .or_else(|| lower.strip_suffix(".zstd"))
    {
        (s, Compression::Zstd)
    } else {
        (lower.as_str(), Compression::None)
    };
    let ext = stem.rsplit_once('.')?.1;
    let format = match ext {
        "csv" | "tsv" | "txt" => Format::Csv,
        "ndjson" | "jsonl" | "json" => Format::Ndjson,
        "parquet" | "pq" => Format::Parquet,
        _ => return None,
    };
    Some((format, compression))
}

/// Work out how to read `path`. `Ok(None)`: not an export (ignored); `Err`: an
/// export that cannot be read, with the reason.
pub(crate) fn classify(path: &Path, config: &Config) -> Result<Option<SourceFile>, String> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mapping = config.mapping_for(&name).cloned();
    let Some((mut format, mut compression)) = kind_from_name(&name) else {
        return Ok(None);
    };
    let table = match mapping.as_ref().and_then(|m| m.table.as_deref()) {
        Some(t) => table(t).ok_or_else(|| format!("mapping names unknown table {t:?}"))?,
        None => table_for_file_name(&name).ok_or_else(|| {
            format!(
                "cannot tell which table {name:?} belongs to: its name must start with a table \
                 name ({}) or a [[sources]] mapping must match it",
                crate::contract::TABLES
                    .iter()
                    .map(|t| t.name)
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })?,
    };
    let mut file = File::open(path).map_err(|e| format!("cannot open: {e}"))?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let mut magic = [0u8; 4];
    let n = read_up_to(&mut file, &mut magic).map_err(|e| format!("cannot read: {e}"))?;
    match &magic[..n] {
        [0x1f, 0x8b, ..] => compression = Compression::Gzip,
        [0x28, 0xb5, 0x2f, 0xfd] => compression = Compression::Zstd,
        b"PAR1" => {
            format = Format::Parquet;
            compression = Compression::None;
        }
        _ if compression != Compression::None && n > 0 => {
            return Err(format!(
                "the name says {} but the content is not compressed that way",
                if compression == Compression::Gzip {
                    "gzip"
                } else {
                    "zstd"
                }
            ));
        }
        _ => {}
    }
    if format == Format::Parquet && compression != Compression::None {
        return Err("compressed Parquet files are not supported; Parquet compresses itself".into());
    }
    let default_delimiter = if name.to_ascii_lowercase().contains(".tsv") {
        b'\t'
    } else {
        parse_delimiter(&config.ingest.delimiter, "delimiter").unwrap_or(b',')
    };
    let delimiter = mapping
        .as_ref()
        .and_then(|m| m.delimiter_byte())
        .unwrap_or(default_delimiter);
    Ok(Some(SourceFile {
        path: path.to_path_buf(),
        table,
        mapping,
        format,
        compression,
        delimiter,
        size,
    }))
}

fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// Counts compressed bytes read, for the progress bar.
struct Counted<R> {
    inner: R,
    bar: crate::progress::Shared,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bar.advance(n as u64);
        Ok(n)
    }
}

/// A decompressing reader over the file's bytes.
pub(crate) fn open_text(
    src: &SourceFile,
    bar: &crate::progress::Shared,
) -> io::Result<Box<dyn Read + Send>> {
    let file = File::open(&src.path)?;
    let counted = Counted {
        inner: io::BufReader::with_capacity(1 << 20, file),
        bar: bar.clone(),
    };
    Ok(match src.compression {
        Compression::None => Box::new(counted),
        Compression::Gzip => Box::new(Decompressing::spawn(flate2::read::MultiGzDecoder::new(
            counted,
        ))?),
        Compression::Zstd => Box::new(Decompressing::spawn(zstd::stream::read::Decoder::new(
            counted,
        )?)?),
    })
}

/// A decompressor on its own thread, a few chunks ahead of the reader: one big
/// gzip or zstd file is then decompressed on one core while it is parsed on another.
/// At most [`AHEAD`] chunks of [`CHUNK`] bytes wait, so memory does not grow with the
/// file. Dropping the reader stops the thread at its next chunk.
struct Decompressing {
    chunks: std::sync::mpsc::Receiver<io::Result<Vec<u8>>>,
    current: Vec<u8>,
    pos: usize,
}

const CHUNK: usize = 1 << 20;
const AHEAD: usize = 4;

impl Decompressing {
    fn spawn(mut inner: impl Read + Send + 'static) -> io::Result<Decompressing> {
        let (tx, rx) = std::sync::mpsc::sync_channel(AHEAD);
        std::thread::Builder::new()
            .name("decompress".into())
            .spawn(move || {
                loop {
                    // `read_to_end` fills the chunk across the decoder's short reads and
                    // keeps the bytes read before an error.
                    let mut chunk = Vec::with_capacity(CHUNK);
                    let result = (&mut inner).take(CHUNK as u64).read_to_end(&mut chunk);
                    let done = chunk.len() < CHUNK || result.is_err();
                    let sent = match result {
                        // The bytes before an error are delivered first.
                        Err(e) if !chunk.is_empty() => {
                            tx.send(Ok(chunk)).and_then(|()| tx.send(Err(e)))
                        }
                        Err(e) => tx.send(Err(e)),
                        Ok(_) if !chunk.is_empty() => tx.send(Ok(chunk)),
                        Ok(_) => Ok(()),
                    };
                    if done || sent.is_err() {
                        return;
                    }
                }
            })?;
        Ok(Decompressing {
            chunks: rx,
            current: Vec::new(),
            pos: 0,
        })
    }
}

impl Read for Decompressing {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.current.len() {
            match self.chunks.recv() {
                Ok(chunk) => {
                    self.current = chunk?;
                    self.pos = 0;
                }
                // The thread has ended: the stream is over.
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len() - self.pos);
        buf[..n].copy_from_slice(&self.current[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// xxh3-128 of the file's bytes, as hex: how a re-sent file is recognised.
pub(crate) fn content_hash(path: &Path) -> io::Result<String> {
    let mut file = File::open(path)?;
    let mut hasher = Xxh3::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(format!("{:032x}", hasher.digest128()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_to_kinds() {
        assert_eq!(
            kind_from_name("a.csv"),
            Some((Format::Csv, Compression::None))
        );
        assert_eq!(
            kind_from_name("a.CSV.GZ"),
            Some((Format::Csv, Compression::Gzip))
        );
        assert_eq!(
            kind_from_name("a-2026.ndjson.zst"),
            Some((Format::Ndjson, Compression::Zstd))
        );
        assert_eq!(
            kind_from_name("a.jsonl"),
            Some((Format::Ndjson, Compression::None))
        );
        assert_eq!(
            kind_from_name("a.parquet"),
            Some((Format::Parquet, Compression::None))
        );
        assert_eq!(kind_from_name("README.md"), None);
        assert_eq!(kind_from_name("opintel.toml"), None);
        assert_eq!(kind_from_name("csv"), None);
    }
}
