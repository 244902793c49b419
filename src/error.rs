//! The library's error type. Every fallible function in `opintel` returns
//! [`Result`]; the binary maps an [`Error`] to a one-line message and an exit code.
//! Problems with a single input file are *not* errors of the run: they are recorded
//! in the manifest and the run goes on (see `ingest`).

use std::path::PathBuf;

/// Everything that can stop an opintel command.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration file or a flag is wrong.
    #[error("config: {0}")]
    Config(String),
    /// Input data cannot be used at all (not a single bad row: those are rejects).
    #[error("data: {0}")]
    Data(String),
    /// Another process holds the lake.
    #[error("lake is locked: {0}")]
    Locked(String),
    /// A KPI query failed.
    #[error("query {name}: {message}")]
    Query { name: String, message: String },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    PlainIo(#[from] std::io::Error),
    #[error(transparent)]
    Arrow(#[from] datafusion::arrow::error::ArrowError),
    #[error(transparent)]
    Parquet(#[from] datafusion::parquet::errors::ParquetError),
    #[error(transparent)]
    DataFusion(#[from] datafusion::error::DataFusionError),
    #[error(transparent)]
    Json(#[from] serde_json::Error),
}

/// `Result` with the library's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Attach a path to an io error: `fs::read(&p).map_err(io_at(&p))`.
pub fn io_at(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
    let path = path.into();
    move |source| Error::Io { path, source }
}
