//! Delivery: a JSON POST to a webhook (ureq), a mail with a plain-text and an HTML part
//! over SMTP (lettre: STARTTLS when the server offers it, `smtps://` for TLS from the
//! first byte). Each is tried 1 + `retries` times, pausing `backoff_seconds` and
//! doubling.

use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{SmtpTransport, Transport};

use super::{Delivery, DeliveryStatus, Message, RunFacts};
use crate::config::{Config, Destination};

const TIMEOUT: Duration = Duration::from_secs(15);

/// Try `attempt` up to 1 + retries times.
fn with_retries(
    config: &Config,
    name: &str,
    mut attempt: impl FnMut() -> Result<(), String>,
) -> Delivery {
    let tries = 1 + config.alerting.retries;
    let mut pause = config.alerting.backoff_seconds.max(0.0);
    let mut last = None;
    for n in 1..=tries {
        match attempt() {
            Ok(()) => {
                return Delivery {
                    destination: name.to_string(),
                    status: DeliveryStatus::Sent,
                    attempts: n,
                    error: None,
                };
            }
            Err(e) => {
                tracing::warn!(destination = name, attempt = n, error = %e, "alert delivery failed");
                last = Some(e);
                if n < tries {
                    std::thread::sleep(Duration::from_secs_f64(pause));
                    pause *= 2.0;
                }
            }
        }
    }
    Delivery {
        destination: name.to_string(),
        status: DeliveryStatus::Failed,
        attempts: tries,
        error: last,
    }
}

/// Deliver one fired alert to one destination.
pub fn deliver(config: &Config, name: &str, dest: &Destination, msg: &Message) -> Delivery {
    if let Some(url) = &dest.webhook {
        let body = match serde_json::to_string(msg) {
            Ok(b) => b,
            Err(e) => return failed(name, e.to_string()),
        };
        let agent = ureq::AgentBuilder::new().timeout(TIMEOUT).build();
        return with_retries(config, name, || {
            agent
                .post(url)
                .set("Content-Type", "application/json")
                .send_string(&body)
                .map(|_| ())
                .map_err(|e| match e {
                    ureq::Error::Status(code, _) => format!("{url} answered HTTP {code}"),
                    other => format!("{url}: {other}"),
                })
        });
    }
    let subject = format!("[opintel] {}: {}", msg.alert, msg.summary);
    let mut text = format!("{}\n\n{}\nAs of {}.\n", msg.alert, msg.summary, msg.as_of);
    if let Some(d) = &msg.detail {
        text.push_str(&format!("{d}\n"));
    }
    text.push_str(&format!(
        "\nReport: {}\nRule: {}\n",
        msg.report, msg.condition
    ));
    let html = match render(ALERT_HTML, minijinja::context! { m => msg }) {
        Ok(h) => h,
        Err(e) => return failed(name, e),
    };
    mail(config, name, dest, &dest.to, &subject, text, html)
}

/// One owner's digest of exceptions past SLA.
pub fn digest(
    config: &Config,
    dest: &Destination,
    address: &str,
    owner: &str,
    rows: &[&(String, String, String, String, f64)],
    facts: &RunFacts,
) -> Delivery {
    let subject = format!(
        "[opintel] {owner}: {} exception{} past SLA ({})",
        rows.len(),
        if rows.len() == 1 { "" } else { "s" },
        facts.as_of
    );
    let mut text = format!(
        "Open exceptions owned by {owner} that are past their SLA at the end of {}:\n\n",
        facts.as_of
    );
    for (_, id, kind, severity, age) in rows {
        text.push_str(&format!("- {id}  {kind}  {severity}  {age:.0} h\n"));
    }
    text.push_str(&format!("\nReport: {}\n", facts.report));
    let html = match render(
        DIGEST_HTML,
        minijinja::context! { owner => owner, as_of => &facts.as_of, report => &facts.report, rows => rows },
    ) {
        Ok(h) => h,
        Err(e) => return failed(address, e),
    };
    mail(
        config,
        address,
        dest,
        &[address.to_string()],
        &subject,
        text,
        html,
    )
}

