//! The nightly job under stress: killed at many points and at random instants, run
//! twice at once, given a full disk, and checked against an uninterrupted run.

use crate::common::*;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Two nights of exports: night 1 is the first 14 days, night 2 everything.
struct Nights {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
}

fn nights() -> Nights {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().to_path_buf();
    opintel_ok(
        &dir,
        &[
            "generate", "--out", "gen", "--scale", "0.03", "--days", "21", "--seed", "5",
        ],
    );
    let days = export_days(&dir);
    std::fs::create_dir_all(dir.join("night1")).expect("dir");
    for d in &days[..14] {
        copy_dir(d, &dir.join("night1").join(d.file_name().expect("name")));
    }
    Nights { _tmp: tmp, dir }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read").flatten() {
        let p = e.path();
        if p.is_dir() {
            copy_dir(&p, &to.join(e.file_name()));
        } else {
            std::fs::copy(&p, to.join(e.file_name())).expect("copy");
        }
    }
}

fn night_args<'a>(lake: &'a str, out: &'a str, exports: &'a str) -> Vec<&'a str> {
    vec![
        "--config",
        "gen/opintel.toml",
        "run",
        "--lake",
        lake,
        "--as-of",
        "2026-11-20",
        "--out",
        out,
        exports,
    ]
}

fn run_with(dir: &Path, args: &[&str], fault: Option<&str>) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_opintel"));
    c.args(args).current_dir(dir).env_remove("OPINTEL_FAULT");
    if let Some(f) = fault {
        c.env("OPINTEL_FAULT", f);
    }
    c.output().expect("run")
}

/// Every KPI table of a report folder, by file name.
fn kpis(out: &Path) -> BTreeMap<String, Vec<Vec<V>>> {
    std::fs::read_dir(out.join("kpis"))
        .expect("kpis")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "parquet"))
        .map(|p| {
            (
                p.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                read_parquet(&p).1,
            )
        })
        .collect()
}

/// Every row of every lake table, without `_ingest_seq` (which numbers transactions),
/// as sorted text: the multiset of rows.
fn lake_rows(lake: &Path) -> BTreeMap<String, Vec<String>> {
    let mut out = BTreeMap::new();
    for t in opintel::contract::TABLES {
        let seq = t.fields.len();
        let mut rows: Vec<String> = read_parquet_dir(&lake.join(t.name))
            .into_iter()
            .map(|mut r| {
                r.remove(seq);
                format!("{r:?}")
            })
            .collect();
        rows.sort();
        out.insert(t.name.to_string(), rows);
    }
    out
}

