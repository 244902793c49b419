//! The KPI tiles at the top of the report: what each one measures, how it is
//! computed from the KPI tables, and its status against the configured thresholds.
//!
//! Every tile value is a documented function of one KPI table, so a reader (or a test)
//! can recompute it from `kpis/*.parquet`:
//!
//! | tile | from | value |
//! |---|---|---|
//! | `unit_fill_rate` | fill_rate | Σ units_filled / Σ units_demanded |
//! | `line_fill_rate` | fill_rate | Σ line_fill_rate × lines / Σ lines |
//! | `order_fill_rate` | fill_rate | Σ order_fill_rate × orders / Σ orders |
//! | `otif_rate` | fill_rate | Σ otif_rate × lines / Σ lines |
//! | `open_exceptions` | exception_aging | Σ open_count |
//! | `sla_breaches` | exception_aging | Σ breached_count |
//! | `record_accuracy` | count_variance_by_zone | Σ accurate_counts / Σ counts |
//! | `abs_variance_value` | count_variance_by_zone | Σ abs_variance_value |
//! | `receipt_accuracy` | supplier_receipt_accuracy | Σ accuracy_rate × receipt_lines / Σ receipt_lines |
//! | `return_to_stock_hours` | return_to_stock | median_hours of the ALL row |

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use super::format;
use super::frame::Frame;
use crate::config::TileTarget;

/// How a tile's value is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    Rate,
    Count,
    Money,
    Hours,
}

/// Which direction is good.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Better {
    Higher,
    Lower,
}

/// A tile's definition.
pub struct TileDef {
    pub key: &'static str,
    pub title: &'static str,
    pub source: &'static str,
    /// The lake table whose history bounds when the KPI can be computed.
    pub table: &'static str,
    pub unit: Unit,
    pub better: Better,
    /// Default target, good and warn thresholds (None: neutral unless configured).
    pub defaults: (Option<f64>, Option<f64>, Option<f64>),
    pub help: &'static str,
}

pub const TILES: &[TileDef] = &[
    TileDef {
        key: "unit_fill_rate",
        title: "Unit fill rate",
        source: "fill_rate",
        table: "order_lines",
        unit: Unit::Rate,
        better: Better::Higher,
        defaults: (Some(0.98), Some(0.97), Some(0.94)),
        help: "units shipped of units due",
    },
    TileDef {
        key: "line_fill_rate",
        title: "Line fill rate",
        source: "fill_rate",
        table: "order_lines",
        unit: Unit::Rate,
        better: Better::Higher,
        defaults: (Some(0.97), Some(0.96), Some(0.92)),
        help: "lines shipped in full",
    },
    TileDef {
        key: "order_fill_rate",
        title: "Order fill rate",
        source: "fill_rate",
        table: "order_lines",
        unit: Unit::Rate,
        better: Better::Higher,
        defaults: (Some(0.95), Some(0.94), Some(0.90)),
        help: "orders shipped complete",
    },
    TileDef {
        key: "otif_rate",
        title: "OTIF",
        source: "fill_rate",
        table: "order_lines",
        unit: Unit::Rate,
        better: Better::Higher,
        defaults: (Some(0.95), Some(0.93), Some(0.88)),
        help: "lines in full by their promise",
    },
    TileDef {
        key: "open_exceptions",
        title: "Open exceptions",
        source: "exception_aging",
        table: "exception_events",
        unit: Unit::Count,
        better: Better::Lower,
        defaults: (None, None, None),
        help: "open at the end of the day",
    },
    TileDef {
        key: "sla_breaches",
        title: "SLA breaches",
        source: "exception_aging",
        table: "exception_events",
        unit: Unit::Count,
        better: Better::Lower,
        defaults: (None, None, None),
        help: "open and older than their SLA",
    },
    TileDef {
        key: "record_accuracy",
        title: "Inventory record accuracy",
        source: "count_variance_by_zone",
        table: "cycle_counts",
        unit: Unit::Rate,
        better: Better::Higher,
        defaults: (Some(0.97), Some(0.95), Some(0.90)),
        help: "cycle counts matching the record",
    },
    TileDef {
        key: "abs_variance_value",
        title: "Count variance value",
        source: "count_variance_by_zone",
        table: "cycle_counts",
        unit: Unit::Money,
        better: Better::Lower,
        defaults: (None, None, None),
        help: "Σ |variance × unit cost| counted",
    },
    TileDef {
        key: "receipt_accuracy",
        title: "Supplier receipt accuracy",
        source: "supplier_receipt_accuracy",
        table: "receipts",
        unit: Unit::Rate,
        better: Better::Higher,
        defaults: (Some(0.95), Some(0.93), Some(0.88)),
        help: "receipt lines exact and undamaged",
    },
    TileDef {
        key: "return_to_stock_hours",
        title: "Return to stock",
        source: "return_to_stock",
        table: "return_events",
        unit: Unit::Hours,
        better: Better::Lower,
        defaults: (Some(48.0), Some(48.0), Some(96.0)),
        help: "median, received → restocked",
    },
];

