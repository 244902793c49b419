//! The page model: what the template shows, built from the run's tables. This module
//! picks rows, orders them and formats values for people; every figure it shows is a
//! cell of a KPI table (`tiles`, `report_*` and the KPIs themselves), so an
//! independent engine can check the page by checking the tables.

use std::collections::BTreeMap;
use std::path::Path;

use base64::Engine as _;
use chrono::NaiveDate;
use serde::Serialize;

use super::chart::{self, Chart, HBars, Lines, StackedBars};
use super::{Inputs, format, user_chart};
use crate::error::Result;
use crate::ingest::FileStatus;
use crate::kpi::Origin;
use crate::kpi::frame::Frame;
use crate::kpi::freshness::{FeedState, provisional_from};
use crate::kpi::tiles::{self, Formula, Status, TileDef, Unit};

/// The whole page.
#[derive(Debug, Serialize)]
pub struct Page {
    pub title: String,
    pub as_of: String,
    pub window_start: String,
    pub window_days: u32,
    pub time_zone: String,
    pub generated: String,
    pub css: String,
    /// What an executive must read before any number.
    pub banner: Vec<Note>,
    pub tiles: Vec<TileView>,
    pub sections: Vec<Section>,
    pub definitions: Vec<Definition>,
    pub tile_definitions: Vec<TileDefinition>,
    pub opintel_version: String,
    pub datafusion_version: String,
}

/// A banner line: its subject in bold, then what is wrong.
#[derive(Debug, Serialize)]
pub struct Note {
    pub subject: String,
    pub text: String,
}

#[derive(Debug, Serialize)]
pub struct TileView {
    pub key: String,
    pub title: String,
    pub help: String,
    /// The value as shown ("97.6%", "No data" …).
    pub value: String,
    /// The value as a number, for machines (`data-value`).
    pub raw: Option<f64>,
    pub status: &'static str,
    pub class: &'static str,
    pub target: Option<String>,
    pub change: Option<ChangeView>,
    /// Why there is no change to show.
    pub no_change: String,
    pub spark: Option<Spark>,
    /// The top driver of the change, in one sentence (`kpi_drivers` rank 1).
    pub driver: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct ChangeView {
    pub text: String,
    /// good, bad or flat.
    pub class: &'static str,
}

/// A trend line's geometry (numbers only).
#[derive(Debug, Serialize)]
pub struct Spark {
    pub points: String,
    pub last_x: String,
    pub last_y: String,
    pub weeks: usize,
}

#[derive(Debug, Serialize)]
pub struct Section {
    pub id: String,
    pub heading: String,
    pub lead: String,
    pub blocks: Vec<Block>,
}

/// One piece of a section.
#[derive(Debug, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Block {
    Figure {
        name: String,
        title: String,
        caption: String,
        /// `data:image/svg+xml;base64,…`
        src: String,
        width: u32,
        height: u32,
        /// Said under a time chart whose latest days are incomplete.
        provisional: Option<String>,
    },
    Table {
        headers: Vec<Head>,
        rows: Vec<Vec<Cell>>,
        /// Shown as one card per row on a phone.
        cards: bool,
    },
    Empty {
        text: String,
    },
    Heading {
        text: String,
    },
    Para {
        before: String,
        code: Option<String>,
        after: String,
    },
    List {
        items: Vec<Item>,
    },
    Grid {
        blocks: Vec<Block>,
    },
}

#[derive(Debug, Serialize)]
pub struct Head {
    pub text: String,
    pub align: &'static str,
}

#[derive(Debug, Serialize)]
pub struct Cell {
    pub text: String,
    pub align: &'static str,
    pub strong: bool,
    /// Further lines under the text.
    pub lines: Vec<String>,
}

#[derive(Debug, Default, Serialize)]
pub struct Item {
    pub code: Option<String>,
    pub strong: Option<String>,
    pub text: String,
}

#[derive(Debug, Serialize)]
pub struct Definition {
    pub title: String,
    pub name: String,
    pub description: String,
    pub grain: String,
    pub columns: Vec<ColumnDoc>,
}

#[derive(Debug, Serialize)]
pub struct ColumnDoc {
    pub name: String,
    pub meaning: String,
}

#[derive(Debug, Serialize)]
pub struct TileDefinition {
    pub key: String,
    pub title: String,
    pub formula: String,
    pub source: String,
    pub target: Option<String>,
    pub warn: Option<String>,
}

/// How a table cell is formatted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    /// An identifier (warehouse, bin, SKU): text that never wraps.
    Code,
    Int,
    Num,
    Pct,
    Money,
    Hours,
}

impl Kind {
    fn align(self) -> &'static str {
        match self {
            Kind::Text => "l",
            Kind::Code => "l nw",
            _ => "r",
        }
    }
}

/// The age buckets of exception aging, in order.
const AGE_BUCKETS: [&str; 6] = ["0-1d", "1-3d", "3-7d", "7-14d", "14-30d", "30d+"];

struct Ctx<'a> {
    inputs: &'a Inputs<'a>,
    charts: &'a Path,
    currency: String,
    top_n: usize,
}

impl Ctx<'_> {
    /// A table of this run, when its query succeeded.
    fn frame(&self, name: &str) -> Option<Frame> {
        crate::kpi::frame_of(self.inputs.results, name)
    }

    fn format(&self, kind: Kind, v: f64) -> String {
        match kind {
            Kind::Text | Kind::Code => v.to_string(),
            Kind::Int => format::number(v, 0),
            Kind::Num => format::number(v, if v.fract() == 0.0 { 0 } else { 1 }),
            Kind::Pct => format::percent(v),
            Kind::Money => format::money(v, &self.currency),
            Kind::Hours => format::hours(v),
        }
    }

    /// A table of `rows` of `f`: (column, header, kind).
    fn table(&self, f: &Frame, rows: &[usize], cols: &[(&str, &str, Kind)]) -> Block {
        let nums: BTreeMap<&str, Vec<Option<f64>>> = cols
            .iter()
            .filter(|(_, _, k)| !matches!(k, Kind::Text | Kind::Code))
            .map(|(c, _, _)| (*c, f.num(c)))
            .collect();
        let rows = rows
            .iter()
            .map(|&r| {
                cols.iter()
                    .map(|(c, _, kind)| Cell {
                        text: match kind {
                            Kind::Text | Kind::Code => f.display(c, r),
                            k => nums
                                .get(c)
                                .and_then(|v| v[r])
                                .map_or(String::new(), |v| self.format(*k, v)),
                        },
                        align: kind.align(),
                        strong: false,
                        lines: Vec::new(),
                    })
                    .collect()
            })
            .collect();
        Block::Table {
            headers: cols
                .iter()
                .map(|(_, h, k)| Head {
                    text: (*h).to_string(),
                    align: k.align(),
                })
                .collect(),
            rows,
            cards: true,
        }
    }

    fn figure(&self, c: Chart, provisional: Option<String>) -> Block {
        let src = format!(
            "data:image/svg+xml;base64,{}",
            base64::engine::general_purpose::STANDARD.encode(c.svg.as_bytes())
        );
        Block::Figure {
            name: c.name,
            title: c.title,
            caption: c.caption,
            src,
            width: c.width,
            height: c.height,
            provisional,
        }
    }
}

fn empty(text: impl Into<String>) -> Block {
    Block::Empty { text: text.into() }
}

fn heading(text: impl Into<String>) -> Block {
    Block::Heading { text: text.into() }
}

fn para(before: impl Into<String>, code: Option<&str>, after: impl Into<String>) -> Block {
    Block::Para {
        before: before.into(),
        code: code.map(str::to_string),
        after: after.into(),
    }
}

