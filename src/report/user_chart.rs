//! Charts for analysts' own KPIs, from the `-- chart:` line of a query header:
//!
//! ```text
//! -- chart: line x=<date column> y=<number column> [series=<text column>]
//! -- chart: bar x=<label column> y=<number column>
//! -- chart: stacked_bar x=<label column> y=<number column> series=<text column>
//! -- chart: stacked_bar x=<label column> y=<a>,<b>,<c>
//! ```
//!
//! Values of the same x (and series) are summed; bars show the largest `top_n` labels
//! and group the rest. A spec that does not fit the table is an error message shown in
//! place of the chart, never a failed report.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::NaiveDate;

use super::chart::{self, Chart, HBars, Lines, StackedBars};
use super::format;
use crate::error::{Error, Result};
use crate::kpi::frame::Frame;

/// A parsed `-- chart:` line.
#[derive(Debug, Clone, PartialEq)]
pub struct Spec {
    pub kind: Kind,
    pub x: String,
    pub y: Vec<String>,
    pub series: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Line,
    Bar,
    StackedBar,
}

/// Parse `line x=a y=b series=c`.
pub fn parse(spec: &str) -> std::result::Result<Spec, String> {
    let mut words = spec.split_whitespace();
    let kind = match words.next() {
        Some("line") => Kind::Line,
        Some("bar") => Kind::Bar,
        Some("stacked_bar") => Kind::StackedBar,
        other => {
            return Err(format!(
                "chart kind {:?}: expected line, bar or stacked_bar",
                other.unwrap_or("")
            ));
        }
    };
    let (mut x, mut y, mut series) = (None, Vec::new(), None);
    for w in words {
        match w.split_once('=') {
            Some(("x", v)) if !v.is_empty() => x = Some(v.to_string()),
            Some(("y", v)) if !v.is_empty() => {
                y = v
                    .split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect()
            }
            Some(("series", v)) if !v.is_empty() => series = Some(v.to_string()),
            _ => return Err(format!("chart: {w:?} is not x=…, y=… or series=…")),
        }
    }
    let x = x.ok_or("chart: x=<column> is missing")?;
    if y.is_empty() {
        return Err("chart: y=<column> is missing".into());
    }
    if y.len() > 1 && (kind != Kind::StackedBar || series.is_some()) {
        return Err("chart: several y columns need stacked_bar without series".into());
    }
    Ok(Spec { kind, x, y, series })
}

