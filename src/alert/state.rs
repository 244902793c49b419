//! What has been delivered: `<reports>/.alerts-sent.json`, one key per (as-of date,
//! rule or digest, destination), replaced by an atomic rename after each delivery so a
//! run killed mid-way never loses a record of what it sent.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result, io_at};

const FILE: &str = ".alerts-sent.json";

#[derive(Debug, Default)]
pub struct Sent {
    keys: BTreeSet<String>,
}

pub fn key(as_of: &str, what: &str, destination: &str) -> String {
    format!("{as_of}\u{1f}{what}\u{1f}{destination}")
}

fn path(reports: &Path) -> PathBuf {
    reports.join(FILE)
}

impl Sent {
    pub fn load(reports: &Path) -> Result<Sent> {
        let p = path(reports);
        match std::fs::read_to_string(&p) {
            Ok(text) => {
                let keys: BTreeSet<String> = serde_json::from_str(&text).map_err(|e| {
                    Error::input(
                        &p,
                        format!("not a record of sent alerts ({e}); delete it to start again"),
                    )
                })?;
                Ok(Sent { keys })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Sent::default()),
            Err(e) => Err(io_at(&p)(e)),
        }
    }

    pub fn contains(&self, key: &str) -> bool {
        self.keys.contains(key)
    }

    pub fn insert(&mut self, key: String) {
        self.keys.insert(key);
    }

    pub fn save(&self, reports: &Path) -> Result<()> {
        std::fs::create_dir_all(reports).map_err(io_at(reports))?;
        let p = path(reports);
        let tmp = reports.join(format!("{FILE}.tmp-{}", std::process::id()));
        let text = serde_json::to_string_pretty(&self.keys)? + "\n";
        std::fs::write(&tmp, text).map_err(io_at(&tmp))?;
        std::fs::rename(&tmp, &p).map_err(io_at(&p))
    }
}