/// Indices of the rows with the largest `values`, first `n` (ties in row order).
fn top_rows(values: &[Option<f64>], n: usize) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..values.len()).collect();
    idx.sort_by(|&a, &b| {
        values[b]
            .unwrap_or(f64::MIN)
            .total_cmp(&values[a].unwrap_or(f64::MIN))
            .then(a.cmp(&b))
    });
    idx.truncate(n);
    idx
}

/// Build the page model; charts are drawn into `charts` as PNG files on the way.
pub fn build(charts: &Path, inputs: &Inputs) -> Result<Page> {
    let cfg = &inputs.config.report;
    let cx = Ctx {
        inputs,
        charts,
        currency: cfg.currency.clone(),
        top_n: cfg.top_n,
    };
    let run = &inputs.run;
    let sections = vec![
        what_moved(&cx)?,
        fill(&cx)?,
        order_flow(&cx)?,
        exceptions(&cx)?,
        inventory(&cx)?,
        stock_position(&cx)?,
        suppliers(&cx)?,
        count_today(&cx),
    ]
    .into_iter()
    .chain(user_kpis(&cx)?)
    .chain(std::iter::once(quality(&cx)))
    .collect();
    Ok(Page {
        title: cfg.title.clone(),
        as_of: run.as_of.clone(),
        window_start: run.window_start.clone(),
        window_days: run.window_days,
        time_zone: run.time_zone.clone(),
        generated: run
            .started_at
            .chars()
            .take(16)
            .collect::<String>()
            .replace('T', " "),
        css: super::css(),
        banner: banner(&cx),
        tiles: tile_views(&cx),
        sections,
        definitions: definitions(&cx),
        tile_definitions: inputs
            .tiles
            .iter()
            .map(|t| {
                let (target, warn) = tiles::thresholds(t, inputs.config.report.tiles.get(&t.key));
                TileDefinition {
                    key: t.key.clone(),
                    title: t.title.clone(),
                    formula: match &t.formula {
                        Formula::Ratio {
                            numerator,
                            denominator,
                        } => format!("{numerator} / {denominator}"),
                        Formula::Value { value, .. } => value.clone(),
                    },
                    source: t.source.clone(),
                    target: target.map(|v| shown(&cx, t.unit, v)),
                    warn: warn.map(|v| shown(&cx, t.unit, v)),
                }
            })
            .collect(),
        opintel_version: run.opintel_version.clone(),
        datafusion_version: run.datafusion_version.clone(),
    })
}

/// Warnings an executive must see before any number.
fn banner(cx: &Ctx) -> Vec<Note> {
    let mut notes = Vec::new();
    for f in cx.inputs.freshness {
        match f.state {
            FeedState::Stale => notes.push(Note {
                subject: f.table.clone(),
                text: format!(
                    "is stale: its newest data is {} old (expected within {}). KPIs using it may be incomplete.",
                    format::hours(f.age_hours.unwrap_or(0.0)),
                    format::hours(f.max_age_hours.unwrap_or(0.0))
                ),
            }),
            FeedState::Missing => notes.push(Note {
                subject: f.table.clone(),
                text: "has no data up to this date: KPIs using it are empty or incomplete.".into(),
            }),
            _ => {}
        }
    }
    // Late sites: the tables in which each trails the others.
    let mut late: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for f in cx.inputs.freshness {
        for l in &f.lagging {
            late.entry(l.warehouse_id.as_str())
                .or_default()
                .push(match l.behind_hours {
                    Some(h) => format!("{} ({} behind)", f.table, format::hours(h)),
                    None => f.table.clone(),
                });
        }
    }
    for (w, tables) in late {
        notes.push(Note {
            subject: w.to_string(),
            text: format!(
                "is late: its newest {} trail the other warehouses'. Its latest days are provisional.",
                tables.join(", ")
            ),
        });
    }
    for r in cx.inputs.results.iter().filter(|r| r.outcome.is_err()) {
        notes.push(Note {
            subject: r.query.name.clone(),
            text: "could not be computed (see “Can these numbers be trusted?”).".into(),
        });
    }
    if let Some(ing) = cx.inputs.ingest {
        let failed = ing.failed().count();
        if failed > 0 {
            notes.push(Note {
                subject: format!("{failed} export file{}", if failed == 1 { "" } else { "s" }),
                text: format!(
                    "could not be read and {} not in these numbers (see “Can these numbers be trusted?”).",
                    if failed == 1 { "is" } else { "are" }
                ),
            });
        }
    }
    notes
}

fn shown(cx: &Ctx, unit: Unit, v: f64) -> String {
    match unit {
        Unit::Rate => format::percent(v),
        Unit::Count => format::number(v, 0),
        Unit::Money => format::money(v, &cx.currency),
        Unit::Hours => format::hours(v),
    }
}

/// One row of the `tiles` table: (period_end, value, change).
type PeriodValue = (String, Option<f64>, Option<f64>);

/// The tiles, from the `tiles` table.
fn tile_views(cx: &Ctx) -> Vec<TileView> {
    let table = cx.frame(tiles::TABLE);
    // (tile, period) → rows of (period_end, value, change)
    let mut rows: BTreeMap<(String, String), Vec<PeriodValue>> = BTreeMap::new();
    if let Some(f) = &table {
        let (tile, period, end) = (f.text("tile"), f.text("period"), f.text("period_end"));
        let (value, change) = (f.num("value"), f.num("change"));
        for i in 0..f.rows() {
            if let (Some(t), Some(p)) = (&tile[i], &period[i]) {
                rows.entry((t.clone(), p.clone())).or_default().push((
                    end[i].clone().unwrap_or_default(),
                    value[i],
                    change[i],
                ));
            }
        }
    }
    let get = |key: &str, period: &str| rows.get(&(key.to_string(), period.to_string()));
    let drivers = top_drivers(cx);
    cx.inputs
        .tiles
        .iter()
        .map(|def: &TileDef| {
            let current = get(&def.key, "current").and_then(|r| r.first());
            let value = current.and_then(|r| r.1);
            let change = current.and_then(|r| r.2);
            let (target, warn) =
                tiles::thresholds(def, cx.inputs.config.report.tiles.get(&def.key));
            let status = tiles::status(def, value, target, warn);
            let mut weeks: Vec<(String, Option<f64>)> = get(&def.key, "week")
                .map(|r| r.iter().map(|(e, v, _)| (e.clone(), *v)).collect())
                .unwrap_or_default();
            weeks.sort_by(|a, b| a.0.cmp(&b.0));
            let trend: Vec<Option<f64>> = weeks.into_iter().map(|w| w.1).collect();
            TileView {
                key: def.key.clone(),
                title: def.title.clone(),
                help: def.help.clone(),
                value: value.map_or_else(
                    || Status::NoData.label().to_string(),
                    |v| shown(cx, def.unit, v),
                ),
                raw: value,
                status: status.label(),
                class: status.class(),
                target: target.map(|v| shown(cx, def.unit, v)),
                change: change.map(|d| change_view(cx, def, d)),
                no_change: if value.is_none() {
                    "no data for this window".into()
                } else {
                    "no full previous window to compare".into()
                },
                spark: spark(&trend),
                driver: change
                    .and(drivers.get(&def.key))
                    .map(|d| driver_sentence(cx, def, d)),
            }
        })
        .collect()
}

/// One row of `kpi_drivers`.
struct DriverRow {
    dimension: String,
    segment: String,
    base: Option<f64>,
    current: Option<f64>,
    contribution: f64,
}

