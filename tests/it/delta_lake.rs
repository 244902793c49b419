//! The lake as Delta Lake tables: read by other tools (the `deltalake` package and
//! Polars) with the same rows and types; the same nightly run on a local S3-compatible
//! server (moto, started here on 127.0.0.1) as on a disk, killed at many points there
//! too; two ingests into one S3 lake at the same time; an old report reproduced after
//! newer data arrived; compaction and vacuum that change no answer; and a lake of the
//! older layout migrated.

use crate::common::*;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Two nights of a small generated operation: `night1` (the first 14 days) and all
/// of `gen/exports`.
fn nights(dir: &Path) {
    opintel_ok(
        dir,
        &[
            "generate", "--out", "gen", "--scale", "0.02", "--days", "21", "--seed", "9",
        ],
    );
    let days = export_days(dir);
    for d in &days[..14] {
        let to = dir.join("night1").join(d.file_name().expect("name"));
        std::fs::create_dir_all(&to).expect("mkdir");
        for f in std::fs::read_dir(d).expect("day").flatten() {
            std::fs::copy(f.path(), to.join(f.file_name())).expect("copy");
        }
    }
}

fn run_args<'a>(lake: &'a str, as_of: &'a str, out: &'a str, inputs: &[&'a str]) -> Vec<&'a str> {
    let mut a = vec![
        "--config",
        "gen/opintel.toml",
        "run",
        "--lake",
        lake,
        "--as-of",
        as_of,
        "--out",
        out,
    ];
    a.extend_from_slice(inputs);
    a
}

/// Every canonical table's rows (all columns but the ingest sequence), as sorted CSV
/// lines, read through `opintel sql` from whatever lake `lake` names.
fn lake_rows(dir: &Path, lake: &str, env: &[(&str, String)]) -> BTreeMap<String, Vec<String>> {
    let mut out = BTreeMap::new();
    for t in opintel::contract::TABLES {
        let cols: Vec<&str> = t.fields.iter().map(|f| f.name).collect();
        let sql = format!("SELECT {} FROM {}", cols.join(", "), t.name);
        let o = opintel_env_ok(dir, &["sql", "--lake", lake, "--format", "csv", &sql], env);
        let mut rows: Vec<String> = String::from_utf8_lossy(&o.stdout)
            .lines()
            .skip(1)
            .map(str::to_string)
            .collect();
        rows.sort();
        out.insert(t.name.to_string(), rows);
    }
    out
}

/// The Delta tables of a local lake read by the `deltalake` package and by Polars:
/// the same row counts as opintel reads, and the contract's types.
#[test]
fn other_tools_read_every_table_with_the_same_rows_and_types() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    nights(dir);
    opintel_ok(
        dir,
        &run_args("lake", "2026-11-20", "out", &["gen/exports"]),
    );
    let script = r#"
import json, sys
import deltalake, polars as pl
lake = sys.argv[1]
out = {}
for t in json.loads(sys.argv[2]):
    dt = deltalake.DeltaTable(f"{lake}/{t}")
    arrow = dt.to_pyarrow_table()
    pol = pl.scan_delta(f"{lake}/{t}").collect()
    out[t] = {"delta": arrow.num_rows, "polars": pol.height,
              "types": {f.name: str(f.type) for f in arrow.schema}}
print(json.dumps(out))
"#;
    let tables: Vec<String> = opintel::contract::TABLES
        .iter()
        .map(|t| t.name.to_string())
        .chain(["_rejects/shipments".to_string()])
        .collect();
    let text = python(
        dir,
        script,
        &["lake", &serde_json::to_string(&tables).expect("json")],
    );
    let got: serde_json::Value = serde_json::from_str(text.trim()).expect("json");
    for t in opintel::contract::TABLES {
        let o = opintel_ok(
            dir,
            &[
                "sql",
                "--lake",
                "lake",
                "--format",
                "csv",
                &format!("SELECT count(*) AS n FROM {}", t.name),
            ],
        );
        let ours: u64 = String::from_utf8_lossy(&o.stdout)
            .lines()
            .nth(1)
            .and_then(|l| l.trim().parse().ok())
            .expect("count");
        assert!(ours > 0, "{}: the fixture has rows", t.name);
        assert_eq!(
            got[t.name]["delta"].as_u64(),
            Some(ours),
            "{}: deltalake rows",
            t.name
        );
        assert_eq!(
            got[t.name]["polars"].as_u64(),
            Some(ours),
            "{}: polars rows",
            t.name
        );
        let types = &got[t.name]["types"];
        for f in t.fields {
            let want = match f.ty.label() {
                "str" => ["string", "large_string", "string_view"].as_slice(),
                "int" => ["int64"].as_slice(),
                "dec" => ["double"].as_slice(),
                "ts" => ["timestamp[us, tz=UTC]"].as_slice(),
                "bool" => ["bool"].as_slice(),
                other => panic!("type {other}"),
            };
            let have = types[f.name].as_str().unwrap_or("");
            assert!(want.contains(&have), "{}.{}: {have}", t.name, f.name);
        }
        assert_eq!(
            types["event_date"].as_str(),
            Some("date32[day]"),
            "{}",
            t.name
        );
    }
    assert!(
        got["_rejects/shipments"]["delta"].as_u64().unwrap_or(0) > 0,
        "rejects are a Delta table too"
    );
}

