//! Alerts and owners' digests, delivered to a webhook receiver and an SMTP server the
//! test starts on 127.0.0.1 (`tests/alerts/receivers.py`, aiosmtpd), over two runs of
//! the same night and one of the next night, with one destination that refuses.
//!
//! The tiny fixture, by hand (SLA hours: critical 4, high 24, medium 72, low 168): at
//! the end of 2026-11-20 the open exceptions past SLA are E4 (critical, receiving,
//! resolved only on 11-21), E5 (critical, pickers) and E7 (low, ops, open since 09-01);
//! E1, E2 and E6 are within SLA. At the end of 11-21, E4 is resolved.

use crate::common::*;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

struct Receivers {
    child: Child,
    http: u16,
    smtp: u16,
}

impl Receivers {
    fn start(out: &Path) -> Receivers {
        let mut child = Command::new("python3")
            .arg(root().join("tests/alerts/receivers.py"))
            .arg(out)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 with aiosmtpd");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("ports");
        let words: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(words.len(), 4, "receivers said {line:?}");
        Receivers {
            http: words[1].parse().expect("port"),
            smtp: words[3].parse().expect("port"),
            child,
        }
    }
}

impl Drop for Receivers {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn lines(p: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(p)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect()
}

fn count(p: &Path) -> usize {
    std::fs::read_to_string(p)
        .unwrap_or_default()
        .lines()
        .count()
}

#[test]
fn alerts_are_sent_once_per_night_and_a_refusing_destination_is_retried_and_reported() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    let got = dir.join("received");
    let rx = Receivers::start(&got);
    std::fs::write(
        dir.join("opintel.toml"),
        format!(
            r#"lake = "lake"
reports = "reports"

[[alerts]]
name = "Fill rate below target"
when = "unit_fill_rate < 0.99"
send = ["hook", "mail"]

[[alerts]]
name = "Fill rate, judged on volume"
when = "unit_fill_rate < 0.99"
min_volume = 1000000
send = ["hook"]

[[alerts]]
name = "Backlog to the refusing hook"
when = "open_exceptions >= 0"
send = ["refuse"]

[[alerts]]
name = "Nothing failed"
when = "kpi_failed"
send = ["hook"]

[alerting]
retries = 1
backoff_seconds = 0.05

[alerting.destinations.hook]
webhook = "http://127.0.0.1:{http}/hook"

[alerting.destinations.refuse]
webhook = "http://127.0.0.1:{http}/refuse"

[alerting.destinations.mail]
smtp = "127.0.0.1:{smtp}"
from = "opintel@example.com"
to = ["ops@example.com"]

[alerting.owners]
pickers = "pickers@example.com"
ops = "ops-team@example.com"
nobody = "nobody@example.com"
"#,
            http = rx.http,
            smtp = rx.smtp
        ),
    )
    .expect("config");
    let fx = fixture("tiny");
    let night = |as_of: &str, inputs: &[&str]| {
        let mut args = vec!["run", "--as-of", as_of];
        args.extend_from_slice(inputs);
        opintel(dir, &args)
    };
    let hook = got.join("hook.jsonl");
    let mail = got.join("mail.jsonl");
    let refused = got.join("refused.txt");

