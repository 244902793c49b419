//! The page skeleton: head (CSS, security policy), header, warnings banner, tiles,
//! then the sections of `sections`. Print and narrow-screen layouts are in the CSS.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::Path;

use super::frame::Frame;
use super::sections;
use super::tiles::{self, TILES, Tile};
use super::{Page, theme};
use crate::error::Result;
use crate::manifest::FeedState;

/// Escape text for HTML element content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

pub(super) fn render(dir: &Path, page: &Page) -> Result<String> {
    let m = page.manifest;
    let cfg = &page.config.report;
    let mut h = String::with_capacity(256 << 10);
    let _ = write!(
        h,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">\
         <title>{title} — {as_of}</title><style>{vars}{css}</style></head><body>\
         <header><h1>{title}</h1><p class=\"sub\">As of <strong>{as_of}</strong> · \
         window {start} to {as_of} ({days} days, {tz}) · generated {generated}</p></header>",
        title = escape(&cfg.title),
        as_of = escape(&m.as_of),
        start = escape(&m.window_start),
        days = m.window_days,
        tz = escape(&m.reporting_time_zone),
        generated = escape(
            &m.started_at
                .chars()
                .take(16)
                .collect::<String>()
                .replace('T', " ")
        ),
        vars = theme::css_vars(),
        css = CSS,
    );
    h.push_str(&banner(page));
    let tiles = build_tiles(page);
    h.push_str("<section class=\"tiles\" aria-label=\"Key figures\">");
    for t in &tiles {
        h.push_str(&tile_html(t, &cfg.currency, m.window_days));
    }
    h.push_str("</section>");
    let charts_dir = dir.join("charts");
    h.push_str(&sections::fill(page, &charts_dir, &tiles)?);
    h.push_str(&sections::exceptions(page, &charts_dir)?);
    h.push_str(&sections::inventory(page, &charts_dir)?);
    h.push_str(&sections::suppliers(page, &charts_dir)?);
    h.push_str(&sections::count_today(page));
    h.push_str(&sections::user_kpis(page, &charts_dir)?);
    h.push_str(&sections::quality(page));
    h.push_str(&sections::definitions(page));
    let _ = writeln!(
        h,
        "<footer>opintel {} · DataFusion {} · KPI tables in <code>kpis/</code>, charts in <code>charts/</code>, \
         run details in <code>manifest.json</code>.</footer></body></html>",
        escape(&m.opintel_version),
        escape(&m.datafusion_version)
    );
    Ok(h)
}

/// Warnings an executive must see before any number.
fn banner(page: &Page) -> String {
    let m = page.manifest;
    let mut items = Vec::new();
    for f in &m.freshness {
        match f.state {
            FeedState::Stale => items.push(format!(
                "<strong>{}</strong> is stale: its newest data is {} old (expected within {}). KPIs using it may be incomplete.",
                escape(&f.table),
                super::format::hours(f.age_hours.unwrap_or(0.0)),
                super::format::hours(f.max_age_hours.unwrap_or(0.0))
            )),
            FeedState::Missing => items.push(format!(
                "<strong>{}</strong> has no data up to this date: KPIs using it are empty or incomplete.",
                escape(&f.table)
            )),
            _ => {}
        }
    }
    // Late sites: group by warehouse the tables in which it trails the others.
    let mut late: std::collections::BTreeMap<&str, Vec<(&str, Option<f64>)>> = Default::default();
    for f in &m.freshness {
        for l in &f.lagging {
            late.entry(l.warehouse_id.as_str())
                .or_default()
                .push((f.table.as_str(), l.behind_hours));
        }
    }
    for (w, tables) in late {
        let names: Vec<String> = tables
            .iter()
            .map(|(t, h)| match h {
                Some(h) => format!("{} ({} behind)", escape(t), super::format::hours(*h)),
                None => escape(t),
            })
            .collect();
        items.push(format!(
            "<strong>{}</strong> is late: its newest {} trail the other warehouses'. Its latest days are provisional.",
            escape(w),
            names.join(", ")
        ));
    }
    for k in m.kpis.iter().filter(|k| k.error.is_some()) {
        items.push(format!(
            "The KPI <strong>{}</strong> could not be computed (see Data quality).",
            escape(&k.name)
        ));
    }
    if let Some(ing) = &m.ingest {
        let failed = ing.failed().count();
        if failed > 0 {
            items.push(format!(
                "{failed} export file{} could not be read and {} not in these numbers (see Data quality).",
                if failed == 1 { "" } else { "s" },
                if failed == 1 { "is" } else { "are" }
            ));
        }
    }
    if items.is_empty() {
        return "<p class=\"allclear\">✓ Every feed is fresh and every KPI computed.</p>".into();
    }
    let mut h = String::from(
        "<div class=\"banner\" role=\"alert\"><p><strong>Read with care:</strong></p><ul>",
    );
    for i in items {
        let _ = write!(h, "<li>{i}</li>");
    }
    h.push_str("</ul></div>");
    h
}