/// A temporary directory of the runs' own under `dir`, set in `env` (TMPDIR), to see
/// what they leave in it.
fn own_tmpdir(dir: &Path, env: &mut Vec<(&str, String)>) -> PathBuf {
    let tmpdir = dir.join("tmpdir");
    std::fs::create_dir_all(&tmpdir).expect("mkdir");
    env.push(("TMPDIR", tmpdir.to_string_lossy().into_owned()));
    tmpdir
}

/// Nothing is left in `tmpdir` (an object store lake's local staging included).
fn assert_nothing_left(tmpdir: &Path) {
    let left: Vec<String> = std::fs::read_dir(tmpdir)
        .expect("read tmpdir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(left.is_empty(), "left in the temporary directory: {left:?}");
}

/// The same nights on an S3 lake: every KPI table and every lake row equal the local
/// run's; re-sending the exports changes nothing.
#[test]
fn an_s3_lake_gives_the_same_answers_and_survives_kills() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    nights(dir);
    let s3 = S3Server::start("lake");
    let mut env = s3.env();
    let tmpdir = own_tmpdir(dir, &mut env);
    opintel_ok(
        dir,
        &run_args("local", "2026-11-20", "out-local", &["night1"]),
    );
    opintel_ok(
        dir,
        &run_args("local", "2026-11-20", "out-local", &["gen/exports"]),
    );
    let want = kpi_tables(&dir.join("out-local"));
    let want_rows = lake_rows(dir, "local", &[]);

    let url = s3.url("base");
    opintel_env_ok(
        dir,
        &run_args(&url, "2026-11-20", "out-s3", &["night1"]),
        &env,
    );
    opintel_env_ok(
        dir,
        &run_args(&url, "2026-11-20", "out-s3", &["gen/exports"]),
        &env,
    );
    assert_same_tables("s3 vs local", &kpi_tables(&dir.join("out-s3")), &want);
    assert_eq!(lake_rows(dir, &url, &env), want_rows, "s3 lake rows");
    // Again: nothing new.
    let o = opintel_env_ok(
        dir,
        &run_args(&url, "2026-11-20", "out-s3b", &["gen/exports"]),
        &env,
    );
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("nothing new"),
        "files recognised by hash"
    );
    assert_eq!(
        lake_rows(dir, &url, &env),
        want_rows,
        "s3 lake rows after a re-send"
    );

    // Killed at points of the commit protocol, then run again: the same lake and KPIs.
    for (i, fault) in [
        "lake.upload:5",
        "lake.commit.before_log_rename",
        "lake.commit.after_log_rename",
        "lake.delta.committed:2",
        "run.query:3",
    ]
    .iter()
    .enumerate()
    {
        let url = s3.url(&format!("kill{i}"));
        opintel_env_ok(
            dir,
            &run_args(&url, "2026-11-20", "out-k", &["night1"]),
            &env,
        );
        let mut env_fault = env.clone();
        env_fault.push(("OPINTEL_FAULT", fault.to_string()));
        let mut c = Command::new(env!("CARGO_BIN_EXE_opintel"));
        c.args(run_args(&url, "2026-11-20", "out-k", &["gen/exports"]))
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        for (k, v) in &env_fault {
            c.env(k, v);
        }
        let status = c.status().expect("run");
        assert!(
            status.code().is_none(),
            "{fault}: the fault did not fire ({status})"
        );
        opintel_env_ok(
            dir,
            &run_args(&url, "2026-11-20", "out-k", &["gen/exports"]),
            &env,
        );
        assert_same_tables(fault, &kpi_tables(&dir.join("out-k")), &want);
        assert_eq!(lake_rows(dir, &url, &env), want_rows, "{fault}: lake rows");
    }
    // Every ingest's local staging (the killed ones' too, once the next run recovered
    // them) is gone, folders included.
    assert_nothing_left(&tmpdir);
}

