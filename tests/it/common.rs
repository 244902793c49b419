//! Helpers shared by the integration tests: run the real binary in a temp folder,
//! read Parquet outputs into plain values.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use datafusion::arrow::array::{
    Array, BooleanArray, Date32Array, Float64Array, Int64Array, StringArray,
    TimestampMicrosecondArray,
};
use datafusion::arrow::datatypes::DataType;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

/// A value read back from a Parquet file.
#[derive(Debug, Clone, PartialEq)]
pub enum V {
    S(String),
    I(i64),
    F(f64),
    /// Date as YYYY-MM-DD.
    D(String),
    /// Timestamp as µs since the epoch.
    T(i64),
    B(bool),
    Null,
}

pub fn s(x: &str) -> V {
    V::S(x.to_string())
}
pub fn d(x: &str) -> V {
    V::D(x.to_string())
}

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn fixture(name: &str) -> PathBuf {
    root().join("data/fixtures").join(name)
}

/// Run `opintel` with `args` in `cwd`.
pub fn opintel(cwd: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_opintel"))
        .args(args)
        .current_dir(cwd)
        .env_remove("OPINTEL_FAULT")
        .output()
        .expect("run opintel")
}

/// The as-of date of every fixture night.
pub const AS_OF: &str = "2026-11-20";

/// `run --lake lake --as-of 2026-11-20 --out <out>` and then `rest` (flags, inputs):
/// the nightly run every test starts from.
pub fn run_args<'a>(out: &'a str, rest: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["run", "--lake", "lake", "--as-of", AS_OF, "--out", out];
    args.extend_from_slice(rest);
    args
}

/// The `manifest.json` of the run folder `out`, parsed.
pub fn read_manifest(out: &Path) -> serde_json::Value {
    let path = out.join("manifest.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Run and insist on success, printing what it said otherwise.
pub fn opintel_ok(cwd: &Path, args: &[&str]) -> Output {
    let out = opintel(cwd, args);
    assert!(
        out.status.success(),
        "opintel {args:?} failed ({:?})\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Column names and rows of a Parquet file.
pub fn read_parquet(path: &Path) -> (Vec<String>, Vec<Vec<V>>) {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).expect("parquet");
    let names: Vec<String> = builder
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    let mut rows = Vec::new();
    for batch in builder.build().expect("reader") {
        let batch = batch.expect("batch");
        for r in 0..batch.num_rows() {
            rows.push(
                batch
                    .columns()
                    .iter()
                    .map(|c| value(c.as_ref(), r))
                    .collect(),
            );
        }
    }
    (names, rows)
}

/// Rows of every Parquet file under `dir` (recursively).
pub fn read_parquet_dir(dir: &Path) -> Vec<Vec<V>> {
    let mut rows = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "parquet") {
                rows.extend(read_parquet(&p).1);
            }
        }
    }
    rows
}

pub fn value(c: &dyn Array, r: usize) -> V {
    if c.is_null(r) {
        return V::Null;
    }
    match c.data_type() {
        DataType::Utf8 => V::S(
            c.as_any()
                .downcast_ref::<StringArray>()
                .expect("utf8")
                .value(r)
                .to_string(),
        ),
        DataType::Int64 => V::I(
            c.as_any()
                .downcast_ref::<Int64Array>()
                .expect("i64")
                .value(r),
        ),
        DataType::Float64 => V::F(
            c.as_any()
                .downcast_ref::<Float64Array>()
                .expect("f64")
                .value(r),
        ),
        DataType::Boolean => V::B(
            c.as_any()
                .downcast_ref::<BooleanArray>()
                .expect("bool")
                .value(r),
        ),
        DataType::Date32 => V::D(
            c.as_any()
                .downcast_ref::<Date32Array>()
                .expect("date")
                .value_as_date(r)
                .map(|d| d.to_string())
                .unwrap_or_default(),
        ),
        DataType::Timestamp(_, _) => V::T(
            c.as_any()
                .downcast_ref::<TimestampMicrosecondArray>()
                .expect("ts µs")
                .value(r),
        ),
        other => panic!("unexpected type {other}"),
    }
}

/// The columns of `fill_rate`, in the contract's order.
pub const FILL_RATE_COLUMNS: [&str; 11] = [
    "due_date",
    "channel",
    "warehouse_id",
    "lines",
    "orders",
    "units_demanded",
    "units_filled",
    "unit_fill_rate",
    "line_fill_rate",
    "order_fill_rate",
    "otif_rate",
];

/// Two sets of tables (name → rows) hold the same rows.
pub fn assert_same_tables(
    what: &str,
    a: &BTreeMap<String, Vec<Vec<V>>>,
    b: &BTreeMap<String, Vec<Vec<V>>>,
) {
    assert_eq!(
        a.keys().collect::<Vec<_>>(),
        b.keys().collect::<Vec<_>>(),
        "{what}: table names"
    );
    for (name, rows) in a {
        assert_rows(&format!("{what}: {name}"), rows, &b[name]);
    }
}

