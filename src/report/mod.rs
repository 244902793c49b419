//! The report folder's `index.html`: one self-contained page (no external request of
//! any kind) listing every KPI table with its definition. Every value from the data
//! is HTML-escaped.

use std::fmt::Write as _;
use std::path::Path;

use datafusion::arrow::array::ArrayRef;

use crate::error::{Result, io_at};
use crate::kpi::KpiResult;
use crate::manifest::Manifest;

/// Rows of each KPI table shown on the page (the files hold them all).
const ROWS_SHOWN: usize = 50;

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

/// Write `index.html` into `dir`.
pub fn write_html(dir: &Path, manifest: &Manifest, results: &[KpiResult]) -> Result<()> {
    let mut h = String::new();
    let _ = write!(
        h,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>opintel — {as_of}</title><style>{css}</style></head><body>\
         <h1>Operations report — {as_of}</h1>\
         <p class=\"meta\">Window {start} to {as_of} ({days} days, {tz}). Status: {status:?}.</p>",
        as_of = escape(&manifest.as_of),
        start = escape(&manifest.window_start),
        days = manifest.window_days,
        tz = escape(&manifest.reporting_time_zone),
        status = manifest.status,
        css = CSS,
    );
    for w in &manifest.warnings {
        let _ = write!(h, "<p class=\"warn\">⚠ {}</p>", escape(w));
    }
    for r in results {
        let q = &r.query;
        let _ = write!(
            h,
            "<section><h2 id=\"{id}\">{title}</h2><p>{desc}</p><p class=\"meta\">Grain: {grain}. \
             Files: <code>kpis/{id}.parquet</code>, <code>kpis/{id}.csv</code>.</p>",
            id = escape(&q.name),
            title = escape(if q.header.title.is_empty() {
                &q.name
            } else {
                &q.header.title
            }),
            desc = escape(&q.header.description),
            grain = escape(&q.header.grain),
        );
        match &r.outcome {
            Err(e) => {
                let _ = write!(h, "<p class=\"warn\">This KPI failed: {}</p>", escape(e));
            }
            Ok(batches) => {
                let rows = r.rows();
                h.push_str("<div class=\"scroll\"><table><thead><tr>");
                if let Some(b) = batches.first() {
                    for f in b.schema().fields() {
                        let _ = write!(h, "<th>{}</th>", escape(f.name()));
                    }
                }
                h.push_str("</tr></thead><tbody>");
                let mut shown = 0;
                'outer: for b in batches {
                    for row in 0..b.num_rows() {
                        if shown == ROWS_SHOWN {
                            break 'outer;
                        }
                        h.push_str("<tr>");
                        for col in b.columns() {
                            let _ = write!(h, "<td>{}</td>", escape(&display(col, row)));
                        }
                        h.push_str("</tr>");
                        shown += 1;
                    }
                }
                h.push_str("</tbody></table></div>");
                let _ = write!(
                    h,
                    "<p class=\"meta\">{} of {} rows shown.</p>",
                    shown.min(rows),
                    rows
                );
            }
        }
        h.push_str("</section>");
    }
    h.push_str("</body></html>\n");
    let path = dir.join("index.html");
    std::fs::write(&path, h).map_err(io_at(&path))
}

fn display(col: &ArrayRef, row: usize) -> String {
    let s = crate::kpi::output::cell(col, row);
    // The CSV cell's quoting and formula guard are not wanted on a web page.
    let s = s
        .strip_prefix('"')
        .and_then(|x| x.strip_suffix('"'))
        .map(|x| x.replace("\"\"", "\""))
        .unwrap_or(s);
    match s.strip_prefix('\'') {
        Some(rest) if rest.starts_with(['=', '+', '-', '@', '\t', '\r']) => rest.to_string(),
        _ => s,
    }
}

const CSS: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:2rem auto;max-width:72rem;padding:0 1rem;color:#1f2933}\
h1{font-size:1.6rem}h2{font-size:1.2rem;margin-top:2rem}.meta{color:#52606d;font-size:.9rem}\
.warn{background:#fff4e5;border-left:4px solid #d97706;padding:.5rem 1rem}\
.scroll{overflow-x:auto}table{border-collapse:collapse;font-size:.85rem}\
th,td{border-bottom:1px solid #e4e7eb;padding:.25rem .6rem;text-align:right;white-space:nowrap}\
th{background:#f5f7fa}code{font-size:.85em}";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping() {
        assert_eq!(
            escape("<script>alert(1)</script>"),
            "&lt;script&gt;alert(1)&lt;/script&gt;"
        );
        assert_eq!(escape("a & \"b\" 'c'"), "a &amp; &quot;b&quot; &#39;c&#39;");
    }
}
