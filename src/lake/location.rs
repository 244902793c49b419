//! Where a lake lives: a local folder, or a prefix of an S3-compatible object store
//! (`s3://bucket/prefix`). Credentials and the endpoint come from the standard AWS
//! environment variables (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`,
//! `AWS_ENDPOINT_URL`, `AWS_ALLOW_HTTP`, …) and from `[lake.storage]` in the config,
//! which wins. Paths inside the lake are `/`-separated and relative to its root.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, Once};

use object_store::ObjectStore;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use url::Url;

use crate::config::LakeConfig;
use crate::error::{Error, Result};

/// A lake's root.
#[derive(Debug, Clone)]
pub struct Location {
    kind: Kind,
    options: BTreeMap<String, String>,
    /// The Delta tables read or written through this location and its clones.
    opened: super::delta::Opened,
}

#[derive(Debug, Clone)]
enum Kind {
    Local(PathBuf),
    /// `s3://bucket/prefix/` (always with the trailing slash).
    S3(Url),
}

impl Location {
    pub fn new(config: &LakeConfig) -> Result<Location> {
        let text = config.root.to_string_lossy();
        let kind = if config.is_url() {
            let mut url = Url::parse(&text)
                .map_err(|e| Error::setting("lake", format!("{text:?} is not a URL: {e}")))?;
            if url.scheme() != "s3" && url.scheme() != "s3a" {
                return Err(Error::setting(
                    "lake",
                    format!(
                        "{text:?}: only local folders and s3:// URLs (S3 and S3-compatible stores) are supported"
                    ),
                ));
            }
            if url.host_str().is_none_or(str::is_empty) {
                return Err(Error::setting("lake", format!("{text:?} names no bucket")));
            }
            if !url.path().ends_with('/') {
                let p = format!("{}/", url.path());
                url.set_path(&p);
            }
            Kind::S3(url)
        } else {
            Kind::Local(config.root.clone())
        };
        Ok(Location {
            kind,
            options: config.storage.clone(),
            opened: Default::default(),
        })
    }

    /// A local folder.
    pub fn local(root: impl Into<PathBuf>) -> Location {
        Location {
            kind: Kind::Local(root.into()),
            options: BTreeMap::new(),
            opened: Default::default(),
        }
    }

    /// The folder, for a local lake.
    pub fn local_root(&self) -> Option<&Path> {
        match &self.kind {
            Kind::Local(p) => Some(p),
            Kind::S3(_) => None,
        }
    }

    pub fn is_local(&self) -> bool {
        self.local_root().is_some()
    }

    /// The root as people write it.
    pub fn display(&self) -> String {
        match &self.kind {
            Kind::Local(p) => p.display().to_string(),
            Kind::S3(u) => u.as_str().trim_end_matches('/').to_string(),
        }
    }

    /// The URL of `rel` (a folder inside the lake), with a trailing slash.
    pub fn url_of(&self, rel: &str) -> Result<Url> {
        let rel = rel.trim_matches('/');
        match &self.kind {
            Kind::Local(p) => {
                let abs = std::path::absolute(p.join(rel)).map_err(crate::error::io_at(p))?;
                let mut s = Url::from_directory_path(&abs)
                    .map_err(|_| Error::input(&abs, "cannot be written as a file:// URL"))?
                    .to_string();
                if !s.ends_with('/') {
                    s.push('/');
                }
                Url::parse(&s).map_err(|e| Error::input(&abs, e.to_string()))
            }
            Kind::S3(u) => u
                .join(&format!("{rel}/"))
                .map_err(|e| Error::setting("lake", format!("{rel}: {e}"))),
        }
    }

    /// The URL of the store's root (`file:///` or `s3://bucket/`), as DataFusion
    /// registers object stores.
    pub fn store_url(&self) -> Url {
        match &self.kind {
            Kind::Local(_) => Url::parse("file:///").unwrap_or_else(|_| self.fallback_url()),
            Kind::S3(u) => {
                let mut root = u.clone();
                root.set_path("/");
                root
            }
        }
    }

    fn fallback_url(&self) -> Url {
        Url::parse("file:///").unwrap_or_else(|e| panic!("file:/// is a URL: {e}"))
    }