/// Each tile's top driver (rank 1 of `kpi_drivers`), and every row by tile.
fn driver_rows(cx: &Ctx) -> BTreeMap<String, Vec<DriverRow>> {
    let mut out: BTreeMap<String, Vec<DriverRow>> = BTreeMap::new();
    let Some(f) = cx.frame(crate::kpi::drivers::TABLE) else {
        return out;
    };
    let (kpi, dim, seg) = (f.text("kpi"), f.text("dimension"), f.text("segment"));
    let (base, cur, c, rank) = (
        f.num("base_value"),
        f.num("current_value"),
        f.num("contribution"),
        f.num("rank"),
    );
    let mut order: Vec<usize> = (0..f.rows()).collect();
    order.sort_by(|&a, &b| {
        rank[a]
            .unwrap_or(f64::MAX)
            .total_cmp(&rank[b].unwrap_or(f64::MAX))
    });
    for i in order {
        let (Some(k), Some(d), Some(s), Some(c)) = (&kpi[i], &dim[i], &seg[i], c[i]) else {
            continue;
        };
        out.entry(k.clone()).or_default().push(DriverRow {
            dimension: d.clone(),
            segment: s.clone(),
            base: base[i],
            current: cur[i],
            contribution: c,
        });
    }
    out
}

fn top_drivers(cx: &Ctx) -> BTreeMap<String, DriverRow> {
    driver_rows(cx)
        .into_iter()
        .filter_map(|(k, mut rows)| (!rows.is_empty()).then(|| (k, rows.swap_remove(0))))
        .collect()
}

/// A signed change in the tile's unit: "−2.4 pts", "+12", "+$1,200".
fn signed(cx: &Ctx, unit: Unit, d: f64) -> String {
    let sign = if d < 0.0 { "−" } else { "+" };
    let body = match unit {
        Unit::Rate => format!("{} pts", format::number(d.abs() * 100.0, 1)),
        Unit::Count => format::number(d.abs(), 0),
        Unit::Money => format::money(d.abs(), &cx.currency),
        Unit::Hours => format::hours(d.abs()),
    };
    format!("{sign}{body}")
}

/// "WH-WEST · marketplace (warehouse_id × channel) explains −2.4 pts (91.0% → 78.0%)".
fn driver_sentence(cx: &Ctx, def: &TileDef, d: &DriverRow) -> String {
    let side = |v: Option<f64>| v.map_or_else(|| "none".to_string(), |v| shown(cx, def.unit, v));
    format!(
        "{} ({}) explains {} ({} → {})",
        d.segment,
        d.dimension,
        signed(cx, def.unit, d.contribution),
        side(d.base),
        side(d.current)
    )
}

/// "▲ 1.2 pts" and whether that change is good.
fn change_view(cx: &Ctx, def: &TileDef, d: f64) -> ChangeView {
    let arrow = if d > 0.0 {
        "▲"
    } else if d < 0.0 {
        "▼"
    } else {
        "■"
    };
    let text = match def.unit {
        Unit::Rate => format!("{arrow} {} pts", format::number(d.abs() * 100.0, 1)),
        Unit::Count => format!("{arrow} {}", format::number(d.abs(), 0)),
        Unit::Money => format!("{arrow} {}", format::money(d.abs(), &cx.currency)),
        Unit::Hours => format!("{arrow} {}", format::hours(d.abs())),
    };
    let class = if d == 0.0 {
        "flat"
    } else if (d > 0.0) == (def.better == tiles::Better::Higher) {
        "good"
    } else {
        "bad"
    };
    ChangeView { text, class }
}

/// A tiny trend line of the weekly values (oldest left): coordinates only.
fn spark(points: &[Option<f64>]) -> Option<Spark> {
    let vals: Vec<(usize, f64)> = points
        .iter()
        .enumerate()
        .filter_map(|(i, v)| v.map(|v| (i, v)))
        .collect();
    if vals.len() < 2 {
        return None;
    }
    let (w, h, pad) = (120.0, 28.0, 3.0);
    let lo = vals.iter().map(|p| p.1).fold(f64::MAX, f64::min);
    let hi = vals.iter().map(|p| p.1).fold(f64::MIN, f64::max);
    let n = (points.len() - 1).max(1) as f64;
    let coords: Vec<(f64, f64)> = vals
        .iter()
        .map(|&(i, v)| {
            let x = pad + (w - 2.0 * pad) * i as f64 / n;
            let y = if hi > lo {
                h - pad - (h - 2.0 * pad) * (v - lo) / (hi - lo)
            } else {
                h / 2.0
            };
            (x, y)
        })
        .collect();
    let (lx, ly) = coords[coords.len() - 1];
    Some(Spark {
        points: coords
            .iter()
            .map(|(x, y)| format!("{x:.1},{y:.1}"))
            .collect::<Vec<_>>()
            .join(" "),
        last_x: format!("{lx:.1}"),
        last_y: format!("{ly:.1}"),
        weeks: points.len(),
    })
}

fn missing_kpi(what: &str) -> Block {
    empty(format!("{what} could not be computed in this run."))
}

fn fill(cx: &Ctx) -> Result<Section> {
    let mut blocks = Vec::new();
    let lead = "Units, lines and orders due in the window that shipped in full, and on time in full (OTIF), by channel.";
    let (Some(daily), Some(by_channel)) = (
        cx.frame("report_fill_daily"),
        cx.frame("report_fill_by_channel"),
    ) else {
        blocks.push(missing_kpi("Fill rate"));
        return Ok(section("fill", "Are we filling orders?", lead, blocks));
    };
    // At most six channels, the biggest first (report_fill_by_channel is ordered so).
    let channels: Vec<String> = by_channel
        .text("channel")
        .into_iter()
        .flatten()
        .take(6)
        .collect();
    let (dates, chans, rates) = (
        daily.text("due_date"),
        daily.text("channel"),
        daily.num("unit_fill_rate"),
    );
    let mut series: Vec<(String, Vec<(NaiveDate, f64)>)> =
        channels.iter().map(|c| (c.clone(), Vec::new())).collect();
    for i in 0..daily.rows() {
        let (Some(d), Some(c), Some(v)) = (&dates[i], &chans[i], rates[i]) else {
            continue;
        };
        let Ok(day) = NaiveDate::parse_from_str(d, "%Y-%m-%d") else {
            continue;
        };
        if let Some(s) = series.iter_mut().find(|s| &s.0 == c) {
            s.1.push((day, v));
        }
    }
    let target = cx
        .inputs
        .tiles
        .iter()
        .find(|t| t.source == "fill_rate" && t.unit == Unit::Rate)
        .and_then(|t| tiles::thresholds(t, cx.inputs.config.report.tiles.get(&t.key)).0);
    let provisional =
        feeds_of(cx, "fill_rate").and_then(|feeds| provisional_from(cx.inputs.freshness, &feeds));
    let c = chart::render(
        cx.charts,
        "fill_rate_by_channel",
        "Unit fill rate by channel",
        "Share of units due each day that shipped by the end of the as-of date; the dashed line is the target.",
        (860, 340),
        &Lines {
            series,
            percent: true,
            target,
            y_label: "unit fill rate".into(),
            provisional_from: provisional,
        },
    )?;
    blocks.push(cx.figure(c, provisional.map(|d| provisional_note(cx, d))));
    let rows: Vec<usize> = (0..by_channel.rows()).collect();
    blocks.push(cx.table(
        &by_channel,
        &rows,
        &[
            ("channel", "Channel", Kind::Text),
            ("lines", "Lines due", Kind::Int),
            ("units_demanded", "Units due", Kind::Int),
            ("unit_fill_rate", "Unit fill", Kind::Pct),
            ("line_fill_rate", "Line fill", Kind::Pct),
            ("order_fill_rate", "Order fill", Kind::Pct),
            ("otif_rate", "OTIF", Kind::Pct),
        ],
    ));
    Ok(section("fill", "Are we filling orders?", lead, blocks))
}

