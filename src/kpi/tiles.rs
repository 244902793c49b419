//! The report's tiles: headline figures, each declared in the header of the KPI query
//! whose table it summarises, and computed by SQL over that table, so a reader, a test
//! or an independent engine can recompute every tile from `kpis/*.parquet`.
//!
//! A declaration, in a query file's header:
//!
//! ```text
//! -- tile: unit_fill_rate
//! --   title: Unit fill rate
//! --   help: units shipped of units due
//! --   unit: rate                                  (rate, count, money or hours)
//! --   better: higher                              (higher or lower)
//! --   numerator: sum(units_filled)                (a rate: numerator / denominator)
//! --   denominator: sum(units_demanded)
//! --   target: 0.98                                (optional; config may override)
//! --   warn: 0.94                                  (optional)
//! --   feed: order_lines                           (the lake table it comes from)
//! --   position: 10                                (optional: tiles are shown in this order)
//! ```
//!
//! or `value: sum(open_count)` for a count or a sum (then `volume:` may name the
//! volume a change is judged against). The expressions are aggregates over the KPI's
//! rows. The `tiles` table (one row per tile × period) holds the value for the
//! window (`current`), the previous window (`previous`) and each of the last weeks
//! (`week`), with the numerator and denominator of rates and the change against the
//! previous window: that table is all the page shows of a tile. The status (on track,
//! watch, act now) compares the value with the target: on track when the target is
//! met, watch when the warning line is met, act now otherwise.

use serde::Serialize;

use super::{Query, TileDecl};
use crate::config::{Config, TileTarget, did_you_mean};
use crate::error::{Error, Result};

/// The name of the table the tiles are computed into.
pub const TABLE: &str = "tiles";

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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Better {
    Higher,
    Lower,
}

/// How the value is computed from the KPI table's rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Formula {
    /// Σ numerator / Σ denominator (both aggregate expressions).
    Ratio {
        numerator: String,
        denominator: String,
    },
    /// One aggregate expression; `volume` (optional) is the amount it is judged on.
    Value {
        value: String,
        volume: Option<String>,
    },
}

/// One tile, as declared.
#[derive(Debug, Clone)]
pub struct TileDef {
    pub key: String,
    /// The KPI query whose table it summarises.
    pub source: String,
    pub title: String,
    pub help: String,
    pub unit: Unit,
    pub better: Better,
    pub formula: Formula,
    pub target: Option<f64>,
    pub warn: Option<f64>,
    /// The lake table whose data the tile needs (no data there: "No data").
    pub feed: String,
    /// Where the tile stands among the others (lower first; then declaration order).
    pub position: Option<f64>,
}

/// The tiles declared by `queries`, in query order then declaration order.
pub fn declared(queries: &[Query]) -> Result<Vec<TileDef>> {
    let mut out: Vec<TileDef> = Vec::new();
    for q in queries {
        for d in &q.header.tiles {
            let def = parse(q, d)?;
            if out.iter().any(|t| t.key == def.key) {
                return Err(Error::query(
                    &q.name,
                    format!("tile {:?} is declared twice", def.key),
                ));
            }
            out.push(def);
        }
    }
    // Stable: tiles without a position keep their declaration order, after the others.
    out.sort_by(|a, b| {
        a.position
            .unwrap_or(f64::MAX)
            .total_cmp(&b.position.unwrap_or(f64::MAX))
    });
    Ok(out)
}