/// Two ingests into one S3 lake at the same time, of overlapping exports: both land
/// (the second waits for the first's lease), and every row is there exactly once.
#[test]
fn two_ingests_into_one_s3_lake_at_once_both_land_exactly_once() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    nights(dir);
    let s3 = S3Server::start("lake");
    let mut env = s3.env();
    // The ingest that waited may find nothing new.
    let tmpdir = own_tmpdir(dir, &mut env);
    let url = s3.url("shared");
    opintel_ok(
        dir,
        &[
            "--config",
            "gen/opintel.toml",
            "ingest",
            "--lake",
            "local",
            "gen/exports",
        ],
    );
    let want = lake_rows(dir, "local", &[]);
    let spawn = |what: &str| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_opintel"));
        c.args([
            "--config",
            "gen/opintel.toml",
            "ingest",
            "--wait",
            "300",
            "--lake",
            &url,
            what,
        ])
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        for (k, v) in &env {
            c.env(k, v);
        }
        c.spawn().expect("spawn")
    };
    let a = spawn("night1");
    let b = spawn("gen/exports");
    for (name, child) in [("night1", a), ("all", b)] {
        let o = child.wait_with_output().expect("wait");
        assert!(
            o.status.success(),
            "{name}: {}\n{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
    }
    assert_eq!(lake_rows(dir, &url, &env), want, "every row exactly once");
    assert_nothing_left(&tmpdir);
}

/// A report recomputed from its manifest after the next night arrived: the lake
/// tables at the versions it read give the same KPI tables.
#[test]
fn an_old_report_is_reproduced_after_newer_data_arrived() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    nights(dir);
    // As of night 1's last day: the late 3PL's rows of that day arrive with night 2.
    opintel_ok(dir, &run_args("lake", "2026-11-13", "first", &["night1"]));
    let first = kpi_tables(&dir.join("first"));
    let m = read_manifest(&dir.join("first"));
    assert!(
        m["lake_versions"]["shipments"].as_u64().is_some(),
        "the manifest records the versions read: {}",
        m["lake_versions"]
    );
    // The rest of the data arrives; a plain re-run as of the same date now differs.
    opintel_ok(
        dir,
        &[
            "--config",
            "gen/opintel.toml",
            "ingest",
            "--lake",
            "lake",
            "gen/exports",
        ],
    );
    opintel_ok(dir, &run_args("lake", "2026-11-13", "rerun", &[]));
    assert_ne!(
        kpi_tables(&dir.join("rerun")),
        first,
        "later data changes a plain re-run"
    );
    opintel_ok(
        dir,
        &[
            "--config",
            "gen/opintel.toml",
            "run",
            "--lake",
            "lake",
            "--reproduce",
            "first/manifest.json",
            "--out",
            "again",
        ],
    );
    assert_same_tables("reproduced", &kpi_tables(&dir.join("again")), &first);
}

