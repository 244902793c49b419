//! The report's sections, one question each, in reading order.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::Path;

use chrono::NaiveDate;

use super::Page;
use super::chart::{self, Chart, HBars, Lines, StackedBars};
use super::format;
use super::frame::Frame;
use super::html::{Cell, escape, table};
use super::tiles::Tile;
use crate::error::Result;
use crate::kpi::Origin;
use crate::manifest::FeedState;

const AGE_BUCKETS: [&str; 6] = ["0-1d", "1-3d", "3-7d", "7-14d", "14-30d", "30d+"];

fn figure(c: &Chart) -> String {
    format!(
        "<figure id=\"chart-{}\">{}<figcaption><strong>{}.</strong> {}</figcaption></figure>",
        escape(&c.name),
        c.svg,
        escape(&c.title),
        escape(&c.caption)
    )
}

fn missing(what: &str) -> String {
    format!("<p class=\"empty\">{}</p>", escape(what))
}

/// Indices of rows sorted by `key` descending, first `n`.
fn top_rows(values: &[Option<f64>], n: usize) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..values.len()).collect();
    idx.sort_by(|&a, &b| {
        values[b]
            .unwrap_or(f64::MIN)
            .partial_cmp(&values[a].unwrap_or(f64::MIN))
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    idx.truncate(n);
    idx
}

pub(super) fn fill(page: &Page, charts: &Path, tiles: &[Tile]) -> Result<String> {
    let mut h = String::from(
        "<section id=\"fill\"><h2>Are we filling orders?</h2><p class=\"lead\">Units, lines and \
         orders due in the window that shipped in full, and on time in full (OTIF), by channel.</p>",
    );
    let Some(f) = page.frame("fill_rate") else {
        h.push_str(&missing("Fill rate could not be computed in this run."));
        h.push_str("</section>");
        return Ok(h);
    };
    let dates = f.text("due_date");
    let chans = f.text("channel");
    let demanded = f.num("units_demanded");
    let filled = f.num("units_filled");
    // Σ filled / Σ demanded per (channel, day).
    let mut by: BTreeMap<String, BTreeMap<NaiveDate, (f64, f64)>> = BTreeMap::new();
    for i in 0..f.rows() {
        let (Some(d), Some(c)) = (dates[i].as_deref(), chans[i].clone()) else {
            continue;
        };
        let Ok(day) = NaiveDate::parse_from_str(d, "%Y-%m-%d") else {
            continue;
        };
        let e = by.entry(c).or_default().entry(day).or_default();
        e.0 += filled[i].unwrap_or(0.0);
        e.1 += demanded[i].unwrap_or(0.0);
    }
    // Biggest channels first in the legend; at most six lines.
    let mut chans_sorted: Vec<(String, f64)> = by
        .iter()
        .map(|(c, d)| (c.clone(), d.values().map(|v| v.1).sum()))
        .collect();
    chans_sorted.sort_by(|a, b| b.1.partial_cmp(&a.1).unwrap_or(std::cmp::Ordering::Equal));
    let series = chans_sorted
        .iter()
        .take(6)
        .map(|(c, _)| {
            let pts = by[c]
                .iter()
                .filter(|(_, v)| v.1 > 0.0)
                .map(|(d, v)| (*d, v.0 / v.1))
                .collect();
            (c.clone(), pts)
        })
        .collect();
    let target = tiles
        .iter()
        .find(|t| t.key == "unit_fill_rate")
        .and_then(|t| t.target);
    let c = chart::render(
        charts,
        "fill_rate_by_channel",
        "Unit fill rate by channel",
        "Share of units due each day that shipped by the end of the as-of date; the dashed line is the target.",
        (860, 340),
        &Lines {
            series,
            percent: true,
            target,
            y_label: "unit fill rate".into(),
        },
    )?;
    h.push_str(&figure(&c));
    // Per channel summary.
    let lines = f.num("lines");
    let orders = f.num("orders");
    let lf = f.num("line_fill_rate");
    let of = f.num("order_fill_rate");
    let ot = f.num("otif_rate");
    let mut agg: BTreeMap<String, [f64; 6]> = BTreeMap::new();
    for i in 0..f.rows() {
        let Some(c) = chans[i].clone() else { continue };
        let a = agg.entry(c).or_default();
        let l = lines[i].unwrap_or(0.0);
        let o = orders[i].unwrap_or(0.0);
        a[0] += l;
        a[4] += of[i].unwrap_or(0.0) * o;
        a[1] += demanded[i].unwrap_or(0.0);
        a[2] += filled[i].unwrap_or(0.0);
        a[3] += lf[i].unwrap_or(0.0) * l;
        a[5] += ot[i].unwrap_or(0.0) * l;
    }
    let mut order_totals: HashMap<String, f64> = HashMap::new();
    for i in 0..f.rows() {
        if let Some(c) = chans[i].clone() {
            *order_totals.entry(c).or_default() += orders[i].unwrap_or(0.0);
        }
    }
    h.push_str(
        "<div class=\"scroll\"><table><thead><tr><th class=\"l\">Channel</th><th class=\"r\">Lines due</th>\
         <th class=\"r\">Units due</th><th class=\"r\">Unit fill</th><th class=\"r\">Line fill</th>\
         <th class=\"r\">Order fill</th><th class=\"r\">OTIF</th></tr></thead><tbody>",
    );
    for (c, a) in &agg {
        let o = order_totals.get(c).copied().unwrap_or(0.0);
        let pct = |n: f64, d: f64| {
            if d > 0.0 {
                format::percent(n / d)
            } else {
                "–".into()
            }
        };
        let _ = write!(
            h,
            "<tr><td class=\"l\">{}</td><td class=\"r\">{}</td><td class=\"r\">{}</td><td class=\"r\">{}</td>\
             <td class=\"r\">{}</td><td class=\"r\">{}</td><td class=\"r\">{}</td></tr>",
            escape(c),
            format::number(a[0], 0),
            format::number(a[1], 0),
            pct(a[2], a[1]),
            pct(a[3], a[0]),
            pct(a[4], o),
            pct(a[5], a[0])
        );
    }
    h.push_str("</tbody></table></div></section>");
    Ok(h)
}

pub(super) fn exceptions(page: &Page, charts: &Path) -> Result<String> {
    let mut h = String::from(
        "<section id=\"exceptions\"><h2>What is stuck, and for how long?</h2><p class=\"lead\">Exceptions \
         open at the end of the as-of date by age and type; red notes count those past their SLA.</p>",
    );
    let Some(f) = page.frame("exception_aging") else {
        h.push_str(&missing(
            "Exception aging could not be computed in this run.",
        ));
        h.push_str("</section>");
        return Ok(h);
    };
    let types = f.text("exception_type");
    let buckets = f.text("age_bucket");
    let open = f.num("open_count");
    let breached = f.num("breached_count");
    let mut per_type: BTreeMap<String, [f64; 6]> = BTreeMap::new();
    let mut breach = [0.0; 6];
    for i in 0..f.rows() {
        let Some(b) = buckets[i]
            .as_deref()
            .and_then(|b| AGE_BUCKETS.iter().position(|x| *x == b))
        else {
            continue;
        };
        let t = types[i].clone().unwrap_or_default();
        per_type.entry(t).or_default()[b] += open[i].unwrap_or(0.0);
        breach[b] += breached[i].unwrap_or(0.0);
    }
    let mut ranked: Vec<(String, [f64; 6])> = per_type.into_iter().collect();
    ranked.sort_by(|a, b| {
        b.1.iter()
            .sum::<f64>()
            .partial_cmp(&a.1.iter().sum::<f64>())
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    let mut stacks: Vec<(String, Vec<f64>)> = ranked
        .iter()
        .take(6)
        .map(|(t, v)| (t.replace('_', " "), v.to_vec()))
        .collect();
    if ranked.len() > 6 {
        let mut other = vec![0.0; 6];
        for (_, v) in &ranked[6..] {
            for (o, x) in other.iter_mut().zip(v) {
                *o += x;
            }
        }
        stacks.push((format!("other ({} types)", ranked.len() - 6), other));
    }
    let c = chart::render(
        charts,
        "exception_aging",
        "Open exceptions by age",
        "Each bar is the exceptions open at the end of the as-of date in that age bucket, stacked by type; the red note counts those past their SLA.",
        (860, 360),
        &StackedBars {
            categories: AGE_BUCKETS.iter().map(|s| s.to_string()).collect(),
            stacks,
            notes: breach
                .iter()
                .map(|&b| (b > 0.0).then(|| format!("{} breached", format::number(b, 0))))
                .collect(),
            y_label: "open exceptions".into(),
        },
    )?;
    h.push_str(&figure(&c));
    h.push_str("<h3>Oldest exceptions past their SLA</h3>");
    match page.frame("exception_backlog") {
        Some(b) => {
            let flags = b.text("breached");
            let breached = b.filter(|i| flags[i].as_deref() == Some("true"));
            if breached.rows() == 0 {
                h.push_str(&missing("No open exception is past its SLA."));
            } else {
                let rows: Vec<usize> =
                    top_rows(&breached.num("age_hours"), page.config.report.top_n);
                h.push_str(&table(
                    &breached,
                    &rows,
                    &[
                        ("exception_id", "Exception", Cell::Text),
                        ("exception_type", "Type", Cell::Text),
                        ("severity", "Severity", Cell::Text),
                        ("status", "Status", Cell::Text),
                        ("age_hours", "Age", Cell::Hours),
                        ("sla_hours", "SLA", Cell::Hours),
                        ("owner", "Owner", Cell::Text),
                        ("warehouse_id", "Warehouse", Cell::Text),
                        ("location_id", "Location", Cell::Text),
                        ("sku", "SKU", Cell::Text),
                    ],
                    &page.config.report.currency,
                ));
                let _ = write!(
                    h,
                    "<p class=\"lead\">{} of {} breached exceptions shown, oldest first; all are in <code>kpis/exception_backlog.csv</code>.</p>",
                    rows.len(),
                    format::number(breached.rows() as f64, 0)
                );
            }
        }
        None => h.push_str(&missing(
            "The exception backlog could not be computed in this run.",
        )),
    }
    h.push_str("</section>");
    Ok(h)
}

/// Top-N bars of a value by a label, the rest grouped as "Other (k)".
fn top_bars(
    labels: Vec<String>,
    values: Vec<f64>,
    n: usize,
    noun: &str,
) -> Vec<(String, Vec<f64>)> {
    let mut pairs: Vec<(String, f64)> = labels
        .into_iter()
        .zip(values)
        .filter(|(_, v)| *v > 0.0)
        .collect();
    pairs.sort_by(|a, b| {
        b.1.partial_cmp(&a.1)
            .unwrap_or(std::cmp::Ordering::Equal)
            .then_with(|| a.0.cmp(&b.0))
    });
    let mut rows: Vec<(String, Vec<f64>)> = pairs
        .iter()
        .take(n)
        .map(|(l, v)| (l.clone(), vec![*v]))
        .collect();
    if pairs.len() > n {
        let rest: f64 = pairs[n..].iter().map(|p| p.1).sum();
        rows.push((format!("Other ({} {noun})", pairs.len() - n), vec![rest]));
    }
    rows
}

fn money_label(v: f64) -> String {
    // Chart labels use the short form without a currency (the caption names it).
    format::money(v, "")
}

pub(super) fn inventory(page: &Page, charts: &Path) -> Result<String> {
    let cur = &page.config.report.currency;
    let n = page.config.report.top_n;
    let mut h = String::from(
        "<section id=\"inventory\"><h2>Where is the inventory wrong?</h2><p class=\"lead\">Cycle counts in the \
         window: how far the stock record was from the shelf, valued at unit cost, by zone and by the SKU's supplier.</p><div class=\"grid2\">",
    );
    for (name, key, title) in [
        (
            "count_variance_by_zone",
            "zone",
            "Count variance value by zone",
        ),
        (
            "count_variance_by_supplier",
            "supplier_id",
            "Count variance value by supplier",
        ),
    ] {
        match page.frame(name) {
            Some(f) => {
                let w = f.text("warehouse_id");
                let k = f.text(key);
                let labels = (0..f.rows())
                    .map(|i| {
                        format!(
                            "{} · {}",
                            w[i].clone().unwrap_or_default(),
                            k[i].clone().unwrap_or_default()
                        )
                    })
                    .collect();
                let values = f
                    .num("abs_variance_value")
                    .into_iter()
                    .map(|v| v.unwrap_or(0.0))
                    .collect();
                let c = chart::render(
                    charts,
                    name,
                    title,
                    &format!(
                        "Σ |counted − system| × unit cost in {}, top {n}; the grey bar groups the rest.",
                        cur.trim()
                    ),
                    (470, 400),
                    &HBars {
                        rows: top_bars(
                            labels,
                            values,
                            n,
                            if key == "zone" { "zones" } else { "suppliers" },
                        ),
                        stacks: vec!["variance value".into()],
                        value_label: money_label,
                        percent_axis: false,
                        colour: if key == "zone" { 0 } else { 2 },
                    },
                )?;
                h.push_str(&figure(&c));
            }
            None => h.push_str(&missing(&format!(
                "{title} could not be computed in this run."
            ))),
        }
    }
    h.push_str("</div><h3>Worst zones</h3>");
    match page.frame("count_variance_by_zone") {
        Some(f) if f.rows() > 0 => {
            let rows = top_rows(&f.num("abs_variance_value"), 5);
            h.push_str(&table(
                &f,
                &rows,
                &[
                    ("warehouse_id", "Warehouse", Cell::Text),
                    ("zone", "Zone", Cell::Text),
                    ("counts", "Counts", Cell::Int),
                    ("accuracy_rate", "Accuracy", Cell::Pct),
                    ("net_variance_units", "Net units", Cell::Num),
                    ("abs_variance_units", "|Units|", Cell::Num),
                    ("net_variance_value", "Net value", Cell::Money),
                    ("abs_variance_value", "|Value|", Cell::Money),
                ],
                cur,
            ));
        }
        _ => h.push_str(&missing("No cycle counts in the window.")),
    }
    h.push_str("</section>");
    Ok(h)
}

pub(super) fn suppliers(page: &Page, charts: &Path) -> Result<String> {
    let cur = &page.config.report.currency;
    let n = page.config.report.top_n;
    let mut h = String::from(
        "<section id=\"suppliers\"><h2>Which suppliers are behind it?</h2><p class=\"lead\">Receipt lines in the \
         window that arrived short, over or damaged, as a share of each supplier's lines: the suppliers with the most discrepant lines.</p>",
    );
    let Some(f) = page.frame("supplier_receipt_accuracy") else {
        h.push_str(&missing(
            "Supplier receipt accuracy could not be computed in this run.",
        ));
        h.push_str("</section>");
        return Ok(h);
    };
    let ids = f.text("supplier_id");
    let names = f.text("supplier_name");
    let lines = f.num("receipt_lines");
    let short = f.num("short_lines");
    let over = f.num("over_lines");
    let dmg = f.num("damaged_lines");
    let bad: Vec<Option<f64>> = (0..f.rows())
        .map(|i| Some(short[i].unwrap_or(0.0) + over[i].unwrap_or(0.0) + dmg[i].unwrap_or(0.0)))
        .collect();
    let top = top_rows(&bad, n);
    let mut rows: Vec<(String, Vec<f64>)> = top
        .iter()
        .filter(|&&i| bad[i].unwrap_or(0.0) > 0.0)
        .map(|&i| {
            let l = lines[i].unwrap_or(0.0).max(1.0);
            let label = match (&names[i], &ids[i]) {
                (Some(nm), Some(id)) => format!("{id} · {nm}"),
                (None, Some(id)) => id.clone(),
                _ => String::new(),
            };
            (
                label,
                vec![
                    short[i].unwrap_or(0.0) / l,
                    over[i].unwrap_or(0.0) / l,
                    dmg[i].unwrap_or(0.0) / l,
                ],
            )
        })
        .collect();
    // The suppliers with the most discrepant lines, shown worst share first.
    rows.sort_by(|a, b| {
        let (x, y): (f64, f64) = (a.1.iter().sum(), b.1.iter().sum());
        y.partial_cmp(&x).unwrap_or(std::cmp::Ordering::Equal)
    });
    let c = chart::render(
        charts,
        "supplier_scorecard",
        "Supplier receipt scorecard",
        "Share of each supplier's receipt lines in the window that were short, over or damaged (a line can be both short and damaged).",
        (860, 380),
        &HBars {
            rows,
            stacks: vec!["short".into(), "over".into(), "damaged".into()],
            value_label: format::percent,
            percent_axis: true,
            colour: 0,
        },
    )?;
    h.push_str(&figure(&c));
    h.push_str("<h3>Suppliers with the most discrepant lines</h3>");
    let top5: Vec<usize> = top
        .into_iter()
        .take(5)
        .filter(|&i| bad[i].unwrap_or(0.0) > 0.0)
        .collect();
    if top5.is_empty() {
        h.push_str(&missing("No receipt discrepancies in the window."));
    } else {
        h.push_str(&table(
            &f,
            &top5,
            &[
                ("supplier_id", "Supplier", Cell::Text),
                ("supplier_name", "Name", Cell::Text),
                ("receipt_lines", "Lines", Cell::Int),
                ("short_lines", "Short", Cell::Int),
                ("over_lines", "Over", Cell::Int),
                ("damaged_lines", "Damaged", Cell::Int),
                ("accuracy_rate", "Accuracy", Cell::Pct),
                ("on_time_rate", "On time", Cell::Pct),
            ],
            cur,
        ));
    }
    h.push_str("</section>");
    Ok(h)
}

pub(super) fn count_today(page: &Page) -> String {
    let mut h = String::from(
        "<section id=\"count\"><h2>What we count today</h2><p class=\"lead\">The SKU-locations most likely to \
         have a wrong stock record, ranked, with the signals behind each.</p>",
    );
    match page.frame("count_priority") {
        Some(f) if f.rows() > 0 => {
            let rows: Vec<usize> = (0..f.rows().min(page.config.report.top_n * 2)).collect();
            h.push_str(&table(
                &f,
                &rows,
                &[
                    ("rank", "#", Cell::Int),
                    ("warehouse_id", "Warehouse", Cell::Code),
                    ("location_id", "Location", Cell::Code),
                    ("sku", "SKU", Cell::Code),
                    ("score", "Score", Cell::Num),
                    ("reasons", "Why", Cell::Text),
                ],
                &page.config.report.currency,
            ));
            let _ = write!(
                h,
                "<p class=\"lead\">The full list ({} rows) is in <code>kpis/count_priority.csv</code>.</p>",
                f.rows()
            );
        }
        Some(_) => h.push_str(&missing("No SKU-location needs a count today.")),
        None => h.push_str(&missing(
            "The cycle-count priority list is not part of this run; count by your usual schedule.",
        )),
    }
    h.push_str(&backtest(page));
    h.push_str("</section>");
    h
}

/// Does the list earn its keep? The nightly backtest, score against the baselines.
fn backtest(page: &Page) -> String {
    let Some(f) = page.frame(crate::priority::BACKTEST_TABLE) else {
        return String::new();
    };
    if f.rows() == 0 {
        return String::new();
    }
    let (method, k, prec, hits) = (
        f.text("method"),
        f.num("k"),
        f.num("precision"),
        f.num("hits"),
    );
    let as_of = f
        .text("as_of")
        .first()
        .cloned()
        .flatten()
        .unwrap_or_default();
    let horizon = f
        .num("horizon_days")
        .first()
        .copied()
        .flatten()
        .unwrap_or(0.0);
    let positives = f.num("positives").first().copied().flatten().unwrap_or(0.0);
    let at = |m: &str, kk: f64| {
        (0..f.rows())
            .find(|&i| method[i].as_deref() == Some(m) && k[i] == Some(kk))
            .map(|i| (prec[i].unwrap_or(0.0), hits[i].unwrap_or(0.0)))
    };
    fn label(m: &str) -> &str {
        match m {
            "score" => "This list",
            "random" => "Random bins",
            "abc_overdue" => "ABC schedule (most overdue first)",
            "rule_ladder" => "Rule ladder (negative stock, never counted / overdue by ABC)",
            "largest_last_variance" => "Largest last variance",
            other => other,
        }
    }
    let mut h = String::new();
    let _ = write!(
        h,
        "<h3>Does the list earn its keep?</h3><p class=\"lead\">The list as it would have been ranked on {} \
         (from the data up to then only), against what the next {} days revealed: {} SKU-locations were found \
         off at a count or needed a correcting adjustment. Share of the top k that were (and how many):</p>",
        escape(&as_of),
        format::number(horizon, 0),
        format::number(positives, 0)
    );
    h.push_str("<div class=\"scroll\"><table><thead><tr><th class=\"l\">Ranking</th>");
    for kk in crate::priority::KS {
        let _ = write!(h, "<th class=\"r\">Top {kk}</th>");
    }
    h.push_str("</tr></thead><tbody>");
    let mut seen: Vec<&str> = Vec::new();
    for m in method.iter().flatten() {
        if seen.contains(&m.as_str()) {
            continue;
        }
        seen.push(m);
        let _ = write!(
            h,
            "<tr><td class=\"l\">{}</td>",
            if m == "score" {
                format!("<strong>{}</strong>", escape(label(m)))
            } else {
                escape(label(m))
            }
        );
        for kk in crate::priority::KS {
            match at(m, kk as f64) {
                Some((p, n)) => {
                    let _ = write!(
                        h,
                        "<td class=\"r\">{} ({})</td>",
                        format::percent(p),
                        format::number(n, 0)
                    );
                }
                None => h.push_str("<td class=\"r\">–</td>"),
            }
        }
        h.push_str("</tr>");
    }
    h.push_str("</tbody></table></div>");
    h
}

/// KPIs added by the user's queries folder: a chart when the header has a `-- chart:`
/// line (see `user_chart`), and the top rows as a table.
pub(super) fn user_kpis(page: &Page, charts: &Path) -> Result<String> {
    let user: Vec<_> = page
        .results
        .iter()
        .filter(|r| matches!(r.query.origin, Origin::User(_)))
        .filter(|r| !is_builtin_section(&r.query.name))
        .collect();
    if user.is_empty() {
        return Ok(String::new());
    }
    let mut h = String::from("<section id=\"more\"><h2>More KPIs</h2>");
    for r in user {
        let _ = write!(
            h,
            "<h3>{}</h3><p class=\"lead\">{}</p>",
            escape(if r.query.header.title.is_empty() {
                &r.query.name
            } else {
                &r.query.header.title
            }),
            escape(&r.query.header.description)
        );
        match &r.outcome {
            Ok(b) => {
                let f = Frame::new(&r.schema, b);
                if let Some(spec) = &r.query.header.chart {
                    let title = if r.query.header.title.is_empty() {
                        &r.query.name
                    } else {
                        &r.query.header.title
                    };
                    let drawn = super::user_chart::parse(spec)
                        .map_err(crate::error::Error::Data)
                        .and_then(|spec| {
                            super::user_chart::render(
                                charts,
                                &format!("kpi_{}", r.query.name),
                                title,
                                &spec,
                                &f,
                                page.config.report.top_n,
                            )
                        });
                    match drawn {
                        Ok(c) => h.push_str(&figure(&c)),
                        Err(e) => h.push_str(&missing(&format!(
                            "The chart of this KPI could not be drawn: {e}"
                        ))),
                    }
                }
                let cols: Vec<String> = f.columns();
                let spec: Vec<(&str, &str, Cell)> = cols
                    .iter()
                    .map(|c| (c.as_str(), c.as_str(), Cell::Text))
                    .collect();
                let rows: Vec<usize> = (0..f.rows().min(page.config.report.top_n * 2)).collect();
                h.push_str(&table(&f, &rows, &spec, &page.config.report.currency));
            }
            Err(e) => h.push_str(&missing(&format!("This KPI failed: {e}"))),
        }
    }
    h.push_str("</section>");
    Ok(h)
}

fn is_builtin_section(name: &str) -> bool {
    [
        "fill_rate",
        "exception_aging",
        "exception_backlog",
        "count_variance_by_zone",
        "count_variance_by_supplier",
        "supplier_receipt_accuracy",
        "count_priority",
        crate::priority::BACKTEST_TABLE,
    ]
    .contains(&name)
}

pub(super) fn quality(page: &Page) -> String {
    let m = page.manifest;
    let mut h = String::from(
        "<section id=\"quality\"><h2>Can these numbers be trusted?</h2><p class=\"lead\">Rows this run took in \
         per feed, rows refused and why, and how recent each feed's data is at the end of the as-of date.</p>",
    );
    let ingest: HashMap<&str, &crate::ingest::TableSummary> = m
        .ingest
        .as_ref()
        .map(|r| r.tables.iter().map(|t| (t.table.as_str(), t)).collect())
        .unwrap_or_default();
    if m.ingest.is_none() {
        h.push_str("<p class=\"lead\">No files were ingested in this run; the counts below are empty and freshness comes from the lake.</p>");
    }
    h.push_str(
        "<div class=\"scroll\"><table><thead><tr><th class=\"l\">Feed</th><th class=\"r\">Accepted</th>\
         <th class=\"r\">Rejected</th><th class=\"r\">Duplicates</th><th class=\"l\">Newest data</th>\
         <th class=\"l\">State</th><th class=\"l\">Top reject reasons</th></tr></thead><tbody>",
    );
    for f in &m.freshness {
        let t = ingest.get(f.table.as_str());
        let n = |v: Option<u64>| v.map_or("–".into(), |x| format::number(x as f64, 0));
        let (state, label) = match f.state {
            FeedState::Fresh => ("fresh", "fresh".to_string()),
            FeedState::Stale => (
                "stale",
                format!("stale: {} old", format::hours(f.age_hours.unwrap_or(0.0))),
            ),
            FeedState::Missing => ("missing", "no data".to_string()),
            FeedState::Unchecked => ("unchecked", "not checked".to_string()),
        };
        let reasons = t
            .map(|t| {
                t.top_reject_reasons
                    .iter()
                    .take(3)
                    .map(|r| {
                        // The fix-it hint in parentheses is for the manifest, not the page.
                        let short = r.reason.split(" (").next().unwrap_or(&r.reason);
                        format!("{} × {}", format::number(r.rows as f64, 0), escape(short))
                    })
                    .collect::<Vec<_>>()
                    .join("<br>")
            })
            .unwrap_or_default();
        let _ = write!(
            h,
            "<tr><td class=\"l\">{}</td><td class=\"r\">{}</td><td class=\"r\">{}</td><td class=\"r\">{}</td>\
             <td class=\"l\">{}</td><td class=\"l\"><span class=\"st {state}\">{}</span></td><td class=\"l\">{reasons}</td></tr>",
            escape(&f.table),
            n(t.map(|t| t.accepted)),
            n(t.map(|t| t.rejected)),
            n(t.map(|t| t.duplicates)),
            escape(
                &f.newest
                    .clone()
                    .unwrap_or_else(|| "–".into())
                    .replace('T', " ")
                    .replace('Z', " UTC")
            ),
            escape(&label),
        );
    }
    h.push_str("</tbody></table></div>");
    if let Some(r) = &m.ingest {
        let bad: Vec<_> = r
            .files
            .iter()
            .filter(|f| {
                matches!(
                    f.status,
                    crate::ingest::FileStatus::Failed | crate::ingest::FileStatus::Partial
                )
            })
            .collect();
        if !bad.is_empty() {
            h.push_str("<h3>Files not (fully) read</h3><ul>");
            for f in bad {
                let _ = write!(
                    h,
                    "<li><code>{}</code>: {}</li>",
                    escape(&f.path),
                    escape(&f.message)
                );
            }
            h.push_str("</ul>");
        }
    }
    let failed: Vec<_> = m.kpis.iter().filter(|k| k.error.is_some()).collect();
    if !failed.is_empty() {
        h.push_str("<h3>KPIs that failed</h3><ul>");
        for k in failed {
            let _ = write!(
                h,
                "<li><strong>{}</strong>: {}</li>",
                escape(&k.name),
                escape(k.error.as_deref().unwrap_or(""))
            );
        }
        h.push_str("</ul>");
    }
    h.push_str(&checks(page));
    h.push_str("</section>");
    h
}

/// The data checks of this run: how many passed, and each one that found rows.
fn checks(page: &Page) -> String {
    let all = &page.manifest.checks;
    if all.is_empty() {
        return String::new();
    }
    let passed = all.iter().filter(|c| c.passed()).count();
    let mut h = format!(
        "<h3>Data checks</h3><p class=\"lead\">{passed} of {} checks found nothing wrong (<code>queries/checks</code>).</p>",
        all.len()
    );
    let bad: Vec<_> = all.iter().filter(|c| !c.passed()).collect();
    if !bad.is_empty() {
        h.push_str("<ul>");
        for c in bad {
            let what = match &c.error {
                Some(e) => format!("could not run: {e}"),
                None => format!(
                    "{} row{} break{} it",
                    format::number(c.violations as f64, 0),
                    if c.violations == 1 { "" } else { "s" },
                    if c.violations == 1 { "s" } else { "" }
                ),
            };
            let _ = write!(
                h,
                "<li><strong>{}</strong> ({}): {}. {}</li>",
                escape(if c.title.is_empty() {
                    &c.name
                } else {
                    &c.title
                }),
                escape(&c.name),
                escape(&what),
                escape(&c.description)
            );
        }
        h.push_str("</ul>");
    }
    h
}

pub(super) fn definitions(page: &Page) -> String {
    let mut h = String::from(
        "<section id=\"definitions\"><h2>Definitions</h2><p class=\"lead\">From the header of each KPI's \
         query file; every table is in <code>kpis/</code> as Parquet and CSV.</p><dl class=\"defs\">",
    );
    for r in page.results {
        let q = &r.query;
        let cols = q
            .header
            .columns
            .iter()
            .map(|(c, d)| {
                if d.is_empty() {
                    escape(c)
                } else {
                    format!("<code>{}</code> {}", escape(c), escape(d))
                }
            })
            .collect::<Vec<_>>()
            .join("; ");
        let _ = write!(
            h,
            "<dt>{} <code>{}</code></dt><dd>{}</dd><dd class=\"cols\">Grain: {}. Columns: {}</dd>",
            escape(if q.header.title.is_empty() {
                &q.name
            } else {
                &q.header.title
            }),
            escape(&q.name),
            escape(&q.header.description),
            escape(&q.header.grain),
            cols
        );
    }
    h.push_str("<dt>Tiles</dt><dd>Each tile is computed from one KPI table over the window: unit fill rate = Σ units_filled / Σ units_demanded; \
        line fill and OTIF = line-weighted means; order fill = order-weighted mean (fill_rate); open exceptions and SLA breaches = Σ open_count and \
        Σ breached_count (exception_aging); record accuracy = Σ accurate_counts / Σ counts and count variance value = Σ abs_variance_value \
        (count_variance_by_zone); receipt accuracy = line-weighted accuracy_rate (supplier_receipt_accuracy); return to stock = the network median \
        (return_to_stock, row ALL). The change compares with the same figure for the previous window; the trend line shows the same figure for each \
        of the last weeks.</dd></dl></section>");
    h
}