/// Backorder buckets, in order.
const LATE_BUCKETS: [&str; 5] = ["0-1d", "1-3d", "3-7d", "7-14d", "14d+"];

fn order_flow(cx: &Ctx) -> Result<Section> {
    let lead = "Orders placed in the window: how many went out complete, in how many parcels and how fast; and the lines past their promise that have not shipped.";
    let title = "How are orders flowing?";
    let mut blocks = Vec::new();
    match cx.frame("report_order_flow_daily") {
        Some(daily) if daily.rows() > 0 => {
            let (dates, chans, orders) = (
                daily.text("order_date"),
                daily.text("channel"),
                daily.num("orders"),
            );
            let mut series: Vec<(String, Vec<(NaiveDate, f64)>)> = Vec::new();
            for i in 0..daily.rows() {
                let (Some(d), Some(c), Some(v)) = (&dates[i], &chans[i], orders[i]) else {
                    continue;
                };
                let Ok(day) = NaiveDate::parse_from_str(d, "%Y-%m-%d") else {
                    continue;
                };
                match series.iter_mut().find(|s| &s.0 == c) {
                    Some(s) => s.1.push((day, v)),
                    None => series.push((c.clone(), vec![(day, v)])),
                }
            }
            series.truncate(6);
            let provisional = feeds_of(cx, "order_flow")
                .and_then(|feeds| provisional_from(cx.inputs.freshness, &feeds));
            let c = chart::render(
                cx.charts,
                "orders_by_channel",
                "Orders placed per day",
                "Orders (an order id within a channel and warehouse) placed each day, by channel.",
                (860, 300),
                &Lines {
                    series,
                    percent: false,
                    target: None,
                    y_label: "orders".into(),
                    provisional_from: provisional,
                },
            )?;
            blocks.push(cx.figure(c, provisional.map(|d| provisional_note(cx, d))));
        }
        Some(_) => blocks.push(empty("No order was placed in the window.")),
        None => blocks.push(missing_kpi("Order flow")),
    }
    blocks.push(heading("Cycle time by warehouse"));
    match cx.frame("order_cycle_time") {
        Some(f) if f.rows() > 0 => {
            let rows: Vec<usize> = (0..f.rows()).collect();
            blocks.push(cx.table(
                &f,
                &rows,
                &[
                    ("warehouse_id", "Warehouse", Kind::Code),
                    ("orders", "Orders", Kind::Int),
                    ("complete_orders", "Complete", Kind::Int),
                    ("split_shipment_rate", "Split", Kind::Pct),
                    ("order_to_ship_hours_median", "Median to ship", Kind::Hours),
                    ("order_to_ship_hours_p90", "p90 to ship", Kind::Hours),
                ],
            ));
        }
        Some(_) => blocks.push(empty("No order was placed in the window.")),
        None => blocks.push(missing_kpi("Order cycle time")),
    }
    blocks.push(heading("Backorders"));
    match cx.frame("report_backorders") {
        Some(f) if f.rows() > 0 => {
            let (w, b, lines) = (
                f.text("warehouse_id"),
                f.text("days_late_bucket"),
                f.num("lines"),
            );
            let mut stacks: Vec<(String, Vec<f64>)> = Vec::new();
            for i in 0..f.rows() {
                let (Some(w), Some(b)) = (&w[i], &b[i]) else {
                    continue;
                };
                let Some(k) = LATE_BUCKETS.iter().position(|x| x == b) else {
                    continue;
                };
                let slot = match stacks.iter().position(|s| &s.0 == w) {
                    Some(j) => j,
                    None => {
                        stacks.push((w.clone(), vec![0.0; LATE_BUCKETS.len()]));
                        stacks.len() - 1
                    }
                };
                stacks[slot].1[k] = lines[i].unwrap_or(0.0);
            }
            let c = chart::render(
                cx.charts,
                "backorders",
                "Backorder lines by days late",
                "Order lines past their promise and not shipped in full at the end of the as-of date, stacked by warehouse; every line is in kpis/backorders.csv.",
                (860, 320),
                &StackedBars {
                    categories: LATE_BUCKETS.iter().map(|s| s.to_string()).collect(),
                    stacks,
                    notes: vec![None; LATE_BUCKETS.len()],
                    y_label: "lines".into(),
                },
            )?;
            blocks.push(cx.figure(c, None));
        }
        Some(_) => blocks.push(empty("No order line is past its promise.")),
        None => blocks.push(missing_kpi("Backorders")),
    }
    Ok(section("orders", title, lead, blocks))
}

/// The feeds a KPI's header names (`-- feeds:`).
fn feeds_of(cx: &Ctx, kpi: &str) -> Option<Vec<String>> {
    cx.inputs
        .results
        .iter()
        .find(|r| r.query.name == kpi)
        .map(|r| r.query.header.feeds.clone())
}

/// "From 19 Nov on the data is incomplete (3PL-CENTRAL is late)."
fn provisional_note(cx: &Ctx, from: NaiveDate) -> String {
    let late: Vec<&str> = cx
        .inputs
        .freshness
        .iter()
        .flat_map(|f| f.lagging.iter().map(|l| l.warehouse_id.as_str()))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let why = if late.is_empty() {
        "a feed is stale".to_string()
    } else {
        format!(
            "{} late",
            late.join(", ") + if late.len() == 1 { " is" } else { " are" }
        )
    };
    format!(
        "Days from {} on (shaded) are provisional: {why}, so they will still rise.",
        from.format("%-d %b")
    )
}

fn section(id: &str, heading: &str, lead: &str, blocks: Vec<Block>) -> Section {
    Section {
        id: id.into(),
        heading: heading.into(),
        lead: lead.into(),
        blocks,
    }
}

