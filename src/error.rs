//! The library's error type. Every fallible function in `opintel` returns [`Result`];
//! each variant carries what a person needs to act on it (the file, the config key,
//! the table, the query), and the binary maps a variant to a one-line message and an
//! exit code. Problems with a single input file or row are *not* errors of the run:
//! they are recorded in the ingest report and the run goes on (see `ingest`).

use std::path::PathBuf;

/// Everything that can stop an opintel command.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The config file cannot be read or parsed.
    #[error("{}: {message}", file.display())]
    ConfigFile { file: PathBuf, message: String },
    /// A setting (config key or command-line flag) has a value that cannot work.
    #[error("{key}: {message}")]
    Setting { key: String, message: String },
    /// An input (a path, a lake, a report folder, a truth file) cannot be used at all.
    /// Not a single bad row: those are rejects.
    #[error("{}: {message}", path.display())]
    Input { path: PathBuf, message: String },
    /// Another process holds the lake.
    #[error("the lake is locked by another run: {holder}")]
    Locked { holder: String },
    /// A query cannot be planned or run: a mistake in its SQL, or a refused statement.
    #[error("query {name}: {message}")]
    Query { name: String, message: String },
    /// A query failed on a Ballista cluster: the run stops and publishes nothing.
    #[error("the cluster at {scheduler} could not run {name}: {message}")]
    Cluster {
        scheduler: String,
        name: String,
        message: String,
    },
    /// The lake's own records are damaged (not the user's input).
    #[error("lake {}: {message}", path.display())]
    Lake { path: PathBuf, message: String },
    /// A chart could not be drawn.
    #[error("chart {name}: {message}")]
    Chart { name: String, message: String },
    /// The report template could not be rendered (a bug: the template is built in).
    #[error("report template: {0}")]
    Template(#[from] minijinja::Error),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The async runtime could not start (threads, file descriptors).
    #[error("cannot start the query runtime: {0}")]
    Runtime(#[source] std::io::Error),
    #[error(transparent)]
    Arrow(#[from] datafusion::arrow::error::ArrowError),
    #[error(transparent)]
    Parquet(#[from] datafusion::parquet::errors::ParquetError),
    #[error(transparent)]
    DataFusion(#[from] datafusion::error::DataFusionError),
    #[error(transparent)]
    Json(#[from] serde_json::Error),
}

impl Error {
    /// A bad value of setting `key`.
    pub fn setting(key: impl Into<String>, message: impl Into<String>) -> Error {
        Error::Setting {
            key: key.into(),
            message: message.into(),
        }
    }

    /// An unusable input at `path`.
    pub fn input(path: impl Into<PathBuf>, message: impl Into<String>) -> Error {
        Error::Input {
            path: path.into(),
            message: message.into(),
        }
    }

    /// A failed query `name`.
    pub fn query(name: impl Into<String>, message: impl std::fmt::Display) -> Error {
        Error::Query {
            name: name.into(),
            message: message.to_string(),
        }
    }

    /// Whether the disk filled up somewhere below this error.
    pub fn is_disk_full(&self) -> bool {
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(self);
        while let Some(s) = source {
            if s.downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::StorageFull)
            {
                return true;
            }
            source = s.source();
        }
        matches!(self, Error::Io { source, .. } if source.kind() == std::io::ErrorKind::StorageFull)
    }
}

/// `Result` with the library's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Attach a path to an io error: `fs::read(&p).map_err(io_at(&p))`.
pub fn io_at(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
    let path = path.into();
    move |source| Error::Io { path, source }
}