    // Night 1: the fill-rate rule fires to the hook and the mailbox; the volume rule is
    // quiet; the refusing hook is tried twice (1 + retries) and the run exits 7; two
    // owners have exceptions past SLA (nobody has none).
    let o = night(AS_OF, &[fx.to_str().expect("utf8")]);
    assert_eq!(
        o.status.code(),
        Some(7),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(count(&hook), 1);
    assert_eq!(count(&refused), 2);
    let mails = lines(&mail);
    assert_eq!(mails.len(), 3, "{mails:?}");
    let (_, tiles) = read_parquet(&dir.join(format!("reports/{AS_OF}/kpis/tiles.parquet")));
    let fill = tiles
        .iter()
        .find(|t| t[0] == s("unit_fill_rate") && t[1] == s("current"))
        .and_then(|t| match &t[3] {
            V::F(v) => Some(*v),
            _ => None,
        })
        .expect("unit_fill_rate");
    assert!(fill < 0.99);
    let sent = &lines(&hook)[0];
    assert_eq!(sent["alert"], "Fill rate below target");
    assert_eq!(sent["as_of"], AS_OF);
    assert_eq!(sent["value"].as_f64(), Some(fill));
    assert_eq!(sent["threshold"].as_f64(), Some(0.99));
    assert!(
        sent["report"]
            .as_str()
            .is_some_and(|r| r.ends_with(&format!("{AS_OF}/index.html")))
    );
    let alert_mail = mails
        .iter()
        .find(|m| m["to"] == serde_json::json!(["ops@example.com"]))
        .expect("the alert mail");
    assert!(
        alert_mail["subject"]
            .as_str()
            .is_some_and(|s| s.contains("Fill rate below target"))
    );
    let parts = alert_mail["parts"].as_array().expect("parts");
    assert!(parts.contains(&"text/plain".into()) && parts.contains(&"text/html".into()));
    let digest = |who: &str| {
        mails
            .iter()
            .find(|m| m["to"] == serde_json::json!([who]))
            .unwrap_or_else(|| panic!("digest to {who}"))
            .clone()
    };
    let pickers = digest("pickers@example.com");
    let text = pickers["text"].as_str().unwrap_or_default();
    assert!(
        text.contains("E5") && !text.contains("E1") && !text.contains("E6"),
        "{text}"
    );
    let ops = digest("ops-team@example.com");
    assert!(ops["text"].as_str().unwrap_or_default().contains("E7"));
    // The manifest says what happened to each rule and delivery.
    let m = read_manifest(&dir.join(format!("reports/{AS_OF}")));
    let alerts = m["alerts"]["alerts"]
        .as_array()
        .expect("alerts in the manifest");
    let rule = |name: &str| {
        alerts
            .iter()
            .find(|a| a["name"] == name)
            .unwrap_or_else(|| panic!("{name}"))
            .clone()
    };
    assert_eq!(rule("Fill rate below target")["fired"], true);
    let quiet = rule("Fill rate, judged on volume");
    assert_eq!(quiet["fired"], false);
    assert!(
        quiet["quiet"]
            .as_str()
            .is_some_and(|q| q.contains("min_volume"))
    );
    assert_eq!(rule("Nothing failed")["fired"], false);
    let refusing = &rule("Backlog to the refusing hook")["deliveries"][0];
    assert_eq!(refusing["status"], "failed");
    assert_eq!(refusing["attempts"], 2);
    assert!(
        refusing["error"]
            .as_str()
            .is_some_and(|e| e.contains("503"))
    );
    // The report stayed published.
    assert!(dir.join(format!("reports/{AS_OF}/index.html")).is_file());

    // Night 1 again: nothing new is delivered; the refused one is tried again.
    let o = night(AS_OF, &[]);
    assert_eq!(o.status.code(), Some(7));
    assert_eq!(count(&hook), 1);
    assert_eq!(count(&mail), 3);
    assert_eq!(count(&refused), 4);
    let m = read_manifest(&dir.join(format!("reports/{AS_OF}")));
    let again = m["alerts"]["alerts"]
        .as_array()
        .expect("alerts")
        .iter()
        .find(|a| a["name"] == "Fill rate below target")
        .cloned()
        .expect("rule");
    assert!(
        again["deliveries"]
            .as_array()
            .expect("deliveries")
            .iter()
            .all(|d| d["status"] == "already_sent")
    );

    // Night 2: a new as-of date fires again; E4 is resolved, so the digests are the
    // same two owners' again.
    let o = night("2026-11-21", &[]);
    assert_eq!(o.status.code(), Some(7));
    assert_eq!(count(&hook), 2);
    assert_eq!(count(&mail), 6);
    assert_eq!(count(&refused), 6);
    drop(rx);
}
