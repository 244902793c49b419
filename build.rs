//! Embeds every `queries/*.sql` (and `queries/checks/*.sql`, `queries/report/*.sql`) into the binary, so that
//! adding a built-in KPI is adding one file.

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut out = String::new();
    for (list, dir) in [
        ("BUILTIN_QUERIES", "queries"),
        ("BUILTIN_CHECKS", "queries/checks"),
        ("BUILTIN_REPORT", "queries/report"),
    ] {
        let dir = root.join(dir);
        println!("cargo:rerun-if-changed={}", dir.display());
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        files.retain(|p| p.extension().is_some_and(|x| x == "sql"));
        files.sort();
        let _ = writeln!(out, "pub(crate) static {list}: &[(&str, &str)] = &[");
        for f in files {
            let name = f
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            println!("cargo:rerun-if-changed={}", f.display());
            let _ = writeln!(
                out,
                "    ({name:?}, include_str!({:?})),",
                f.display().to_string()
            );
        }
        let _ = writeln!(out, "];");
    }
    let dest = Path::new(&std::env::var("OUT_DIR").unwrap_or_default()).join("builtin_queries.rs");
    std::fs::write(dest, out).unwrap_or_else(|e| panic!("cannot write builtin_queries.rs: {e}"));
}