fn exceptions(cx: &Ctx) -> Result<Section> {
    let lead = "Exceptions open at the end of the as-of date by age and type; red notes count those past their SLA.";
    let mut blocks = Vec::new();
    let Some(f) = cx.frame("report_exceptions_by_age") else {
        blocks.push(missing_kpi("Exception aging"));
        return Ok(section(
            "exceptions",
            "What is stuck, and for how long?",
            lead,
            blocks,
        ));
    };
    let (types, buckets, open, breached) = (
        f.text("exception_type"),
        f.text("age_bucket"),
        f.num("open_count"),
        f.num("bucket_breached"),
    );
    let mut names: Vec<String> = Vec::new();
    let mut cells: BTreeMap<(String, usize), f64> = BTreeMap::new();
    let mut notes: Vec<Option<String>> = vec![None; AGE_BUCKETS.len()];
    for i in 0..f.rows() {
        let (Some(t), Some(b)) = (&types[i], &buckets[i]) else {
            continue;
        };
        let Some(b) = AGE_BUCKETS.iter().position(|x| x == b) else {
            continue;
        };
        if !names.contains(t) {
            names.push(t.clone());
        }
        cells.insert((t.clone(), b), open[i].unwrap_or(0.0));
        if let Some(n) = breached[i].filter(|n| *n > 0.0) {
            notes[b] = Some(format!("{} breached", format::number(n, 0)));
        }
    }
    if names.is_empty() {
        blocks.push(empty("No exception is open at the end of the as-of date."));
        return Ok(section(
            "exceptions",
            "What is stuck, and for how long?",
            lead,
            blocks,
        ));
    }
    let stacks = names
        .iter()
        .map(|t| {
            (
                t.replace('_', " "),
                (0..AGE_BUCKETS.len())
                    .map(|b| cells.get(&(t.clone(), b)).copied().unwrap_or(0.0))
                    .collect(),
            )
        })
        .collect();
    let c = chart::render(
        cx.charts,
        "exception_aging",
        "Open exceptions by age",
        "Each bar is the exceptions open at the end of the as-of date in that age bucket, stacked by type; the red note counts those past their SLA.",
        (860, 360),
        &StackedBars {
            categories: AGE_BUCKETS.iter().map(|s| s.to_string()).collect(),
            stacks,
            notes,
            y_label: "open exceptions".into(),
        },
    )?;
    blocks.push(cx.figure(c, None));
    blocks.push(heading("Oldest exceptions past their SLA"));
    match cx.frame("exception_backlog") {
        Some(b) => {
            let flags = b.text("breached");
            let breached = b.filter(|i| flags[i].as_deref() == Some("true"));
            if breached.rows() == 0 {
                blocks.push(empty("No open exception is past its SLA."));
            } else {
                let rows = top_rows(&breached.num("age_hours"), cx.top_n);
                blocks.push(cx.table(
                    &breached,
                    &rows,
                    &[
                        ("exception_id", "Exception", Kind::Code),
                        ("exception_type", "Type", Kind::Text),
                        ("severity", "Severity", Kind::Text),
                        ("status", "Status", Kind::Text),
                        ("age_hours", "Age", Kind::Hours),
                        ("sla_hours", "SLA", Kind::Hours),
                        ("owner", "Owner", Kind::Text),
                        ("warehouse_id", "Warehouse", Kind::Code),
                        ("location_id", "Location", Kind::Code),
                        ("sku", "SKU", Kind::Code),
                    ],
                ));
                blocks.push(para(
                    format!(
                        "{} of {} breached exceptions shown, oldest first; all are in ",
                        rows.len(),
                        format::number(breached.rows() as f64, 0)
                    ),
                    Some("kpis/exception_backlog.csv"),
                    ".",
                ));
            }
        }
        None => blocks.push(missing_kpi("The exception backlog")),
    }
    Ok(section(
        "exceptions",
        "What is stuck, and for how long?",
        lead,
        blocks,
    ))
}

/// The top `n` rows of `f` by `value` (> 0) as bars labelled by `label(row)`.
fn bars(
    f: &Frame,
    value: &str,
    n: usize,
    label: impl Fn(usize) -> String,
) -> Vec<(String, Vec<f64>)> {
    let values = f.num(value);
    top_rows(&values, n)
        .into_iter()
        .filter(|&i| values[i].is_some_and(|v| v > 0.0))
        .map(|i| (label(i), vec![values[i].unwrap_or(0.0)]))
        .collect()
}

fn inventory(cx: &Ctx) -> Result<Section> {
    let lead = "Cycle counts in the window: how far the stock record was from the shelf, valued at unit cost, by zone and by the SKU's supplier.";
    let n = cx.top_n;
    let mut grid = Vec::new();
    for (name, key, title, noun, colour) in [
        (
            "count_variance_by_zone",
            "zone",
            "Count variance value by zone",
            "zones",
            0,
        ),
        (
            "count_variance_by_supplier",
            "supplier_id",
            "Count variance value by supplier",
            "suppliers",
            2,
        ),
    ] {
        match cx.frame(name) {
            Some(f) => {
                let (w, k) = (f.text("warehouse_id"), f.text(key));
                let rows = bars(&f, "abs_variance_value", n, |i| {
                    format!(
                        "{} · {}",
                        w[i].clone().unwrap_or_default(),
                        k[i].clone().unwrap_or_default()
                    )
                });
                if rows.is_empty() {
                    grid.push(empty(format!("{title}: no count was off in the window.")));
                    continue;
                }
                let caption = if f.rows() > rows.len() {
                    format!(
                        "Σ |counted − system| × unit cost in {}: the top {} of {} {noun}; every one is in kpis/{name}.csv.",
                        cx.currency.trim(),
                        rows.len(),
                        format::number(f.rows() as f64, 0)
                    )
                } else {
                    format!(
                        "Σ |counted − system| × unit cost in {}.",
                        cx.currency.trim()
                    )
                };
                let height = 70 + 34 * rows.len().max(1) as u32;
                let c = chart::render(
                    cx.charts,
                    name,
                    title,
                    &caption,
                    (470, height.max(180)),
                    &HBars {
                        rows,
                        stacks: vec!["variance value".into()],
                        value_label: money_label,
                        percent_axis: false,
                        colour,
                    },
                )?;
                grid.push(cx.figure(c, None));
            }
            None => grid.push(missing_kpi(title)),
        }
    }
    let mut blocks = vec![Block::Grid { blocks: grid }, heading("Worst zones")];
    match cx.frame("count_variance_by_zone") {
        Some(f) if f.rows() > 0 => {
            let rows = top_rows(&f.num("abs_variance_value"), 5);
            blocks.push(cx.table(
                &f,
                &rows,
                &[
                    ("warehouse_id", "Warehouse", Kind::Code),
                    ("zone", "Zone", Kind::Code),
                    ("counts", "Counts", Kind::Int),
                    ("accuracy_rate", "Accuracy", Kind::Pct),
                    ("net_variance_units", "Net units", Kind::Num),
                    ("abs_variance_units", "|Units|", Kind::Num),
                    ("net_variance_value", "Net value", Kind::Money),
                    ("abs_variance_value", "|Value|", Kind::Money),
                ],
            ));
        }
        _ => blocks.push(empty("No cycle counts in the window.")),
    }
    Ok(section(
        "inventory",
        "Where is the inventory wrong?",
        lead,
        blocks,
    ))
}

/// "What moved": each tile's largest drivers, as a chart for the rates and a table for
/// every tile, from `kpi_drivers`.
fn what_moved(cx: &Ctx) -> Result<Section> {
    let title = "What moved since the previous window?";
    let lead = "Each headline figure's change against the previous window, split over the segments of its KPI table (warehouse, channel, zone, type …): for rates, a segment's own rate change weighted by its share plus the shift in its share. The contributions of one dimension add up to the change; every split is in kpis/kpi_drivers.csv.";
    let all = driver_rows(cx);
    let mut blocks = Vec::new();
    if all.is_empty() {
        blocks.push(empty(
            "No headline figure has a change to explain (no full previous window, or nothing changed).",
        ));
        return Ok(section("moved", title, lead, blocks));
    }
    // The rates: the two largest drivers of each, in points, lowered and raised apart.
    let mut bars: Vec<(String, Vec<f64>)> = Vec::new();
    for def in cx.inputs.tiles.iter().filter(|d| d.unit == Unit::Rate) {
        for d in all.get(&def.key).into_iter().flatten().take(2) {
            let pts = d.contribution * 100.0;
            bars.push((
                format!("{} ({:+.1}) · {}", d.segment, pts, def.title),
                if pts < 0.0 {
                    vec![-pts, 0.0]
                } else {
                    vec![0.0, pts]
                },
            ));
        }
    }
    if !bars.is_empty() {
        let height = 70 + 34 * bars.len() as u32;
        let c = chart::render(
            cx.charts,
            "what_moved",
            "Largest drivers of the rates' changes",
            "Points of each rate's change explained by one segment (the two largest per rate), against the previous window.",
            (860, height.max(300)),
            &HBars {
                rows: bars,
                stacks: vec!["lowered".into(), "raised".into()],
                value_label: points_label,
                percent_axis: false,
                colour: 0,
            },
        )?;
        blocks.push(cx.figure(c, None));
    }
    let cell = |text: String, kind: Kind| Cell {
        text,
        align: kind.align(),
        strong: false,
        lines: Vec::new(),
    };
    let mut rows = Vec::new();
    for def in cx.inputs.tiles {
        for d in all.get(&def.key).into_iter().flatten().take(3) {
            let side =
                |v: Option<f64>| v.map_or_else(|| "none".to_string(), |v| shown(cx, def.unit, v));
            rows.push(vec![
                cell(def.title.clone(), Kind::Text),
                cell(d.dimension.clone(), Kind::Code),
                cell(d.segment.clone(), Kind::Code),
                cell(format!("{} → {}", side(d.base), side(d.current)), Kind::Num),
                cell(signed(cx, def.unit, d.contribution), Kind::Num),
            ]);
        }
    }
    let heads = [
        ("Figure", Kind::Text),
        ("Split by", Kind::Code),
        ("Segment", Kind::Code),
        ("Before → now", Kind::Num),
        ("Explains", Kind::Num),
    ];
    blocks.push(Block::Table {
        headers: heads
            .iter()
            .map(|(h, k)| Head {
                text: (*h).to_string(),
                align: k.align(),
            })
            .collect(),
        rows,
        cards: true,
    });
    Ok(section("moved", title, lead, blocks))
}