/// Nightly ingests leave one file per (small) day, with the rows and KPIs of a lake
/// ingested without merging; optimize compacts that lake's nightly files; vacuum then
/// deletes the replaced ones; neither changes a KPI.
#[test]
fn optimize_and_vacuum_change_no_answer() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    nights(dir);
    // Ingest day by day, into `merged` as configured (each ingest merges a day's small
    // files with its rows for the day) and into `lake` with merging off: a file per
    // night and day in every table the exports bring late rows to.
    let plain = std::fs::read_to_string(dir.join("gen/opintel.toml")).expect("config")
        + "\n[ingest]\nmerge_day_rows = 0\n";
    std::fs::write(dir.join("gen/plain.toml"), plain).expect("write config");
    let days = export_days(dir);
    for d in &days {
        for (config, lake) in [("gen/plain.toml", "lake"), ("gen/opintel.toml", "merged")] {
            let d = d.to_str().expect("utf8");
            opintel_ok(dir, &["--config", config, "ingest", "--lake", lake, d]);
        }
    }
    // Per table: files, days, rows, and a digest of its rows (as the deltalake package
    // reads them, sorted).
    let layout = |lake: &str| -> BTreeMap<String, (usize, usize, String)> {
        let out = python(
            dir,
            r#"
import sys, os, hashlib, deltalake, pyarrow as pa
root = sys.argv[1]
for t in sorted(os.listdir(root)):
    if t.startswith("_") or not os.path.isdir(os.path.join(root, t, "_delta_log")):
        continue
    dt = deltalake.DeltaTable(os.path.join(root, t))
    acts = pa.table(dt.get_add_actions(flatten=True)).to_pylist()
    days = {str(a["partition.event_date"]) for a in acts}
    rows = sorted(repr(r) for r in pa.table(dt.to_pyarrow_dataset().to_table()).to_pylist())
    print(t, len(acts), len(days), len(rows), hashlib.sha256("\n".join(rows).encode()).hexdigest())
# The deltalake package's runtime can abort at interpreter exit: leave at once.
sys.stdout.flush()
os._exit(0)
"#,
            &[lake],
        );
        keyed_lines(&out)
            .into_iter()
            .filter_map(|(t, w)| {
                let n = |i: usize| w.get(i).and_then(|x| x.parse::<usize>().ok());
                Some((t, (n(0)?, n(1)?, format!("{}:{}", n(2)?, w.get(3)?))))
            })
            .collect()
    };
    let (unmerged, merged) = (layout("lake"), layout("merged"));
    assert!(merged.len() >= 9, "{merged:?}");
    assert!(merged.keys().eq(unmerged.keys()), "{merged:?} {unmerged:?}");
    for (t, (files, days, rows)) in &merged {
        assert_eq!(files, days, "{t}: one file per day when merged");
        assert_eq!(
            Some(rows),
            unmerged.get(t).map(|u| &u.2),
            "{t}: the same rows"
        );
    }
    let (files, days, _) = &unmerged["shipments"];
    assert!(
        files > days,
        "shipments without merging: {files} files, {days} days"
    );
    opintel_ok(dir, &run_args("lake", "2026-11-20", "before", &[]));
    let before = kpi_tables(&dir.join("before"));
    opintel_ok(dir, &run_args("merged", "2026-11-20", "merged", &[]));
    assert_same_tables("merged days", &kpi_tables(&dir.join("merged")), &before);
    let o = opintel_ok(dir, &["lake", "optimize", "--lake", "lake"]);
    let text = String::from_utf8_lossy(&o.stdout);
    // shipments: files → fewer files.
    let line = text
        .lines()
        .find(|l| l.starts_with("shipments "))
        .expect("shipments line");
    let nums: Vec<u64> = line
        .split_whitespace()
        .filter_map(|w| w.trim_matches(|c: char| !c.is_ascii_digit()).parse().ok())
        .collect();
    assert!(
        nums.len() >= 2 && nums[1] < nums[0],
        "optimize compacted shipments: {line}"
    );
    opintel_ok(dir, &run_args("lake", "2026-11-20", "after", &[]));
    assert_same_tables("after optimize", &kpi_tables(&dir.join("after")), &before);
    let o = opintel_ok(
        dir,
        &["lake", "vacuum", "--lake", "lake", "--retain-hours", "0"],
    );
    assert!(String::from_utf8_lossy(&o.stdout).contains("files deleted"));
    opintel_ok(dir, &run_args("lake", "2026-11-20", "vacuumed", &[]));
    assert_same_tables("after vacuum", &kpi_tables(&dir.join("vacuumed")), &before);
}