/// Every tile's value from the KPI tables at hand (missing table or no data: None).
pub fn values(tables: &HashMap<String, Frame>) -> BTreeMap<&'static str, Option<f64>> {
    let mut out = BTreeMap::new();
    let ratio = |n: f64, d: f64| (d > 0.0).then(|| n / d);
    if let Some(f) = tables.get("fill_rate") {
        out.insert(
            "unit_fill_rate",
            ratio(f.sum("units_filled"), f.sum("units_demanded")),
        );
        out.insert("line_fill_rate", f.weighted_mean("line_fill_rate", "lines"));
        out.insert(
            "order_fill_rate",
            f.weighted_mean("order_fill_rate", "orders"),
        );
        out.insert("otif_rate", f.weighted_mean("otif_rate", "lines"));
    }
    if let Some(f) = tables.get("exception_aging") {
        out.insert("open_exceptions", Some(f.sum("open_count")));
        out.insert("sla_breaches", Some(f.sum("breached_count")));
    }
    if let Some(f) = tables.get("count_variance_by_zone") {
        out.insert(
            "record_accuracy",
            ratio(f.sum("accurate_counts"), f.sum("counts")),
        );
        out.insert(
            "abs_variance_value",
            (f.rows() > 0).then(|| f.sum("abs_variance_value")),
        );
    }
    if let Some(f) = tables.get("supplier_receipt_accuracy") {
        out.insert(
            "receipt_accuracy",
            f.weighted_mean("accuracy_rate", "receipt_lines"),
        );
    }
    if let Some(f) = tables.get("return_to_stock") {
        let ids = f.text("warehouse_id");
        let med = f.num("median_hours");
        let all = ids.iter().position(|w| w.as_deref() == Some("ALL"));
        out.insert("return_to_stock_hours", all.and_then(|i| med[i]));
    }
    out
}

/// A tile's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    OnTrack,
    Watch,
    Act,
    /// No thresholds configured.
    Neutral,
    NoData,
}

impl Status {
    pub fn label(self) -> &'static str {
        match self {
            Status::OnTrack => "On track",
            Status::Watch => "Watch",
            Status::Act => "Act now",
            Status::Neutral => "No target",
            Status::NoData => "No data",
        }
    }
    pub fn class(self) -> &'static str {
        match self {
            Status::OnTrack => "ok",
            Status::Watch => "watch",
            Status::Act => "act",
            Status::Neutral => "neutral",
            Status::NoData => "nodata",
        }
    }
}

/// A tile ready to show.
#[derive(Debug, Clone, Serialize)]
pub struct Tile {
    pub key: &'static str,
    pub title: &'static str,
    pub help: &'static str,
    pub unit: Unit,
    pub value: Option<f64>,
    pub previous: Option<f64>,
    pub target: Option<f64>,
    pub status: Status,
    /// Oldest first.
    pub trend: Vec<Option<f64>>,
    #[serde(skip)]
    pub better: Better,
}