fn mail(
    config: &Config,
    name: &str,
    dest: &Destination,
    to: &[String],
    subject: &str,
    text: String,
    html: String,
) -> Delivery {
    let Some(server) = &dest.smtp else {
        return failed(name, "neither webhook nor smtp is set".into());
    };
    let from: Mailbox = match dest.from.as_deref().unwrap_or("opintel@localhost").parse() {
        Ok(m) => m,
        Err(e) => return failed(name, format!("from: {e}")),
    };
    let mut builder = lettre::Message::builder().from(from).subject(subject);
    for t in to {
        match t.parse::<Mailbox>() {
            Ok(m) => builder = builder.to(m),
            Err(e) => return failed(name, format!("to {t:?}: {e}")),
        }
    }
    let message = match builder.multipart(MultiPart::alternative_plain_html(text, html)) {
        Ok(m) => m,
        Err(e) => return failed(name, e.to_string()),
    };
    let (tls_from_start, hostport) = match server.strip_prefix("smtps://") {
        Some(rest) => (true, rest),
        None => (false, server.strip_prefix("smtp://").unwrap_or(server)),
    };
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) => match p.parse::<u16>() {
            Ok(p) => (h.to_string(), p),
            Err(_) => return failed(name, format!("{server}: {p:?} is not a port")),
        },
        None => (hostport.to_string(), if tls_from_start { 465 } else { 25 }),
    };
    let params = match TlsParameters::new(host.clone()) {
        Ok(p) => p,
        Err(e) => return failed(name, e.to_string()),
    };
    let mut transport = SmtpTransport::builder_dangerous(&host)
        .port(port)
        .timeout(Some(TIMEOUT))
        .tls(if tls_from_start {
            Tls::Wrapper(params)
        } else {
            Tls::Opportunistic(params)
        });
    if let Some(user) = &dest.username {
        let password = dest
            .password_env
            .as_ref()
            .and_then(|v| std::env::var(v).ok())
            .unwrap_or_default();
        transport = transport.credentials(Credentials::new(user.clone(), password));
    }
    let transport = transport.build();
    with_retries(config, name, || {
        transport
            .send(&message)
            .map(|_| ())
            .map_err(|e| format!("{server}: {e}"))
    })
}

fn failed(name: &str, e: String) -> Delivery {
    Delivery {
        destination: name.to_string(),
        status: DeliveryStatus::Failed,
        attempts: 0,
        error: Some(e),
    }
}

/// The HTML part of an alert mail (auto-escaped: the template's name ends in .html).
const ALERT_HTML: &str = r#"<!doctype html><html><body style="font-family:sans-serif">
<h2>{{ m.alert }}</h2>
<p><strong>{{ m.summary }}</strong><br>As of {{ m.as_of }}.</p>
{% if m.detail %}<p>{{ m.detail }}</p>{% endif %}
<p>Report: <code>{{ m.report }}</code><br><small>Rule: <code>{{ m.condition }}</code></small></p>
</body></html>
"#;

/// The HTML part of an owner's digest.
const DIGEST_HTML: &str = r#"<!doctype html><html><body style="font-family:sans-serif">
<p>Open exceptions owned by <strong>{{ owner }}</strong> that are past their SLA at the end of {{ as_of }}:</p>
<table border="1" cellpadding="4" style="border-collapse:collapse">
<tr><th>exception</th><th>type</th><th>severity</th><th>age (h)</th></tr>
{% for r in rows %}<tr><td>{{ r[1] }}</td><td>{{ r[2] }}</td><td>{{ r[3] }}</td><td align="right">{{ r[4] | round }}</td></tr>
{% endfor %}</table>
<p>Report: <code>{{ report }}</code></p>
</body></html>
"#;

fn render(source: &str, ctx: minijinja::Value) -> Result<String, String> {
    let mut env = minijinja::Environment::new();
    env.add_template("mail.html", source)
        .map_err(|e| e.to_string())?;
    env.get_template("mail.html")
        .and_then(|t| t.render(ctx))
        .map_err(|e| e.to_string())
}