fn parse(q: &Query, d: &TileDecl) -> Result<TileDef> {
    let err = |m: String| Error::query(&q.name, format!("tile {:?}: {m}", d.key));
    if d.key.is_empty()
        || !d
            .key
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    {
        return Err(err("a tile's key may only use a-z, 0-9 and _".into()));
    }
    let known = [
        "title",
        "help",
        "unit",
        "better",
        "numerator",
        "denominator",
        "value",
        "volume",
        "target",
        "warn",
        "feed",
        "position",
    ];
    for (k, _) in &d.fields {
        if !known.contains(&k.as_str()) {
            return Err(err(format!("unknown line {k:?}{}", did_you_mean(k, known))));
        }
    }
    let get = |k: &str| {
        d.fields
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
    };
    let number = |k: &str| -> Result<Option<f64>> {
        get(k)
            .map(|v| {
                v.parse::<f64>()
                    .map_err(|_| err(format!("{k}: {v:?} is not a number")))
            })
            .transpose()
    };
    let unit = match get("unit").as_deref() {
        Some("rate") => Unit::Rate,
        Some("count") => Unit::Count,
        Some("money") => Unit::Money,
        Some("hours") => Unit::Hours,
        other => {
            return Err(err(format!(
                "unit must be rate, count, money or hours, not {other:?}"
            )));
        }
    };
    let better = match get("better").as_deref() {
        Some("higher") => Better::Higher,
        Some("lower") => Better::Lower,
        other => {
            return Err(err(format!(
                "better must be higher or lower, not {other:?}"
            )));
        }
    };
    let formula = match (get("numerator"), get("denominator"), get("value")) {
        (Some(n), Some(d), None) => Formula::Ratio {
            numerator: n,
            denominator: d,
        },
        (None, None, Some(v)) => Formula::Value {
            value: v,
            volume: get("volume"),
        },
        _ => {
            return Err(err(
                "give either numerator and denominator (a rate) or value".into(),
            ));
        }
    };
    let feed = get("feed").ok_or_else(|| err("feed: the lake table it needs is missing".into()))?;
    if crate::contract::table(&feed).is_none() {
        return Err(err(format!(
            "feed: no lake table is called {feed:?}{}",
            did_you_mean(&feed, crate::contract::TABLES.iter().map(|t| t.name))
        )));
    }
    let def = TileDef {
        key: d.key.clone(),
        source: q.name.clone(),
        title: get("title").unwrap_or_else(|| d.key.replace('_', " ")),
        help: get("help").unwrap_or_default(),
        unit,
        better,
        formula,
        target: number("target")?,
        warn: number("warn")?,
        feed,
        position: number("position")?,
    };
    check_thresholds(&def, def.target, def.warn).map_err(|(k, m)| err(format!("{k}: {m}")))?;
    Ok(def)
}

/// A rate's thresholds are shares (0.98, not 98).
fn check_thresholds(
    def: &TileDef,
    target: Option<f64>,
    warn: Option<f64>,
) -> std::result::Result<(), (&'static str, String)> {
    for (k, v) in [("target", target), ("warn", warn)] {
        let Some(v) = v else { continue };
        if !v.is_finite() {
            return Err((k, format!("{v} is not a number")));
        }
        if def.unit == Unit::Rate && !(0.0..=1.0).contains(&v) {
            return Err((
                k,
                format!(
                    "{v} is not a share between 0 and 1 ({} is a rate: write {} for {v}%)",
                    def.key,
                    v / 100.0
                ),
            ));
        }
    }
    if let (Some(t), Some(w)) = (target, warn) {
        let wrong = match def.better {
            Better::Higher => w > t,
            Better::Lower => w < t,
        };
        if wrong {
            return Err((
                "warn",
                format!(
                    "{w} is past the target {t}: for a {}-is-better tile the warning line lies on the other side of the target",
                    if def.better == Better::Higher {
                        "higher"
                    } else {
                        "lower"
                    }
                ),
            ));
        }
    }
    Ok(())
}

