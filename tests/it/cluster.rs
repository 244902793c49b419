//! The nightly run on a Ballista cluster: a scheduler and two executors started here
//! as separate `opintel cluster …` processes on 127.0.0.1, the lake on a local S3
//! server. Every KPI table equals the same run on this machine; the scheduler's job
//! list shows the work was done by the executors; an executor killed during a run
//! leaves either the same answer or a failed run that published nothing.

use crate::common::*;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A scheduler and executors, stopped when dropped.
struct Cluster {
    scheduler: Child,
    executors: Vec<Child>,
    port: u16,
}

impl Cluster {
    fn start(dir: &Path, executors: usize, env: &[(&str, String)]) -> Cluster {
        let port = free_port();
        let spawn = |args: Vec<String>, log: &str| -> Child {
            let mut c = Command::new(env!("CARGO_BIN_EXE_opintel"));
            c.args(&args)
                .current_dir(dir)
                .env("OPINTEL_LOG", "warn")
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(dir.join(log)).expect("log file"));
            for (k, v) in env {
                c.env(k, v);
            }
            c.spawn().expect("start opintel cluster")
        };
        let scheduler = spawn(
            vec![
                "cluster".into(),
                "scheduler".into(),
                "--bind".into(),
                format!("127.0.0.1:{port}"),
                // A killed executor is noticed in seconds (heartbeats every 5 s).
                "--executor-timeout".into(),
                "12".into(),
            ],
            "scheduler.log",
        );
        let mut cluster = Cluster {
            scheduler,
            executors: Vec::new(),
            port,
        };
        cluster.wait_for(|c| c.get("/healthz").is_some(), "the scheduler to answer");
        for i in 0..executors {
            let child = spawn(
                vec![
                    "cluster".into(),
                    "executor".into(),
                    "--scheduler".into(),
                    format!("127.0.0.1:{port}"),
                    "--bind-host".into(),
                    "127.0.0.1".into(),
                    "--external-host".into(),
                    "127.0.0.1".into(),
                    "--port".into(),
                    free_port().to_string(),
                    "--grpc-port".into(),
                    free_port().to_string(),
                    "--concurrent-tasks".into(),
                    "2".into(),
                    "--work-dir".into(),
                    dir.join(format!("executor{i}"))
                        .to_string_lossy()
                        .into_owned(),
                ],
                &format!("executor{i}.log"),
            );
            cluster.executors.push(child);
        }
        cluster.wait_for(
            |c| c.executor_ids().len() == executors,
            "every executor to register",
        );
        cluster
    }

    fn url(&self) -> String {
        format!("df://127.0.0.1:{}", self.port)
    }

    fn get(&self, path: &str) -> Option<String> {
        ureq::get(&format!("http://127.0.0.1:{}{path}", self.port))
            .timeout(Duration::from_secs(5))
            .call()
            .ok()?
            .into_string()
            .ok()
    }

    fn json(&self, path: &str) -> serde_json::Value {
        let body = self.get(path).unwrap_or_else(|| panic!("GET {path}"));
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: {e}: {body}"))
    }

    fn executor_ids(&self) -> Vec<String> {
        self.get("/api/executors")
            .and_then(|b| serde_json::from_str::<serde_json::Value>(&b).ok())
            .and_then(|v| v.as_array().cloned())
            .unwrap_or_default()
            .iter()
            .filter_map(|e| e.get("id").and_then(|i| i.as_str()).map(str::to_string))
            .collect()
    }

    fn wait_for(&mut self, ok: impl Fn(&Cluster) -> bool, what: &str) {
        let started = Instant::now();
        while !ok(self) {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "timed out waiting for {what}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for c in self
            .executors
            .iter_mut()
            .chain(std::iter::once(&mut self.scheduler))
        {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A small generated operation (21 days), its config, and the tiny fixture.
fn generated(dir: &Path) {
    opintel_ok(
        dir,
        &[
            "generate", "--out", "gen", "--scale", "0.02", "--days", "21", "--seed", "5",
        ],
    );
}

/// `opintel run` arguments; the generated operation needs its own config (its exports
/// use the generator's column names), the fixture the default one.
fn run<'a>(
    config: Option<&'a str>,
    lake: &'a str,
    out: &'a str,
    extra: &[&'a str],
) -> Vec<&'a str> {
    let mut a = Vec::new();
    if let Some(c) = config {
        a.extend(["--config", c]);
    }
    a.extend(["run", "--lake", lake, "--as-of", AS_OF, "--out", out]);
    a.extend_from_slice(extra);
    a
}

#[test]
fn a_cluster_run_equals_a_local_run_and_survives_a_lost_executor() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    generated(dir);
    let s3 = S3Server::start("lake");
    let env = s3.env();
    let cluster = Cluster::start(dir, 2, &env);
    let tiny = fixture("tiny");
    let tiny = tiny.to_str().expect("utf8");
    // Every cluster run here gives up after 5 minutes rather than hang the test.
    let limit = "\n[cluster]\ntimeout_minutes = 5\n";
    std::fs::write(dir.join("tiny.toml"), limit).expect("config");
    let gen_config = std::fs::read_to_string(dir.join("gen/opintel.toml")).expect("config");
    std::fs::write(dir.join("gen/opintel.toml"), gen_config + limit).expect("config");

    // The fixture night and the generated operation, ingested on the client into the
    // S3 lake, computed on the cluster; the same on this machine from a local lake.
    for (name, config, input) in [
        ("tiny", Some("tiny.toml"), tiny),
        ("gen", Some("gen/opintel.toml"), "gen/exports"),
    ] {
        let s3_lake = s3.url(name);
        let local_lake = format!("local-{name}");
        let out_local = format!("out-local-{name}");
        let out_cluster = format!("out-cluster-{name}");
        opintel_ok(dir, &run(config, &local_lake, &out_local, &[input]));
        let url = cluster.url();
        let o = opintel_env_ok(
            dir,
            &run(config, &s3_lake, &out_cluster, &["--cluster", &url, input]),
            &env,
        );
        let want = kpi_tables(&dir.join(&out_local));
        let got = kpi_tables(&dir.join(&out_cluster));
        assert!(want.len() >= 18, "{name}: {} KPI tables", want.len());
        assert_same_tables(&format!("{name}: cluster vs local"), &got, &want);
        assert!(
            dir.join(&out_cluster).join("index.html").exists(),
            "{name}: report published\n{}",
            String::from_utf8_lossy(&o.stderr)
        );
    }

    // The scheduler ran the queries: its job list (Ballista's REST API) has a completed
    // job named "opintel" per KPI query of both runs, every stage of each completed.
    let jobs = cluster.json("/api/jobs");
    let jobs = jobs.as_array().expect("job list");
    let field = |j: &serde_json::Value, k: &str| j.get(k).cloned().unwrap_or_default();
    let done: Vec<&serde_json::Value> = jobs
        .iter()
        .filter(|j| field(j, "status") == "Completed" && field(j, "job_name") == "opintel")
        .collect();
    assert!(
        done.len() >= 36,
        "at least one job per KPI query of both runs: {} of {}\n{jobs:?}",
        done.len(),
        jobs.len()
    );
    for j in &done {
        let stages = field(j, "num_stages").as_u64().unwrap_or(0);
        assert!(stages >= 1, "a completed job with stages: {j}");
        assert_eq!(
            field(j, "completed_stages").as_u64(),
            Some(stages),
            "every stage of a completed job completed: {j}"
        );
    }

    // An executor killed a few seconds into a run: the run either completes with the
    // same answer (it ended before the scheduler noticed the loss) or fails naming the
    // cluster and publishes nothing (a run that lost an executor is not trusted:
    // Ballista 55's rerun once gave a wrong count here).
    let mut cluster = cluster;
    let want = kpi_tables(&dir.join("out-local-gen"));
    let url = cluster.url();
    let lake = s3.url("gen");
    let args = run(
        Some("gen/opintel.toml"),
        &lake,
        "out-killed",
        &["--cluster", &url],
    );
    let child = spawn_run(dir, &args, &env, "killed-run.log");
    std::thread::sleep(Duration::from_secs(3));
    let mut victim = cluster.executors.remove(0);
    let _ = victim.kill();
    let _ = victim.wait();
    let (status, err) = finish(
        child,
        dir,
        "killed-run.log",
        "the run that lost an executor",
    );
    let o = Finished { status, err };
    eprintln!("run with a lost executor: {}", o.status);
    if o.status.success() {
        assert_same_tables(
            "after a lost executor",
            &kpi_tables(&dir.join("out-killed")),
            &want,
        );
    } else {
        let err = &o.err;
        assert!(
            !dir.join("out-killed/manifest.json").exists()
                && !dir.join("out-killed/index.html").exists(),
            "a failed run published a report: {err}"
        );
        assert!(
            err.to_ascii_lowercase().contains("job") || err.contains("cluster"),
            "the error says what failed: {err}"
        );
    }

    // A command whose queries outlast `[cluster] timeout_minutes` gives up: exit 1, the
    // limit named, nothing published (a stuck job must not hold the night).
    std::fs::write(
        dir.join("impatient.toml"),
        "[cluster]\ntimeout_minutes = 0.0005\n",
    )
    .expect("config");
    let lake = s3.url("tiny");
    let args = run(
        Some("impatient.toml"),
        &lake,
        "out-late",
        &["--cluster", &url, tiny],
    );
    let child = spawn_run(dir, &args, &env, "late-run.log");
    let (status, err) = finish(child, dir, "late-run.log", "the run past its time limit");
    assert_eq!(status.code(), Some(1), "exit 1 when out of time: {err}");
    assert!(
        err.contains("not done after") && err.contains("cluster.timeout_minutes"),
        "the error names the limit: {err}"
    );
    assert!(
        !dir.join("out-late/index.html").exists() && !dir.join("out-late/manifest.json").exists(),
        "nothing published after the time limit: {err}"
    );
}

struct Finished {
    status: std::process::ExitStatus,
    err: String,
}

/// `opintel` with `args` and `env`, started in `dir`, its stderr to `log`.
fn spawn_run(dir: &Path, args: &[&str], env: &[(&str, String)], log: &str) -> Child {
    let mut c = Command::new(env!("CARGO_BIN_EXE_opintel"));
    c.args(args)
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join(log)).expect("log file"));
    for (k, v) in env {
        c.env(k, v);
    }
    c.spawn().expect("run")
}

/// Wait for `child`, at most five minutes: a run that neither finishes nor fails is the
/// failure this guards against, and must fail the test rather than hang it.
fn finish(
    mut child: Child,
    dir: &Path,
    log: &str,
    what: &str,
) -> (std::process::ExitStatus, String) {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            let err = std::fs::read_to_string(dir.join(log)).unwrap_or_default();
            return (status, err);
        }
        if started.elapsed() > Duration::from_secs(300) {
            let _ = child.kill();
            let _ = child.wait();
            let err = std::fs::read_to_string(dir.join(log)).unwrap_or_default();
            panic!("{what} neither finished nor failed in 5 minutes:\n{err}");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}