pub(super) fn build_tiles(page: &Page) -> Vec<Tile> {
    let now = tiles::values(&page.frames());
    let prev = tiles::values(&page.extras.previous);
    let daily_fill = page.frame("fill_rate");
    let weekly: Vec<_> = page
        .extras
        .weekly
        .iter()
        .map(|(end, frames)| {
            let mut frames = frames.clone();
            if let Some(f) = &daily_fill {
                // The week's due dates, as known at the end of the as-of date.
                let first = (*end - chrono::Duration::days(6)).to_string();
                let last = end.to_string();
                let dates = f.text("due_date");
                let week = f.filter(|i| {
                    dates[i]
                        .as_deref()
                        .is_some_and(|d| d >= first.as_str() && d <= last.as_str())
                });
                frames.insert("fill_rate".to_string(), week);
            }
            tiles::values(&frames)
        })
        .collect();
    TILES
        .iter()
        .map(|def| {
            let trend = weekly
                .iter()
                .map(|w| w.get(def.key).copied().flatten())
                .collect();
            Tile::build(
                def,
                now.get(def.key).copied().flatten(),
                prev.get(def.key).copied().flatten(),
                trend,
                page.config.report.tiles.get(def.key),
            )
        })
        .collect()
}

fn tile_html(t: &Tile, currency: &str, days: u32) -> String {
    let value = t.value.map_or("–".to_string(), |v| t.shown(v, currency));
    let raw = t
        .value
        .map_or(String::new(), |v| format!(" data-value=\"{v}\""));
    let target = t
        .target
        .map(|v| format!(" · target {}", escape(&t.shown(v, currency))))
        .unwrap_or_default();
    let change = match t.change(currency) {
        Some((text, good)) => {
            let class = match good {
                Some(true) => "good",
                Some(false) => "bad",
                None => "flat",
            };
            format!(
                "<p class=\"t-change {class}\">{} <span>vs previous {days} days</span></p>",
                escape(&text)
            )
        }
        None => {
            "<p class=\"t-change flat\"><span>no full previous window to compare</span></p>".into()
        }
    };
    format!(
        "<div class=\"tile {cls}\" data-tile=\"{key}\"><p class=\"t-title\">{title}</p>\
         <p class=\"t-value\"{raw}>{value}</p><p class=\"t-help\">{help}</p>\
         <p class=\"t-status\"><span class=\"badge {cls}\">{label}</span>{target}</p>{change}{spark}</div>",
        cls = t.status.class(),
        key = t.key,
        title = escape(t.title),
        help = escape(t.help),
        label = t.status.label(),
        spark = sparkline(&t.trend),
    )
}