fn points_label(v: f64) -> String {
    format!("{} pts", format::number(v, 1))
}

/// "Inventory position": what each site says it holds by status, the SKUs whose open
/// orders stock cannot cover, and how long receipts take to become sellable.
fn stock_position(cx: &Ctx) -> Result<Section> {
    let title = "Can we promise what we hold?";
    let lead = "The latest inventory snapshot of each warehouse by stock status, against the orders still open: available-to-promise (ATP) = available − max(0, open demand − reserved).";
    let mut blocks = Vec::new();
    match cx.frame("report_inventory_status") {
        Some(f) if f.rows() > 0 => {
            let w = f.text("warehouse_id");
            let (q, d) = (f.num("quarantined"), f.num("damaged"));
            let rows: Vec<(String, Vec<f64>)> = (0..f.rows())
                .map(|i| {
                    (
                        w[i].clone().unwrap_or_default(),
                        vec![q[i].unwrap_or(0.0), d[i].unwrap_or(0.0)],
                    )
                })
                .collect();
            let height = 70 + 34 * rows.len().max(1) as u32;
            let c = chart::render(
                cx.charts,
                "stock_on_hold",
                "Quarantined and damaged units by warehouse",
                "Units in the latest snapshot that are on hand but cannot be sold: held for inspection (quarantined) or damaged. Every SKU is in kpis/inventory_position.csv.",
                (860, height.max(300)),
                &HBars {
                    rows,
                    stacks: vec!["quarantined".into(), "damaged".into()],
                    value_label: units_label,
                    percent_axis: false,
                    colour: 1,
                },
            )?;
            blocks.push(cx.figure(c, None));
            let all: Vec<usize> = (0..f.rows()).collect();
            blocks.push(cx.table(
                &f,
                &all,
                &[
                    ("warehouse_id", "Warehouse", Kind::Code),
                    ("skus", "SKUs", Kind::Int),
                    ("skus_atp_negative", "SKUs ATP < 0", Kind::Int),
                    ("units_short", "Units short", Kind::Num),
                    ("available", "Available", Kind::Num),
                    ("reserved", "Reserved", Kind::Num),
                    ("quarantined", "Quarantined", Kind::Num),
                    ("damaged", "Damaged", Kind::Num),
                    ("in_transit", "In transit", Kind::Num),
                ],
            ));
        }
        Some(_) => blocks.push(empty(
            "No inventory snapshot up to this date: send the optional inventory_snapshots feed (stock by status) to see available-to-promise.",
        )),
        None => blocks.push(missing_kpi("Inventory position")),
    }
    if let Some(f) = cx.frame("inventory_position")
        && f.rows() > 0
    {
        blocks.push(heading("SKUs we cannot promise"));
        let atp = f.num("available_to_promise");
        // Most negative first: the order of −ATP, keeping only ATP < 0.
        let short: Vec<Option<f64>> = atp.iter().map(|v| v.map(|v| -v)).collect();
        let rows: Vec<usize> = top_rows(&short, cx.top_n)
            .into_iter()
            .filter(|&i| short[i].is_some_and(|v| v > 0.0))
            .collect();
        if rows.is_empty() {
            blocks.push(empty(
                "Every SKU's open orders are covered by available or reserved stock.",
            ));
        } else {
            blocks.push(cx.table(
                &f,
                &rows,
                &[
                    ("warehouse_id", "Warehouse", Kind::Code),
                    ("sku", "SKU", Kind::Code),
                    ("available", "Available", Kind::Num),
                    ("reserved", "Reserved", Kind::Num),
                    ("open_demand", "Open demand", Kind::Num),
                    ("available_to_promise", "ATP", Kind::Num),
                    ("quarantined", "Quarantined", Kind::Num),
                    ("in_transit", "In transit", Kind::Num),
                ],
            ));
        }
    }
    blocks.push(heading("Receiving to available"));
    match cx.frame("receiving_to_available") {
        Some(f) if f.rows() > 0 => {
            let all: Vec<usize> = (0..f.rows()).collect();
            blocks.push(cx.table(
                &f,
                &all,
                &[
                    ("warehouse_id", "Warehouse", Kind::Code),
                    ("receipt_lines", "Receipt lines", Kind::Int),
                    ("hours_median", "Median", Kind::Hours),
                    ("hours_p90", "p90", Kind::Hours),
                ],
            ));
        }
        Some(_) => blocks.push(empty(
            "No receipt line became available in the window (receipts without available_at are left out).",
        )),
        None => blocks.push(missing_kpi("Receiving to available")),
    }
    Ok(section("position", title, lead, blocks))
}

fn units_label(v: f64) -> String {
    format::number(v, 0)
}

fn money_label(v: f64) -> String {
    // Chart labels use the short form without a currency (the caption names it).
    format::money(v, "")
}

fn suppliers(cx: &Ctx) -> Result<Section> {
    let lead = "Receipt lines in the window that arrived short, over or damaged, as a share of each supplier's lines: the suppliers with the most discrepant lines.";
    let mut blocks = Vec::new();
    let Some(f) = cx.frame("report_supplier_scorecard") else {
        blocks.push(missing_kpi("Supplier receipt accuracy"));
        return Ok(section(
            "suppliers",
            "Which suppliers are behind it?",
            lead,
            blocks,
        ));
    };
    // The table is ordered worst first; only suppliers with a discrepant line.
    let bad = f.num("discrepant_lines");
    let shown: Vec<usize> = (0..f.rows())
        .filter(|&i| bad[i].is_some_and(|v| v > 0.0))
        .take(cx.top_n)
        .collect();
    let (ids, names) = (f.text("supplier_id"), f.text("supplier_name"));
    let (short, over, dmg) = (
        f.num("short_share"),
        f.num("over_share"),
        f.num("damaged_share"),
    );
    let rows = shown
        .iter()
        .map(|&i| {
            let label = match (&names[i], &ids[i]) {
                (Some(nm), Some(id)) if !nm.is_empty() => format!("{id} · {nm}"),
                (_, Some(id)) => id.clone(),
                _ => String::new(),
            };
            (
                label,
                vec![
                    short[i].unwrap_or(0.0),
                    over[i].unwrap_or(0.0),
                    dmg[i].unwrap_or(0.0),
                ],
            )
        })
        .collect::<Vec<_>>();
    if rows.is_empty() {
        blocks.push(empty("No receipt discrepancies in the window."));
        return Ok(section(
            "suppliers",
            "Which suppliers are behind it?",
            lead,
            blocks,
        ));
    }
    let height = 90 + 34 * rows.len().max(1) as u32;
    let c = chart::render(
        cx.charts,
        "supplier_scorecard",
        "Supplier receipt scorecard",
        "Share of each supplier's receipt lines in the window that were short, over or damaged (a line can be both short and damaged).",
        (860, height.max(200)),
        &HBars {
            rows,
            stacks: vec!["short".into(), "over".into(), "damaged".into()],
            value_label: format::percent,
            percent_axis: true,
            colour: 0,
        },
    )?;
    blocks.push(cx.figure(c, None));
    blocks.push(heading("Suppliers with the most discrepant lines"));
    let top5: Vec<usize> = shown.into_iter().take(5).collect();
    if top5.is_empty() {
        blocks.push(empty("No receipt discrepancies in the window."));
    } else {
        blocks.push(cx.table(
            &f,
            &top5,
            &[
                ("supplier_id", "Supplier", Kind::Code),
                ("supplier_name", "Name", Kind::Text),
                ("receipt_lines", "Lines", Kind::Int),
                ("short_lines", "Short", Kind::Int),
                ("over_lines", "Over", Kind::Int),
                ("damaged_lines", "Damaged", Kind::Int),
                ("accuracy_rate", "Accuracy", Kind::Pct),
                ("on_time_rate", "On time", Kind::Pct),
            ],
        ));
    }
    Ok(section(
        "suppliers",
        "Which suppliers are behind it?",
        lead,
        blocks,
    ))
}