impl Tile {
    pub fn build(
        def: &TileDef,
        value: Option<f64>,
        previous: Option<f64>,
        trend: Vec<Option<f64>>,
        configured: Option<&TileTarget>,
    ) -> Tile {
        let c = configured.copied().unwrap_or_default();
        let target = c.target.or(def.defaults.0);
        let good = c.good.or(if c.target.is_some() {
            c.target
        } else {
            def.defaults.1
        });
        let warn = c.warn.or(def.defaults.2);
        let status = match (value, good) {
            (None, _) => Status::NoData,
            (Some(_), None) => Status::Neutral,
            (Some(v), Some(g)) => {
                let w = warn.unwrap_or(g);
                match def.better {
                    Better::Higher if v >= g => Status::OnTrack,
                    Better::Higher if v >= w => Status::Watch,
                    Better::Higher => Status::Act,
                    Better::Lower if v <= g => Status::OnTrack,
                    Better::Lower if v <= w => Status::Watch,
                    Better::Lower => Status::Act,
                }
            }
        };
        Tile {
            key: def.key,
            title: def.title,
            help: def.help,
            unit: def.unit,
            value,
            previous,
            target,
            status,
            trend,
            better: def.better,
        }
    }

    /// The value as shown.
    pub fn shown(&self, v: f64, currency: &str) -> String {
        match self.unit {
            Unit::Rate => format::percent(v),
            Unit::Count => format::number(v, 0),
            Unit::Money => format::money(v, currency),
            Unit::Hours => format::hours(v),
        }
    }

    /// "▲ 1.2 pts vs previous 28 days" and whether that change is good.
    pub fn change(&self, currency: &str) -> Option<(String, Option<bool>)> {
        let (v, p) = (self.value?, self.previous?);
        let d = v - p;
        let arrow = if d > 0.0 {
            "▲"
        } else if d < 0.0 {
            "▼"
        } else {
            "■"
        };
        let text = match self.unit {
            Unit::Rate => format!("{arrow} {} pts", format::number(d.abs() * 100.0, 1)),
            Unit::Count => format!("{arrow} {}", format::number(d.abs(), 0)),
            Unit::Money => format!("{arrow} {}", format::money(d.abs(), currency)),
            Unit::Hours => format!("{arrow} {}", format::hours(d.abs())),
        };
        let good = (d != 0.0).then(|| (d > 0.0) == (self.better == Better::Higher));
        Some((text, good))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn def(key: &str) -> &'static TileDef {
        TILES.iter().find(|t| t.key == key).expect("tile")
    }

    #[test]
    fn statuses_follow_thresholds_and_direction() {
        let fill = def("unit_fill_rate");
        assert_eq!(
            Tile::build(fill, Some(0.975), None, vec![], None).status,
            Status::OnTrack
        );
        assert_eq!(
            Tile::build(fill, Some(0.95), None, vec![], None).status,
            Status::Watch
        );
        assert_eq!(
            Tile::build(fill, Some(0.90), None, vec![], None).status,
            Status::Act
        );
        assert_eq!(
            Tile::build(fill, None, None, vec![], None).status,
            Status::NoData
        );
        let rts = def("return_to_stock_hours");
        assert_eq!(
            Tile::build(rts, Some(30.0), None, vec![], None).status,
            Status::OnTrack
        );
        assert_eq!(
            Tile::build(rts, Some(70.0), None, vec![], None).status,
            Status::Watch
        );
        assert_eq!(
            Tile::build(rts, Some(100.0), None, vec![], None).status,
            Status::Act
        );
        let open = def("open_exceptions");
        assert_eq!(
            Tile::build(open, Some(10.0), None, vec![], None).status,
            Status::Neutral
        );
        let cfg = TileTarget {
            target: Some(5.0),
            good: None,
            warn: Some(20.0),
        };
        assert_eq!(
            Tile::build(open, Some(10.0), None, vec![], Some(&cfg)).status,
            Status::Watch
        );
        let t = Tile::build(fill, Some(0.95), Some(0.97), vec![], None);
        assert_eq!(t.change("$"), Some(("▼ 2.0 pts".to_string(), Some(false))));
    }
}