/// Check the config's `[report.tiles.<key>]` tables against the declared tiles.
pub fn check_config(tiles: &[TileDef], config: &Config) -> Result<()> {
    for (key, t) in &config.report.tiles {
        let Some(def) = tiles.iter().find(|d| &d.key == key) else {
            return Err(Error::setting(
                format!("report.tiles.{key}"),
                format!(
                    "no tile is called {key:?}{}; tiles: {}",
                    did_you_mean(key, tiles.iter().map(|d| d.key.as_str())),
                    tiles
                        .iter()
                        .map(|d| d.key.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        };
        let (target, warn) = thresholds(def, Some(t));
        check_thresholds(def, target, warn)
            .map_err(|(k, m)| Error::setting(format!("report.tiles.{key}.{k}"), m))?;
    }
    Ok(())
}

/// The target and warning line in force: the config's, else the declaration's. A
/// configured target without a warning line keeps the declared warning line only when
/// it still lies on the right side of the new target.
pub fn thresholds(def: &TileDef, configured: Option<&TileTarget>) -> (Option<f64>, Option<f64>) {
    let c = configured.copied().unwrap_or_default();
    let target = c.target.or(def.target);
    let warn = c.warn.or_else(|| {
        let w = def.warn?;
        let t = target?;
        let ok = match def.better {
            Better::Higher => w <= t,
            Better::Lower => w >= t,
        };
        ok.then_some(w)
    });
    (target, warn)
}

/// A tile's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    OnTrack,
    Watch,
    Act,
    /// No target configured.
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

/// On track when the value meets the target; watch when it meets the warning line;
/// act now otherwise. Without a target there is no status to give.
pub fn status(def: &TileDef, value: Option<f64>, target: Option<f64>, warn: Option<f64>) -> Status {
    let meets = |v: f64, line: f64| match def.better {
        Better::Higher => v >= line,
        Better::Lower => v <= line,
    };
    match (value, target) {
        (None, _) => Status::NoData,
        (Some(_), None) => Status::Neutral,
        (Some(v), Some(t)) if meets(v, t) => Status::OnTrack,
        (Some(v), Some(_)) if warn.is_some_and(|w| meets(v, w)) => Status::Watch,
        _ => Status::Act,
    }
}

/// The SQL that computes the `tiles` table from the period tables (`periods.<kpi>`
/// and `periods.calendar`, see `periods`). Expressions come from query headers,
/// never from data.
pub fn sql(tiles: &[TileDef]) -> Option<String> {
    if tiles.is_empty() {
        return None;
    }
    let parts: Vec<String> = tiles
        .iter()
        .map(|t| {
            let (value, num, den) = match &t.formula {
                Formula::Ratio {
                    numerator,
                    denominator,
                } => (
                    format!(
                        "CAST(({numerator}) AS DOUBLE) / NULLIF(CAST(({denominator}) AS DOUBLE), 0)"
                    ),
                    format!("CAST(({numerator}) AS DOUBLE)"),
                    format!("CAST(({denominator}) AS DOUBLE)"),
                ),
                Formula::Value { value, volume } => (
                    // A count or a sum over no rows is 0 when the feed has data.
                    match t.unit {
                        Unit::Count | Unit::Money => {
                            format!("coalesce(CAST(({value}) AS DOUBLE), 0)")
                        }
                        _ => format!("CAST(({value}) AS DOUBLE)"),
                    },
                    "CAST(NULL AS DOUBLE)".to_string(),
                    volume
                        .as_ref()
                        .map_or("CAST(NULL AS DOUBLE)".to_string(), |v| {
                            format!("CAST(({v}) AS DOUBLE)")
                        }),
                ),
            };
            let key = t.key.replace('\'', "''");
            format!(
                "SELECT c.period, c.period_end, '{key}' AS tile,
                        CASE WHEN c.covered THEN a.value END AS value,
                        CASE WHEN c.covered THEN a.numerator END AS numerator,
                        CASE WHEN c.covered THEN a.denominator END AS denominator
                 FROM periods.calendar c
                 LEFT JOIN (SELECT period, period_end, {value} AS value, {num} AS numerator,
                                   {den} AS denominator
                            FROM periods.{src} GROUP BY period, period_end) a
                   ON a.period = c.period AND a.period_end = c.period_end
                 WHERE c.tile = '{key}'",
                src = t.source,
            )
        })
        .collect();
    Some(format!(
        "WITH t AS ({})
         SELECT t.tile, t.period, t.period_end, t.value, t.numerator, t.denominator,
                CASE WHEN t.period = 'current' THEN t.value - p.value END AS change
         FROM t LEFT JOIN t p ON p.tile = t.tile AND p.period = 'previous'
         ORDER BY t.tile, t.period, t.period_end",
        parts.join("\n UNION ALL\n")
    ))
}

/// The header of the `tiles` table (its definition on the page and in `tables`).
pub const HEADER: &str = "-- title: Tiles
-- description: The report's headline figures, each computed from one KPI table as its
--   query header declares (tile blocks): for the window, the previous window and each
--   of the last weeks. Rates are Σ numerator / Σ denominator.
-- grain: tile × period (current, previous, week) × period_end
-- columns:
--   tile: the tile's key (config [report.tiles.<tile>])
--   period: current (the window), previous (the window before it) or week
--   period_end: last day of the period
--   value: the figure; empty when the period is not covered by the feed's data
--   numerator: Σ numerator of a rate (empty for counts and sums)
--   denominator: Σ denominator of a rate, or the volume of a count or sum
--   change: value − the previous window's value (current row only)
";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kpi::Origin;

    fn fill() -> TileDef {
        let q = Query::parse(
            "fill_rate",
            "-- title: x\n-- tile: unit_fill_rate\n--   unit: rate\n--   better: higher\n--   numerator: sum(a)\n--   denominator: sum(b)\n--   target: 0.98\n--   warn: 0.94\n--   feed: order_lines\nselect 1",
            Origin::BuiltIn,
        );
        declared(&[q]).expect("tile").remove(0)
    }

    #[test]
    fn status_never_contradicts_the_target() {
        let t = fill();
        let (target, warn) = (t.target, t.warn);
        assert_eq!(status(&t, Some(0.981), target, warn), Status::OnTrack);
        assert_eq!(status(&t, Some(0.98), target, warn), Status::OnTrack);
        // 97.6% against a 98% target is not on track.
        assert_eq!(status(&t, Some(0.976), target, warn), Status::Watch);
        assert_eq!(status(&t, Some(0.94), target, warn), Status::Watch);
        assert_eq!(status(&t, Some(0.9), target, warn), Status::Act);
        assert_eq!(status(&t, None, target, warn), Status::NoData);
        assert_eq!(status(&t, Some(0.9), None, None), Status::Neutral);
    }

    #[test]
    fn thresholds_are_checked() {
        let t = fill();
        let mut config = Config::default();
        config.report.tiles.insert(
            "unit_fill_rate".into(),
            TileTarget {
                target: Some(98.0),
                warn: None,
            },
        );
        let e = check_config(std::slice::from_ref(&t), &config)
            .expect_err("98 is a percent")
            .to_string();
        assert!(
            e.contains("report.tiles.unit_fill_rate.target") && e.contains("0.98"),
            "{e}"
        );
        let mut config = Config::default();
        config
            .report
            .tiles
            .insert("unit_fil_rate".into(), TileTarget::default());
        let e = check_config(std::slice::from_ref(&t), &config)
            .expect_err("misspelled")
            .to_string();
        assert!(e.contains("did you mean \"unit_fill_rate\""), "{e}");
        // A configured target below the declared warning line drops that line.
        let (target, warn) = thresholds(
            &t,
            Some(&TileTarget {
                target: Some(0.9),
                warn: None,
            }),
        );
        assert_eq!((target, warn), (Some(0.9), None));
    }

    #[test]
    fn declarations_are_checked() {
        let bad = Query::parse(
            "x",
            "-- tile: a\n--   unit: percent\n--   better: higher\n--   value: sum(x)\n--   feed: shipments\nselect 1",
            Origin::BuiltIn,
        );
        assert!(declared(&[bad]).is_err());
        let typo = Query::parse(
            "x",
            "-- tile: a\n--   unit: count\n--   better: lower\n--   valeu: sum(x)\n--   feed: shipments\nselect 1",
            Origin::BuiltIn,
        );
        let e = declared(&[typo]).expect_err("typo").to_string();
        assert!(e.contains("did you mean \"value\""), "{e}");
    }
}