/// A lake of the older layout (plain Hive-partitioned Parquet with opintel's commit
/// log, no Delta log) becomes a Delta lake with the same rows and the same KPIs.
/// Each ingest deletes the state files a commit replaced once no version younger than
/// `[ingest] state_retain_hours` reads them. With 2 s of retention and the last night
/// ingested 3 s after the one before: each state folder holds exactly the files its
/// latest version reads plus those its last commit replaced (younger than 2 s), fewer
/// than were ever written, and the version before the last still reads whole. With
/// the retention at 0 nothing is deleted. The same on an S3 lake, where the deletions
/// go through the object store. (Delta's log, read by the deltalake package.)
#[test]
fn an_ingest_deletes_the_state_files_replaced_before_its_retention() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    nights(dir);
    let base = std::fs::read_to_string(dir.join("gen/opintel.toml")).expect("config");
    for (name, hours) in [("sweep", "0.00056"), ("keep", "0")] {
        let text = format!("{base}\n[ingest]\nstate_retain_hours = {hours}\n");
        std::fs::write(dir.join(format!("gen/{name}.toml")), text).expect("write config");
    }
    let s3 = S3Server::start("lake");
    let env = s3.env();
    let url = s3.url("swept");
    let days = export_days(dir);
    let days = &days[..6];
    for (i, d) in days.iter().enumerate() {
        if i + 1 == days.len() {
            std::thread::sleep(std::time::Duration::from_secs(3));
        }
        let d = d.to_str().expect("utf8");
        for (config, lake) in [
            ("gen/sweep.toml", "swept"),
            ("gen/keep.toml", "kept"),
            ("gen/sweep.toml", url.as_str()),
        ] {
            let args = ["--config", config, "ingest", "--lake", lake, d];
            opintel_env_ok(dir, &args, &env);
        }
    }
    // Per state table: files on disk, files the latest version reads, files its last
    // commit removed, files any commit added; whether the disk holds exactly the
    // latest's and the last commit's removed ones; rows of the version before.
    let folders = |lake: &str| -> BTreeMap<String, Vec<String>> {
        let out = python(
            dir,
            r#"
import sys, os, json, posixpath, deltalake, pyarrow as pa, pyarrow.fs as pafs
lake, endpoint = sys.argv[1], sys.argv[2]
if lake.startswith("s3://"):
    fs = pafs.S3FileSystem(endpoint_override=endpoint, access_key="test", secret_key="test",
                           region="us-east-1", scheme="http")
    base, scheme = lake[len("s3://"):], "s3://"
    opts = {"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test", "AWS_REGION": "us-east-1",
            "AWS_ALLOW_HTTP": "true"}
else:
    fs, base, scheme, opts = pafs.LocalFileSystem(), os.path.abspath(lake), "", None
def listing(path, recursive=False):
    return fs.get_file_info(pafs.FileSelector(path, recursive=recursive, allow_not_found=True))
for info in sorted(listing(base + "/_state"), key=lambda i: i.path):
    path, t = info.path, posixpath.basename(info.path)
    logs = [f.path for f in listing(path + "/_delta_log") if f.path.endswith(".json")]
    if info.type != pafs.FileType.Directory or not logs:
        continue
    disk = set()
    for f in listing(path, recursive=True):
        rel = posixpath.relpath(f.path, path)
        if f.type == pafs.FileType.File and rel.endswith(".parquet") and not rel.startswith(("_", ".")):
            disk.add(rel)
    dt = deltalake.DeltaTable(scheme + path, storage_options=opts)
    v = dt.version()
    live = {a["path"] for a in pa.table(dt.get_add_actions(flatten=True)).to_pylist()}
    ever, removed = set(), set()
    for c in sorted(logs):
        with fs.open_input_stream(c) as stream:
            text = stream.read().decode()
        for line in text.splitlines():
            a = json.loads(line)
            if "add" in a:
                ever.add(a["add"]["path"])
            if "remove" in a and int(posixpath.basename(c)[:20]) == v:
                removed.add(a["remove"]["path"])
    before = -1
    if v > 0:
        older = deltalake.DeltaTable(scheme + path, version=v - 1, storage_options=opts)
        before = older.to_pyarrow_dataset().to_table().num_rows
    exact = int(disk == (live | removed))
    print(t, len(disk), len(live), len(removed), len(ever), exact, before)
sys.stdout.flush()
os._exit(0)
"#,
            &[lake, &s3.endpoint],
        );
        keyed_lines(&out)
    };
    let n = |w: &[String], i: usize| w[i].parse::<i64>().expect("number");
    let (swept, kept) = (folders("swept"), folders("kept"));
    assert!(swept.contains_key("order_lines_v2"), "{swept:?}");
    assert!(swept.keys().eq(kept.keys()), "{swept:?} {kept:?}");
    for (t, w) in &swept {
        // disk, live, removed by the last commit, ever added, exact, rows before.
        assert_eq!(
            n(w, 4),
            1,
            "{t}: disk = latest + last commit's removed: {w:?}"
        );
        let k = &kept[t];
        assert_eq!(n(k, 0), n(k, 3), "{t}: retention 0 keeps every file: {k:?}");
    }
    // Reading the version before would have failed in Python had a file gone.
    let w = &swept["order_lines_v2"];
    assert!(n(w, 5) > 0, "the order-line state's version before: {w:?}");
    assert!(n(w, 0) < n(w, 3), "order-line state files deleted: {w:?}");
    // The S3 lake: the same states, each holding exactly what the local one holds
    // by the same rule, its deleted files gone from the bucket.
    let remote = folders(&url);
    assert!(remote.keys().eq(swept.keys()), "{remote:?} {swept:?}");
    for (t, w) in &remote {
        assert_eq!(
            n(w, 4),
            1,
            "{t} on S3: bucket = latest + last commit's removed: {w:?}"
        );
    }
    let w = &remote["order_lines_v2"];
    assert!(
        n(w, 5) > 0,
        "the order-line state's version before, on S3: {w:?}"
    );
    assert!(
        n(w, 0) < n(w, 3),
        "order-line state files deleted from S3: {w:?}"
    );
}

#[test]
fn a_lake_of_the_older_layout_is_migrated() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    nights(dir);
    opintel_ok(
        dir,
        &run_args("lake", "2026-11-20", "before", &["gen/exports"]),
    );
    let before = kpi_tables(&dir.join("before"));
    // Take the Delta layer away: what is left is the older layout.
    let old = dir.join("lake");
    let mut stack = vec![old.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("dir").flatten() {
            let p = e.path();
            if p.file_name().is_some_and(|n| n == "_delta_log") {
                std::fs::remove_dir_all(&p).expect("rm");
            } else if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "done") {
                std::fs::remove_file(&p).expect("rm");
            }
        }
    }
    let o = opintel_ok(dir, &["lake", "migrate", "lake", "delta"]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("shipments"));
    opintel_ok(dir, &run_args("delta", "2026-11-20", "after", &[]));
    assert_same_tables("migrated", &kpi_tables(&dir.join("after")), &before);
    // And a second migration into the same lake is refused.
    let again = opintel(dir, &["lake", "migrate", "lake", "delta"]);
    assert_eq!(
        again.status.code(),
        Some(4),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
}