/// Compare rows, floats within 1e-9 (relative or absolute).
pub fn assert_rows(what: &str, actual: &[Vec<V>], expected: &[Vec<V>]) {
    assert_eq!(
        actual.len(),
        expected.len(),
        "{what}: row count\nactual: {actual:#?}"
    );
    for (i, (a, e)) in actual.iter().zip(expected).enumerate() {
        assert_eq!(a.len(), e.len(), "{what} row {i}: width");
        for (j, (x, y)) in a.iter().zip(e).enumerate() {
            let same = match (x, y) {
                (V::F(p), V::F(q)) => (p - q).abs() <= 1e-9 * q.abs().max(1.0),
                _ => x == y,
            };
            assert!(
                same,
                "{what} row {i} col {j}: got {x:?}, expected {y:?}\nrow: {a:?}"
            );
        }
    }
}

/// A local S3-compatible server (moto's, from tests/requirements.txt) on a free port
/// of 127.0.0.1 with one bucket, stopped when dropped.
pub struct S3Server {
    child: std::process::Child,
    pub endpoint: String,
    pub bucket: String,
}

impl S3Server {
    pub fn start(bucket: &str) -> S3Server {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let child = Command::new("python3")
            .args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("python3 -m moto.server (pip install -r tests/requirements.txt)");
        let endpoint = format!("http://127.0.0.1:{port}");
        let started = std::time::Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < std::time::Duration::from_secs(30),
                "the S3 server did not start on port {port}"
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let s3 = S3Server {
            child,
            endpoint,
            bucket: bucket.to_string(),
        };
        let made = Command::new("python3")
            .args([
                "-c",
                "import boto3, sys; boto3.client('s3', endpoint_url=sys.argv[1], region_name='us-east-1', aws_access_key_id='test', aws_secret_access_key='test').create_bucket(Bucket=sys.argv[2])",
                &s3.endpoint,
                bucket,
            ])
            .output()
            .expect("python3 with boto3");
        assert!(
            made.status.success(),
            "create bucket: {}",
            String::from_utf8_lossy(&made.stderr)
        );
        s3
    }

    /// The environment a process needs to use this server.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_ACCESS_KEY_ID", "test".into()),
            ("AWS_SECRET_ACCESS_KEY", "test".into()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_ALLOW_HTTP", "true".into()),
        ]
    }

    /// `s3://<bucket>/<prefix>`.
    pub fn url(&self, prefix: &str) -> String {
        format!("s3://{}/{prefix}", self.bucket)
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Run `opintel` with `args` in `cwd` and extra environment variables.
pub fn opintel_env(cwd: &Path, args: &[&str], env: &[(&str, String)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_opintel"));
    c.args(args).current_dir(cwd).env_remove("OPINTEL_FAULT");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("run opintel")
}

/// [`opintel_env`] insisting on success.
pub fn opintel_env_ok(cwd: &Path, args: &[&str], env: &[(&str, String)]) -> Output {
    let out = opintel_env(cwd, args, env);
    assert!(
        out.status.success(),
        "opintel {args:?} failed ({:?})\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Every KPI table of a report folder: name → rows (sorted, so order does not count).
pub fn kpi_tables(report: &Path) -> BTreeMap<String, Vec<Vec<V>>> {
    let mut out = BTreeMap::new();
    for e in std::fs::read_dir(report.join("kpis"))
        .expect("kpis")
        .flatten()
    {
        let p = e.path();
        if p.extension().is_some_and(|x| x == "parquet") {
            let name = p
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            let mut rows = read_parquet(&p).1;
            rows.sort_by(|a, b| format!("{a:?}").cmp(&format!("{b:?}")));
            out.insert(name, rows);
        }
    }
    out
}

/// The night folders `generate --out gen` wrote under `dir`, oldest first.
pub fn export_days(dir: &Path) -> Vec<PathBuf> {
    let mut days: Vec<PathBuf> = std::fs::read_dir(dir.join("gen/exports"))
        .expect("exports")
        .flatten()
        .map(|e| e.path())
        .collect();
    days.sort();
    days
}

/// `text`'s lines by their first word: the other words of each.
pub fn keyed_lines(text: &str) -> std::collections::BTreeMap<String, Vec<String>> {
    text.lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace().map(str::to_string);
            Some((w.next()?, w.collect()))
        })
        .collect()
}

/// Run Python `script` with `args` in `dir`; its stdout (the test fails when it does).
pub fn python(dir: &Path, script: &str, args: &[&str]) -> String {
    let mut all = vec!["-c", script];
    all.extend_from_slice(args);
    python3(dir, &all)
}

/// Run `python3` with `args` in `dir`; its stdout. The test fails, showing both
/// outputs, when it does (the Python packages: `pip install -r tests/requirements.txt`).
pub fn python3<S: AsRef<std::ffi::OsStr>>(dir: &Path, args: &[S]) -> String {
    let o = Command::new("python3")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("python3 (pip install -r tests/requirements.txt)");
    assert!(
        o.status.success(),
        "python3 failed (pip install -r tests/requirements.txt first?):\n{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}