fn count_today(cx: &Ctx) -> Section {
    let lead = "The SKU-locations most likely to have a wrong stock record, ranked, with the signals behind each.";
    let mut blocks = Vec::new();
    match cx.frame(crate::kpi::priority::QUERY) {
        Some(f) if f.rows() > 0 => {
            let rows: Vec<usize> = (0..f.rows().min(cx.top_n * 2)).collect();
            blocks.push(cx.table(
                &f,
                &rows,
                &[
                    ("rank", "#", Kind::Int),
                    ("warehouse_id", "Warehouse", Kind::Code),
                    ("location_id", "Location", Kind::Code),
                    ("sku", "SKU", Kind::Code),
                    ("score", "Score", Kind::Num),
                    ("reasons", "Why", Kind::Text),
                ],
            ));
            blocks.push(para(
                format!("The full list ({} rows) is in ", f.rows()),
                Some("kpis/count_priority.csv"),
                ".",
            ));
        }
        Some(_) => blocks.push(empty("No SKU-location needs a count today.")),
        None => blocks.push(empty(
            "The cycle-count priority list is not part of this run; count by your usual schedule.",
        )),
    }
    blocks.extend(backtest(cx));
    section("count", "What we count today", lead, blocks)
}

/// Does the list earn its keep? The nightly backtest, score against the baselines.
fn backtest(cx: &Ctx) -> Vec<Block> {
    let Some(f) = cx.frame(crate::kpi::priority::BACKTEST_TABLE) else {
        return Vec::new();
    };
    if f.rows() == 0 {
        return Vec::new();
    }
    let (method, k, prec, hits) = (
        f.text("method"),
        f.num("k"),
        f.num("precision"),
        f.num("hits"),
    );
    let first_text = |c: &str| f.text(c).first().cloned().flatten().unwrap_or_default();
    let first_num = |c: &str| f.num(c).first().copied().flatten().unwrap_or(0.0);
    let label = |m: &str| -> String {
        match m {
            "score" => "This list",
            "random" => "Random bins",
            "abc_overdue" => "ABC schedule (most overdue first)",
            "rule_ladder" => "Rule ladder (negative stock, never counted / overdue by ABC)",
            "largest_last_variance" => "Largest last variance",
            "most_exceptions" => "Most exceptions (shortages, mismatches)",
            other => other,
        }
        .to_string()
    };
    let ks = crate::kpi::priority::KS;
    let mut headers = vec![Head {
        text: "Ranking".into(),
        align: "l",
    }];
    headers.extend(ks.iter().map(|kk| Head {
        text: format!("Top {kk}"),
        align: "r",
    }));
    let mut seen: Vec<String> = Vec::new();
    let mut rows = Vec::new();
    for m in method.iter().flatten() {
        if seen.contains(m) {
            continue;
        }
        seen.push(m.clone());
        let mut row = vec![Cell {
            text: label(m),
            align: "l",
            strong: m == "score",
            lines: Vec::new(),
        }];
        for kk in ks {
            let at = (0..f.rows())
                .find(|&i| method[i].as_deref() == Some(m.as_str()) && k[i] == Some(kk as f64));
            row.push(Cell {
                text: at.map_or("–".into(), |i| {
                    format!(
                        "{} ({})",
                        format::percent(prec[i].unwrap_or(0.0)),
                        format::number(hits[i].unwrap_or(0.0), 0)
                    )
                }),
                align: "r",
                strong: false,
                lines: Vec::new(),
            });
        }
        rows.push(row);
    }
    vec![
        heading("Does the list earn its keep?"),
        para(
            format!(
                "The list as it would have been ranked on {} (from the data up to then only), against what the next {} days revealed: {} SKU-locations were found off at a count or needed a correcting adjustment. Share of the top k that were (and how many):",
                first_text("as_of"),
                format::number(first_num("horizon_days"), 0),
                format::number(first_num("positives"), 0)
            ),
            None,
            "",
        ),
        Block::Table {
            headers,
            rows,
            cards: false,
        },
    ]
    .into_iter()
    .chain(cx.inputs.weights.map(|w| para(weights_note(w), None, "")))
    .collect()
}