#[test]
fn killed_runs_recover_to_the_uninterrupted_result() {
    let n = nights();
    let dir = &n.dir;
    // The uninterrupted nights.
    opintel_ok(dir, &night_args("base", "out-base1", "night1"));
    copy_dir(&dir.join("base"), &dir.join("after-night1"));
    let started = Instant::now();
    opintel_ok(dir, &night_args("base", "out-base", "gen/exports"));
    let night2_time = started.elapsed();
    let want_kpis = kpis(&dir.join("out-base"));
    let want_lake = lake_rows(&dir.join("base"));
    assert!(want_kpis.len() >= 10);
    assert!(want_lake["shipments"].len() > 100);

    // Night 2, killed at named points (the n-th time a point is passed).
    let faults = [
        "ingest.file:1",
        "ingest.file:7",
        "ingest.batch:1",
        "ingest.batch:5",
        "ingest.dedup:1",
        "ingest.dedup:6",
        "lake.writer.closed:1",
        "lake.writer.closed:12",
        "ingest.before_commit",
        "lake.commit.sync",
        "lake.commit.before_log_rename",
        "lake.commit.after_log_rename",
        "lake.roll_forward.first_move",
        "lake.delta.committed:1",
        "lake.delta.committed:4",
        "run.after_ingest",
        "run.query:1",
        "run.query:6",
        "run.query:10",
        "run.report",
        "publish.before_swap",
        "publish.after_swap",
    ];
    let mut cases: Vec<(String, Option<Duration>)> =
        faults.iter().map(|f| (f.to_string(), None)).collect();
    // And killed with SIGKILL at instants spread over the run.
    for i in 1..=5u32 {
        cases.push((
            format!("sigkill after {i}/6 of the run"),
            Some(night2_time * i / 6),
        ));
    }
    for (i, (case, delay)) in cases.iter().enumerate() {
        let lake = format!("lake{i}");
        let out = format!("out{i}");
        copy_dir(&dir.join("after-night1"), &dir.join(&lake));
        // A report from an earlier run that a crash must leave whole.
        copy_dir(&dir.join("out-base1"), &dir.join(&out));
        let args = night_args(&lake, &out, "gen/exports");
        match delay {
            None => {
                let o = run_with(dir, &args, Some(case));
                assert!(
                    o.status.code().is_none(),
                    "{case}: the fault did not fire (exit {:?}): {}",
                    o.status.code(),
                    String::from_utf8_lossy(&o.stderr)
                );
            }
            Some(d) => {
                let mut child = Command::new(env!("CARGO_BIN_EXE_opintel"))
                    .args(&args)
                    .current_dir(dir)
                    .env_remove("OPINTEL_FAULT")
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .expect("spawn");
                std::thread::sleep(*d);
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        // Whatever the instant, the published report is a whole one: the old or the new.
        let report = kpis(&dir.join(&out));
        if report.len() != want_kpis.len() || !dir.join(&out).join("manifest.json").is_file() {
            panic!(
                "{case}: the report folder is not whole: {:?}",
                report.keys()
            );
        }
        // The next run finishes the work.
        opintel_ok(dir, &args);
        assert_same_tables(case, &kpis(&dir.join(&out)), &want_kpis);
        let got_lake = lake_rows(&dir.join(&lake));
        for (t, rows) in &want_lake {
            assert_eq!(got_lake[t].len(), rows.len(), "{case}: {t} rows");
            assert!(
                got_lake[t] == *rows,
                "{case}: {t} differs from the uninterrupted run"
            );
        }
        let staging = dir.join(&lake).join("_opintel/staging");
        assert_eq!(
            std::fs::read_dir(&staging).map(|d| d.count()).unwrap_or(0),
            0,
            "{case}: staging left behind"
        );
        let leftovers: Vec<_> = std::fs::read_dir(dir)
            .expect("dir")
            .flatten()
            .filter(|e| {
                e.file_name()
                    .to_string_lossy()
                    .starts_with(&format!(".{out}."))
            })
            .collect();
        assert!(
            leftovers.is_empty(),
            "{case}: temporary report folders left"
        );
        let _ = std::fs::remove_dir_all(dir.join(&lake));
        let _ = std::fs::remove_dir_all(dir.join(&out));
    }
}

#[test]
fn a_second_run_is_refused_or_waits_and_a_dead_holder_does_not_block() {
    let n = nights();
    let dir = &n.dir;
    opintel_ok(dir, &night_args("lake", "out1", "night1"));
    let lake = dir.join("lake");
    // Another run holds the lake (this test process takes the lock).
    let held = opintel::lake::LakeLock::acquire(&opintel::config::LakeConfig::at(&lake), None)
        .expect("lock");
    let o = run_with(dir, &night_args("lake", "out2", "gen/exports"), None);
    assert_eq!(o.status.code(), Some(5), "lock held → exit 5");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&format!("pid {}", std::process::id())),
        "names the holder: {err}"
    );
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    let mut args = night_args("lake", "out2", "gen/exports");
    args.extend(["--wait", "1"]);
    let t = Instant::now();
    let o = run_with(dir, &args, None);
    assert_eq!(o.status.code(), Some(5));
    assert!(
        t.elapsed() >= Duration::from_millis(900),
        "waited before giving up"
    );
    // Released while a run waits: the waiting run goes ahead.
    let releaser = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(700));
        drop(held);
    });
    let mut args = night_args("lake", "out2", "gen/exports");
    args.extend(["--wait", "30"]);
    let o = run_with(dir, &args, None);
    releaser.join().expect("thread");
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // A lock file left by a killed process (its holder line names a dead pid, no OS lock
    // is held) does not block.
    std::fs::write(
        lake.join("_opintel/lock"),
        "pid 999999 on nowhere since 2020-01-01T00:00:00Z",
    )
    .expect("w");
    let o = run_with(dir, &night_args("lake", "out3", "gen/exports"), None);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn a_full_disk_fails_cleanly_and_changes_nothing() {
    let n = nights();
    let dir = &n.dir;
    opintel_ok(dir, &night_args("lake", "out", "night1"));
    let before = lake_rows(&dir.join("lake"));
    let before_kpis = kpis(&dir.join("out"));
    let o = run_with(
        dir,
        &night_args("lake", "out", "gen/exports"),
        Some("enospc@lake.write:3"),
    );
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("disk is full"), "{err}");
    assert!(err.contains(".parquet"), "names the file: {err}");
    assert_eq!(lake_rows(&dir.join("lake")), before, "lake unchanged");
    assert_same_tables("report unchanged", &kpis(&dir.join("out")), &before_kpis);
    assert_eq!(
        std::fs::read_dir(dir.join("lake/_opintel/staging"))
            .map(|d| d.count())
            .unwrap_or(0),
        0
    );
    // With space again, the same run completes.
    opintel_ok(dir, &night_args("lake", "out", "gen/exports"));
}

#[test]
fn stale_feeds_are_warned_and_can_fail_the_run() {
    let n = nights();
    let dir = &n.dir;
    // As of a week after the data ends, every event feed is older than 48 h.
    let args = [
        "--config",
        "gen/opintel.toml",
        "run",
        "--lake",
        "lake",
        "--as-of",
        "2026-11-27",
        "--out",
        "out",
        "gen/exports",
    ];
    let o = run_with(dir, &args, None);
    assert_eq!(o.status.code(), Some(0));
    let m: serde_json::Value = read_manifest(&dir.join("out"));
    let stale: Vec<&str> = m["freshness"]
        .as_array()
        .expect("freshness")
        .iter()
        .filter(|f| f["state"] == "stale")
        .filter_map(|f| f["table"].as_str())
        .collect();
    assert!(
        stale.contains(&"shipments") && stale.contains(&"order_lines"),
        "{stale:?}"
    );
    assert!(
        m["warnings"]
            .as_array()
            .expect("w")
            .iter()
            .any(|w| w.as_str().is_some_and(|w| w.contains("shipments is stale")))
    );
    let html = std::fs::read_to_string(dir.join("out/index.html")).expect("html");
    assert!(html.contains("is stale"));
    let mut strict = args.to_vec();
    strict.push("--fail-on-stale");
    let o = run_with(dir, &strict, None);
    assert_eq!(o.status.code(), Some(6));
    assert!(String::from_utf8_lossy(&o.stderr).contains("shipments"));
}