/// Draw the chart of a user KPI (SVG for the page, PNG in `charts/`).
pub fn render(
    dir: &Path,
    name: &str,
    title: &str,
    spec: &Spec,
    f: &Frame,
    top_n: usize,
    provisional_from: Option<NaiveDate>,
) -> Result<Chart> {
    let cols = f.columns();
    for c in std::iter::once(&spec.x)
        .chain(&spec.y)
        .chain(spec.series.iter())
    {
        if !cols.contains(c) {
            return Err(Error::Chart {
                name: name.to_string(),
                message: format!(
                    "the result has no column {c:?} (it has {})",
                    cols.join(", ")
                ),
            });
        }
    }
    let xs = f.text(&spec.x);
    let series = spec.series.as_ref().map(|s| f.text(s));
    let series_of = |i: usize| -> String {
        series.as_ref().map_or_else(
            || spec.y[0].clone(),
            |s| s[i].clone().unwrap_or_else(|| "(empty)".into()),
        )
    };
    let ys: Vec<Vec<Option<f64>>> = spec.y.iter().map(|c| f.num(c)).collect();
    let label = spec.y.join(", ");
    let caption = format!(
        "{} by {}{}",
        label,
        spec.x,
        spec.series
            .as_ref()
            .map_or(String::new(), |s| format!(" and {s}"))
    );
    match spec.kind {
        Kind::Line => {
            let mut by: BTreeMap<String, BTreeMap<NaiveDate, f64>> = BTreeMap::new();
            for (i, x) in xs.iter().enumerate() {
                let Some(x) = x else { continue };
                let d = NaiveDate::parse_from_str(x.get(..10).unwrap_or(x), "%Y-%m-%d").map_err(
                    |_| Error::Chart {
                        name: name.to_string(),
                        message: format!("line charts need dates on x; {x:?} is not a date"),
                    },
                )?;
                if let Some(v) = ys[0][i] {
                    *by.entry(series_of(i)).or_default().entry(d).or_default() += v;
                }
            }
            let all: Vec<f64> = by.values().flat_map(|m| m.values().copied()).collect();
            let percent = !all.is_empty() && all.iter().all(|v| (0.0..=1.0).contains(v));
            let series = by
                .into_iter()
                .map(|(s, pts)| (s, pts.into_iter().collect()))
                .collect();
            chart::render(
                dir,
                name,
                title,
                &caption,
                (860, 320),
                &Lines {
                    series,
                    percent,
                    target: None,
                    y_label: label,
                    provisional_from,
                },
            )
        }
        Kind::Bar => {
            let mut by: BTreeMap<String, f64> = BTreeMap::new();
            for (i, x) in xs.iter().enumerate() {
                if let Some(v) = ys[0][i] {
                    *by.entry(x.clone().unwrap_or_else(|| "(empty)".into()))
                        .or_default() += v;
                }
            }
            let mut rows: Vec<(String, f64)> = by.into_iter().collect();
            rows.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            let mut bars: Vec<(String, Vec<f64>)> = rows
                .iter()
                .take(top_n)
                .map(|(l, v)| (l.clone(), vec![*v]))
                .collect();
            if rows.len() > top_n {
                let rest: f64 = rows[top_n..].iter().map(|r| r.1).sum();
                bars.push((format!("Other ({})", rows.len() - top_n), vec![rest]));
            }
            let percent = rows.iter().all(|r| (0.0..=1.0).contains(&r.1));
            let height = 60 + 34 * bars.len() as u32;
            chart::render(
                dir,
                name,
                title,
                &caption,
                (860, height.max(160)),
                &HBars {
                    rows: bars,
                    stacks: vec![label],
                    value_label: if percent {
                        format::percent
                    } else {
                        short_number
                    },
                    percent_axis: percent,
                    colour: 0,
                },
            )
        }
        Kind::StackedBar => {
            let mut categories: Vec<String> = Vec::new();
            let mut cells: BTreeMap<(String, String), f64> = BTreeMap::new();
            let mut names: Vec<String> = Vec::new();
            for (i, x) in xs.iter().enumerate() {
                let x = x.clone().unwrap_or_else(|| "(empty)".into());
                if !categories.contains(&x) {
                    categories.push(x.clone());
                }
                for (j, y) in ys.iter().enumerate() {
                    let stack = if spec.y.len() > 1 {
                        spec.y[j].clone()
                    } else {
                        series_of(i)
                    };
                    if !names.contains(&stack) {
                        names.push(stack.clone());
                    }
                    *cells.entry((stack, x.clone())).or_default() += y[i].unwrap_or(0.0);
                }
            }
            categories.truncate(top_n.max(1) * 2);
            let stacks = names
                .into_iter()
                .map(|s| {
                    let v = categories
                        .iter()
                        .map(|c| cells.get(&(s.clone(), c.clone())).copied().unwrap_or(0.0))
                        .collect();
                    (s, v)
                })
                .collect();
            let n = categories.len();
            chart::render(
                dir,
                name,
                title,
                &caption,
                (860, 340),
                &StackedBars {
                    categories,
                    stacks,
                    notes: vec![None; n],
                    y_label: label,
                },
            )
        }
    }
}

fn short_number(v: f64) -> String {
    format::number(v, if v.fract() == 0.0 { 0 } else { 1 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_and_bad_ones_say_why() {
        assert_eq!(
            parse("line x=due_date y=unit_fill_rate series=channel"),
            Ok(Spec {
                kind: Kind::Line,
                x: "due_date".into(),
                y: vec!["unit_fill_rate".into()],
                series: Some("channel".into())
            })
        );
        assert_eq!(parse("stacked_bar x=s y=a,b").map(|s| s.y.len()), Ok(2));
        assert!(parse("pie x=a y=b").unwrap_err().contains("pie"));
        assert!(parse("bar y=b").unwrap_err().contains("x="));
        assert!(parse("bar x=a").unwrap_err().contains("y="));
        assert!(parse("bar x=a y=b,c").is_err());
        assert!(
            parse("bar x=a y=b colour=red")
                .unwrap_err()
                .contains("colour")
        );
    }
}
