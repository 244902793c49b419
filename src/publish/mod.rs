//! Publishing a report folder atomically: a run writes everything into a temporary
//! sibling folder, then swaps it into place in one step (Linux `renameat2` with
//! `RENAME_EXCHANGE`; elsewhere two renames), so a reader, or a run killed at any
//! instant, sees the previous complete report or the new complete one, never a mix.
//! The `latest` link beside the report folders moves last. The manifest (`manifest`)
//! is the record of what a run did, written last into the folder before it is published.

pub mod manifest;

use std::ffi::CString;
use std::fs;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result, io_at};

/// A report folder being written.
pub struct Staged {
    pub dir: PathBuf,
    target: PathBuf,
}

impl Staged {
    /// Prepare a temporary folder next to `target`.
    pub fn new(target: &Path) -> Result<Staged> {
        let parent = parent_of(target);
        fs::create_dir_all(&parent).map_err(io_at(&parent))?;
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| Error::input(target, "not a folder name"))?;
        // Leftovers of killed runs.
        if let Ok(entries) = fs::read_dir(&parent) {
            for e in entries.flatten() {
                let n = e.file_name().to_string_lossy().into_owned();
                if n.starts_with(&format!(".{name}.tmp-"))
                    || n.starts_with(&format!(".{name}.old-"))
                {
                    let _ = fs::remove_dir_all(e.path());
                }
            }
        }
        let dir = parent.join(format!(".{name}.tmp-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).map_err(io_at(&dir))?;
        Ok(Staged {
            dir,
            target: target.to_path_buf(),
        })
    }

    /// Swap the finished folder into place.
    pub fn publish(self) -> Result<PathBuf> {
        sync_tree(&self.dir);
        crate::fault::point("publish.before_swap");
        if self.target.exists() {
            if exchange(&self.dir, &self.target).is_err() {
                let old = parent_of(&self.target).join(format!(
                    ".{}.old-{}",
                    self.target
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                    std::process::id()
                ));
                fs::rename(&self.target, &old).map_err(io_at(&self.target))?;
                fs::rename(&self.dir, &self.target).map_err(io_at(&self.target))?;
                let _ = fs::remove_dir_all(&old);
            } else {
                // After the exchange the temporary name holds the previous report.
                let _ = fs::remove_dir_all(&self.dir);
            }
        } else {
            fs::rename(&self.dir, &self.target).map_err(io_at(&self.target))?;
        }
        Ok(self.target.clone())
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        // Only still there when publishing did not happen (an error).
        let _ = fs::remove_dir_all(&self.dir);
    }
}

fn parent_of(p: &Path) -> PathBuf {
    match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

#[cfg(target_os = "linux")]
fn exchange(a: &Path, b: &Path) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let ca = CString::new(a.as_os_str().as_bytes())?;
    let cb = CString::new(b.as_os_str().as_bytes())?;
    // SAFETY: both paths are valid NUL-terminated strings that outlive the call.
    let rc = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            ca.as_ptr(),
            libc::AT_FDCWD,
            cb.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(not(target_os = "linux"))]
fn exchange(_a: &Path, _b: &Path) -> std::io::Result<()> {
    let _ = CString::new("");
    Err(std::io::Error::other("not supported"))
}

/// Point `<parent>/latest` at `report` (a relative symlink, replaced atomically).
pub fn point_latest(report: &Path) -> Result<()> {
    let parent = parent_of(report);
    let Some(name) = report.file_name() else {
        return Ok(());
    };
    let tmp = parent.join(format!(".latest.tmp-{}", std::process::id()));
    let _ = fs::remove_file(&tmp);
    #[cfg(unix)]
    std::os::unix::fs::symlink(name, &tmp).map_err(io_at(&tmp))?;
    #[cfg(not(unix))]
    fs::write(&tmp, name.to_string_lossy().as_bytes()).map_err(io_at(&tmp))?;
    let latest = parent.join("latest");
    fs::rename(&tmp, &latest).map_err(io_at(&latest))?;
    Ok(())
}

fn sync_tree(dir: &Path) {
    if let Ok(entries) = fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                sync_tree(&p);
            } else if let Ok(f) = fs::File::open(&p) {
                let _ = f.sync_all();
            }
        }
    }
}