/// A tiny inline trend line of the weekly values (oldest left).
fn sparkline(points: &[Option<f64>]) -> String {
    let vals: Vec<(usize, f64)> = points
        .iter()
        .enumerate()
        .filter_map(|(i, v)| v.map(|v| (i, v)))
        .collect();
    if vals.len() < 2 {
        return String::new();
    }
    let (w, h, pad) = (120.0, 28.0, 3.0);
    let lo = vals.iter().map(|p| p.1).fold(f64::MAX, f64::min);
    let hi = vals.iter().map(|p| p.1).fold(f64::MIN, f64::max);
    let span = if hi > lo { hi - lo } else { 1.0 };
    let n = (points.len() - 1).max(1) as f64;
    let coords: Vec<(f64, f64)> = vals
        .iter()
        .map(|&(i, v)| {
            let x = pad + (w - 2.0 * pad) * i as f64 / n;
            let y = if hi > lo {
                h - pad - (h - 2.0 * pad) * (v - lo) / span
            } else {
                h / 2.0
            };
            (x, y)
        })
        .collect();
    let path: Vec<String> = coords
        .iter()
        .map(|(x, y)| format!("{x:.1},{y:.1}"))
        .collect();
    let (lx, ly) = coords[coords.len() - 1];
    format!(
        "<svg class=\"spark\" viewBox=\"0 0 {w} {h}\" width=\"{w}\" height=\"{h}\" role=\"img\" aria-label=\"trend over the last {} weeks\">\
         <polyline fill=\"none\" stroke=\"currentColor\" stroke-width=\"1.8\" points=\"{}\"/>\
         <circle cx=\"{lx:.1}\" cy=\"{ly:.1}\" r=\"2.4\" fill=\"currentColor\"/></svg>",
        points.len(),
        path.join(" ")
    )
}

/// An HTML table from a frame: (column, header, kind) where kind formats the cell.
pub(super) fn table(
    f: &Frame,
    rows: &[usize],
    cols: &[(&str, &str, Cell)],
    currency: &str,
) -> String {
    let mut h = String::from("<div class=\"scroll\"><table><thead><tr>");
    for (_, head, kind) in cols {
        let _ = write!(h, "<th class=\"{}\">{}</th>", kind.align(), escape(head));
    }
    h.push_str("</tr></thead><tbody>");
    let nums: HashMap<&str, Vec<Option<f64>>> = cols
        .iter()
        .filter(|(_, _, k)| !matches!(k, Cell::Text | Cell::Code))
        .map(|(c, _, _)| (*c, f.num(c)))
        .collect();
    for &r in rows {
        h.push_str("<tr>");
        for (c, _, kind) in cols {
            let text = match kind {
                Cell::Text | Cell::Code => f.display(c, r),
                k => nums
                    .get(c)
                    .and_then(|v| v[r])
                    .map_or(String::new(), |v| k.format(v, currency)),
            };
            let _ = write!(h, "<td class=\"{}\">{}</td>", kind.align(), escape(&text));
        }
        h.push_str("</tr>");
    }
    h.push_str("</tbody></table></div>");
    h
}

/// How a table cell is formatted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Cell {
    Text,
    /// An identifier (warehouse, bin, SKU): text that never wraps.
    Code,
    Int,
    Num,
    Pct,
    Money,
    Hours,
}

impl Cell {
    fn align(self) -> &'static str {
        match self {
            Cell::Text => "l",
            Cell::Code => "l nw",
            _ => "r",
        }
    }
    fn format(self, v: f64, currency: &str) -> String {
        use super::format as f;
        match self {
            Cell::Text | Cell::Code => v.to_string(),
            Cell::Int => f::number(v, 0),
            Cell::Num => f::number(v, if v.fract() == 0.0 { 0 } else { 1 }),
            Cell::Pct => f::percent(v),
            Cell::Money => f::money(v, currency),
            Cell::Hours => f::hours(v),
        }
    }
}