    /// The path of `rel` inside the store that [`Location::store`] returns.
    pub fn object_path(&self, rel: &str) -> Result<ObjectPath> {
        let rel = rel.trim_matches('/');
        match &self.kind {
            Kind::Local(p) => {
                let abs = std::path::absolute(p.join(rel)).map_err(crate::error::io_at(p))?;
                ObjectPath::from_absolute_path(&abs).map_err(|e| Error::input(&abs, e.to_string()))
            }
            Kind::S3(u) => {
                let prefix = u.path().trim_matches('/');
                let full = if prefix.is_empty() {
                    rel.to_string()
                } else if rel.is_empty() {
                    prefix.to_string()
                } else {
                    format!("{prefix}/{rel}")
                };
                ObjectPath::parse(&full).map_err(|e| Error::setting("lake", e.to_string()))
            }
        }
    }

    /// An object store for the whole bucket (or the local file system).
    pub fn store(&self) -> Result<Arc<dyn ObjectStore>> {
        match &self.kind {
            Kind::Local(_) => Ok(Arc::new(LocalFileSystem::new())),
            Kind::S3(u) => Ok(Arc::new(s3_builder(u, &self.options)?.build().map_err(
                |e| Error::setting("lake", format!("cannot reach {}: {e}", self.display())),
            )?)),
        }
    }

    /// The Delta tables opened through this location (see [`super::delta::Opened`]).
    pub(super) fn opened(&self) -> &super::delta::Opened {
        &self.opened
    }

    /// Storage options for delta-rs (the config's; the environment applies too).
    pub fn delta_options(&self) -> HashMap<String, String> {
        self.options
            .iter()
            .map(|(k, v)| (k.to_ascii_uppercase(), v.clone()))
            .collect()
    }
}

fn s3_builder(url: &Url, options: &BTreeMap<String, String>) -> Result<AmazonS3Builder> {
    let mut root = url.clone();
    root.set_path("/");
    let mut b = AmazonS3Builder::from_env().with_url(root.as_str());
    for (k, v) in options {
        let key = AmazonS3ConfigKey::from_str(&k.to_ascii_lowercase()).map_err(|_| {
            Error::setting(
                format!("lake.storage.{k}"),
                "not an S3 setting (e.g. AWS_ENDPOINT_URL, AWS_REGION, AWS_ACCESS_KEY_ID, AWS_ALLOW_HTTP)",
            )
        })?;
        b = b.with_config(key, v);
    }
    Ok(b)
}

/// Teach delta-rs to open `s3://` tables with object_store's own S3 client: commits
/// are conditional puts (`If-None-Match`), so concurrent writers never overwrite each
/// other's log entries, without DynamoDB and without the AWS SDK.
pub(crate) fn register_delta_s3() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let factory = Arc::new(S3Factory);
        for scheme in ["s3://", "s3a://"] {
            if let Ok(u) = Url::parse(scheme) {
                deltalake::logstore::object_store_factories().insert(u.clone(), factory.clone());
                deltalake::logstore::logstore_factories().insert(u, factory.clone());
            }
        }
    });
}

struct S3Factory;

impl deltalake::logstore::ObjectStoreFactory for S3Factory {
    fn parse_url_opts(
        &self,
        url: &Url,
        config: &deltalake::logstore::StorageConfig,
    ) -> deltalake::DeltaResult<(deltalake::logstore::ObjectStoreRef, ObjectPath)> {
        let options: BTreeMap<String, String> = config
            .raw
            .iter()
            .filter(|(k, _)| AmazonS3ConfigKey::from_str(&k.to_ascii_lowercase()).is_ok())
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let store = s3_builder(url, &options)
            .and_then(|b| b.build().map_err(|e| Error::setting("lake", e.to_string())))
            .map_err(|e| deltalake::DeltaTableError::Generic(e.to_string()))?;
        let path = ObjectPath::parse(url.path())
            .map_err(|e| deltalake::DeltaTableError::Generic(e.to_string()))?;
        Ok((Arc::new(store), path))
    }
}

impl deltalake::logstore::LogStoreFactory for S3Factory {
    fn with_options(
        &self,
        prefixed_store: deltalake::logstore::ObjectStoreRef,
        root_store: deltalake::logstore::ObjectStoreRef,
        location: &Url,
        options: &deltalake::logstore::StorageConfig,
    ) -> deltalake::DeltaResult<Arc<dyn deltalake::logstore::LogStore>> {
        Ok(deltalake::logstore::default_logstore(
            prefixed_store,
            root_store,
            location,
            options,
        ))
    }
}