/// Which weights ranked the list, in words.
fn weights_note(w: &crate::kpi::priority_fit::WeightFit) -> String {
    let top = |hits: &[usize]| {
        crate::kpi::priority::KS
            .iter()
            .zip(hits)
            .map(|(k, h)| format!("{h} in the top {k}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match (&w.validation, w.status.as_str()) {
        (Some(v), "fitted") => format!(
            "Weights: learned from this site's own history. On {} the weights learned from the weeks before found {} of the {} records corrected in the next {} days, the standard weights {}. This table ranks with weights learned before its date, so it is a fair test.",
            v.as_of,
            top(&v.hits_fitted),
            format::number(v.positives as f64, 0),
            w.horizon_days,
            top(&v.hits_defaults)
        ),
        (Some(v), _) => {
            let at_50 = |h: &[usize]| {
                crate::kpi::priority::KS
                    .iter()
                    .position(|&k| k == 50)
                    .and_then(|i| h.get(i).copied())
                    .unwrap_or(0)
            };
            format!(
                "Weights: the standard ones. Weights learned from this site's history did not clearly do better: of the {} records found off at counts in the {} days after {}, they put {} in their top 50, the standard weights {}.",
                format::number(v.positives as f64, 0),
                w.horizon_days,
                v.as_of,
                at_50(&v.hits_fitted),
                at_50(&v.hits_defaults)
            )
        }
        _ => format!("Weights: the standard ones ({}).", w.reason),
    }
}

/// KPIs added by the user's queries folder: a chart when the header has a `-- chart:`
/// line (see `user_chart`), and the top rows as a table.
fn user_kpis(cx: &Ctx) -> Result<Option<Section>> {
    let user: Vec<_> = cx
        .inputs
        .results
        .iter()
        .filter(|r| matches!(r.query.origin, Origin::User(_)))
        .filter(|r| !is_builtin_section(&r.query.name))
        .collect();
    if user.is_empty() {
        return Ok(None);
    }
    let mut blocks = Vec::new();
    for r in user {
        let title = if r.query.header.title.is_empty() {
            r.query.name.clone()
        } else {
            r.query.header.title.clone()
        };
        blocks.push(heading(title.clone()));
        if !r.query.header.description.is_empty() {
            blocks.push(para(r.query.header.description.clone(), None, ""));
        }
        match &r.outcome {
            Ok(b) => {
                let f = Frame::new(&r.schema, b);
                if let Some(spec) = &r.query.header.chart {
                    let provisional = provisional_from(cx.inputs.freshness, &r.query.header.feeds);
                    let drawn = user_chart::parse(spec)
                        .map_err(|m| crate::error::Error::Chart {
                            name: r.query.name.clone(),
                            message: m,
                        })
                        .and_then(|spec| {
                            user_chart::render(
                                cx.charts,
                                &format!("kpi_{}", r.query.name),
                                &title,
                                &spec,
                                &f,
                                cx.top_n,
                                provisional,
                            )
                        });
                    match drawn {
                        Ok(c) => {
                            blocks.push(cx.figure(c, provisional.map(|d| provisional_note(cx, d))))
                        }
                        Err(e) => blocks.push(empty(format!(
                            "The chart of this KPI could not be drawn: {e}"
                        ))),
                    }
                }
                let cols: Vec<String> = f.columns();
                let spec: Vec<(&str, &str, Kind)> = cols
                    .iter()
                    .map(|c| (c.as_str(), c.as_str(), Kind::Text))
                    .collect();
                let rows: Vec<usize> = (0..f.rows().min(cx.top_n * 2)).collect();
                blocks.push(cx.table(&f, &rows, &spec));
            }
            Err(e) => blocks.push(empty(format!("This KPI failed: {e}"))),
        }
    }
    Ok(Some(section("more", "More KPIs", "", blocks)))
}

fn is_builtin_section(name: &str) -> bool {
    [
        "fill_rate",
        "exception_aging",
        "exception_backlog",
        "count_variance_by_zone",
        "count_variance_by_supplier",
        "supplier_receipt_accuracy",
        "order_flow",
        "order_cycle_time",
        "backorders",
        "inventory_position",
        "receiving_to_available",
        crate::kpi::priority::QUERY,
        crate::kpi::priority::BACKTEST_TABLE,
    ]
    .contains(&name)
}

fn quality(cx: &Ctx) -> Section {
    let lead = "Rows this run took in per feed, rows refused and why, and how recent each feed's data is at the end of the as-of date.";
    let mut blocks = Vec::new();
    let ingest: BTreeMap<&str, &crate::ingest::TableSummary> = cx
        .inputs
        .ingest
        .map(|r| r.tables.iter().map(|t| (t.table.as_str(), t)).collect())
        .unwrap_or_default();
    if cx.inputs.ingest.is_none() {
        blocks.push(para(
            "No files were ingested in this run; the counts below are empty and freshness comes from the lake.",
            None,
            "",
        ));
    }
    let n = |v: Option<u64>| v.map_or("–".into(), |x| format::number(x as f64, 0));
    let cell = |text: String, align: &'static str| Cell {
        text,
        align,
        strong: false,
        lines: Vec::new(),
    };
    let rows = cx
        .inputs
        .freshness
        .iter()
        .map(|f| {
            let t = ingest.get(f.table.as_str());
            let state = match f.state {
                FeedState::Fresh => "fresh".to_string(),
                FeedState::Stale => {
                    format!("stale: {} old", format::hours(f.age_hours.unwrap_or(0.0)))
                }
                FeedState::Missing => "no data".to_string(),
                FeedState::NotSent => "not sent (optional)".to_string(),
                FeedState::Unchecked => "not checked".to_string(),
            };
            let reasons: Vec<String> = t
                .map(|t| {
                    t.top_reject_reasons
                        .iter()
                        .take(3)
                        .map(|r| {
                            // The fix-it hint in parentheses is for the manifest, not the page.
                            let short = r.reason.split(" (").next().unwrap_or(&r.reason);
                            format!("{} × {}", format::number(r.rows as f64, 0), short)
                        })
                        .collect()
                })
                .unwrap_or_default();
            vec![
                cell(f.table.clone(), "l nw"),
                cell(n(t.map(|t| t.accepted)), "r"),
                cell(n(t.map(|t| t.rejected)), "r"),
                cell(n(t.map(|t| t.duplicates)), "r"),
                cell(
                    f.newest
                        .clone()
                        .unwrap_or_else(|| "–".into())
                        .replace('T', " ")
                        .replace('Z', " UTC"),
                    "l",
                ),
                cell(state, "l"),
                Cell {
                    text: String::new(),
                    align: "l",
                    strong: false,
                    lines: reasons,
                },
            ]
        })
        .collect();
    let head = |text: &str, align: &'static str| Head {
        text: text.into(),
        align,
    };
    blocks.push(Block::Table {
        headers: vec![
            head("Feed", "l"),
            head("Accepted", "r"),
            head("Rejected", "r"),
            head("Duplicates", "r"),
            head("Newest data", "l"),
            head("State", "l"),
            head("Top reject reasons", "l"),
        ],
        rows,
        cards: true,
    });
    if let Some(r) = cx.inputs.ingest {
        let bad: Vec<Item> = r
            .files
            .iter()
            .filter(|f| matches!(f.status, FileStatus::Failed | FileStatus::Partial))
            .map(|f| Item {
                code: Some(f.path.clone()),
                strong: None,
                text: f.message.clone(),
            })
            .collect();
        if !bad.is_empty() {
            blocks.push(heading("Files not (fully) read"));
            blocks.push(Block::List { items: bad });
        }
    }
    let failed: Vec<Item> = cx
        .inputs
        .results
        .iter()
        .filter_map(|r| {
            r.outcome.as_ref().err().map(|e| Item {
                code: None,
                strong: Some(r.query.name.clone()),
                text: e.clone(),
            })
        })
        .collect();
    if !failed.is_empty() {
        blocks.push(heading("KPIs that failed"));
        blocks.push(Block::List { items: failed });
    }
    blocks.extend(checks(cx));
    section("quality", "Can these numbers be trusted?", lead, blocks)
}

/// The data checks of this run: how many passed, and each one that found rows.
fn checks(cx: &Ctx) -> Vec<Block> {
    let all = cx.inputs.checks;
    if all.is_empty() {
        return Vec::new();
    }
    let passed = all.iter().filter(|c| c.passed()).count();
    let mut out = vec![
        heading("Data checks"),
        para(
            format!("{passed} of {} checks found nothing wrong (", all.len()),
            Some("queries/checks"),
            ").",
        ),
    ];
    let bad: Vec<Item> = all
        .iter()
        .filter(|c| !c.passed())
        .map(|c| {
            let what = match &c.error {
                Some(e) => format!("could not run: {e}"),
                None => format!(
                    "{} row{} break{} it",
                    format::number(c.violations as f64, 0),
                    if c.violations == 1 { "" } else { "s" },
                    if c.violations == 1 { "s" } else { "" }
                ),
            };
            Item {
                code: None,
                strong: Some(if c.title.is_empty() {
                    c.name.clone()
                } else {
                    format!("{} ({})", c.title, c.name)
                }),
                text: format!("{what}. {}", c.description),
            }
        })
        .collect();
    if !bad.is_empty() {
        out.push(Block::List { items: bad });
    }
    out
}

fn definitions(cx: &Ctx) -> Vec<Definition> {
    cx.inputs
        .results
        .iter()
        .map(|r| {
            let q = &r.query;
            Definition {
                title: if q.header.title.is_empty() {
                    q.name.clone()
                } else {
                    q.header.title.clone()
                },
                name: q.name.clone(),
                description: q.header.description.clone(),
                grain: q.header.grain.clone(),
                columns: q
                    .header
                    .columns
                    .iter()
                    .map(|(c, d)| ColumnDoc {
                        name: c.clone(),
                        meaning: d.clone(),
                    })
                    .collect(),
            }
        })
        .collect()
}