const CSS: &str = r#"
*{box-sizing:border-box}
.nw{white-space:nowrap}
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;color:var(--text);margin:0 auto;max-width:78rem;padding:1.2rem 1.4rem 3rem;line-height:1.4;background:#fff}
header h1{font-size:1.7rem;margin:.2rem 0}
.sub{color:var(--muted);margin:.1rem 0 1rem}
h2{font-size:1.25rem;margin:2.2rem 0 .3rem;padding-top:.4rem;border-top:2px solid var(--grid)}
h3{font-size:1rem;margin:1.2rem 0 .4rem}
p.lead{color:var(--muted);margin:.1rem 0 .8rem;max-width:60rem}
.banner{background:#fff4e5;border-left:5px solid var(--watch);padding:.5rem 1rem;margin:.6rem 0 1rem}
.banner ul{margin:.2rem 0 .4rem 1.1rem;padding:0}
.allclear{color:var(--ok);margin:.4rem 0 1rem}
.tiles{display:grid;grid-template-columns:repeat(5,minmax(0,1fr));gap:.7rem}
.tile{border:1px solid var(--grid);border-top:5px solid var(--neutral);border-radius:6px;padding:.6rem .7rem;break-inside:avoid;page-break-inside:avoid}
.tile.ok{border-top-color:var(--ok)}.tile.watch{border-top-color:var(--watch)}.tile.act{border-top-color:var(--act)}
.tile p{margin:0}
.t-title{font-size:.82rem;font-weight:600;color:var(--muted);text-transform:uppercase;letter-spacing:.02em}
.t-value{font-size:1.7rem;font-weight:700;margin:.1rem 0 0}
.t-help{font-size:.78rem;color:var(--muted)}
.t-status{font-size:.8rem;margin-top:.35rem!important}
.badge{display:inline-block;font-size:.72rem;font-weight:700;padding:.05rem .4rem;border-radius:3px;color:#fff;background:var(--neutral)}
.badge.ok{background:var(--ok)}.badge.watch{background:var(--watch)}.badge.act{background:var(--act)}.badge.nodata{background:#a0aec0}
.t-change{font-size:.8rem;margin-top:.2rem!important;font-weight:600}
.t-change span{font-weight:400;color:var(--muted)}
.t-change.good{color:var(--ok)}.t-change.bad{color:var(--act)}.t-change.flat{color:var(--muted)}
.spark{display:block;margin-top:.3rem;color:var(--accent);max-width:100%;height:auto}
.grid2{display:grid;grid-template-columns:1fr 1fr;gap:1.2rem}
figure{margin:.4rem 0 1rem;break-inside:avoid;page-break-inside:avoid}
figure svg{display:block;width:100%;height:auto}
figcaption{font-size:.82rem;color:var(--muted);margin-top:.2rem}
.scroll{overflow-x:auto;-webkit-overflow-scrolling:touch}
table{border-collapse:collapse;font-size:.85rem;width:100%;font-variant-numeric:tabular-nums}
th,td{border-bottom:1px solid var(--grid);padding:.28rem .5rem;vertical-align:top}
th{background:#f5f7fa;font-weight:600;white-space:nowrap}
td.r,th.r{text-align:right;white-space:nowrap}td.l,th.l{text-align:left}
.empty{background:#f5f7fa;border:1px dashed #cbd2d9;padding:.8rem 1rem;color:var(--muted);border-radius:6px}
.st{font-weight:700}.st.fresh{color:var(--ok)}.st.stale,.st.missing{color:var(--act)}.st.unchecked{color:var(--muted)}
dl.defs{font-size:.9rem}dl.defs dt{font-weight:700;margin-top:.8rem}dl.defs dd{margin:.15rem 0 0 0;color:var(--text)}
dl.defs dd.cols{color:var(--muted);font-size:.85rem}
code{font-size:.85em;background:#f5f7fa;padding:0 .2em;border-radius:3px}
footer{margin-top:2.5rem;color:var(--muted);font-size:.8rem;border-top:1px solid var(--grid);padding-top:.6rem}
@media (max-width:1100px){.tiles{grid-template-columns:repeat(3,minmax(0,1fr))}}
@media (max-width:760px){.tiles{grid-template-columns:repeat(2,minmax(0,1fr))}.grid2{grid-template-columns:1fr}body{padding:.8rem}.t-value{font-size:1.45rem}}
@media (max-width:340px){.tiles{grid-template-columns:1fr}}
@page{margin:12mm}
@media print{body{max-width:none;padding:0;font-size:10pt}.tiles{grid-template-columns:repeat(5,minmax(0,1fr));gap:.4rem}.tile{padding:.35rem .45rem}.t-value{font-size:1.25rem}
h2,p.lead,h3{break-after:avoid;page-break-after:avoid}section{break-inside:auto}figure,.tile,table tr{break-inside:avoid;page-break-inside:avoid}
.grid2{grid-template-columns:1fr 1fr}.scroll{overflow:visible}.banner{border:1px solid var(--watch)}}
"#;
