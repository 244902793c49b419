//! The `when` of an alert rule: `<tile> <op> <number>`, `change(<tile>) <op> <number>`,
//! `check_failed`, `feed_stale` or `kpi_failed`. Operators: `<`, `<=`, `>`, `>=`,
//! `==`, `!=`.

/// A comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
}

impl Op {
    pub fn holds(self, a: f64, b: f64) -> bool {
        match self {
            Op::Lt => a < b,
            Op::Le => a <= b,
            Op::Gt => a > b,
            Op::Ge => a >= b,
            Op::Eq => a == b,
            Op::Ne => a != b,
        }
    }

    pub fn symbol(self) -> &'static str {
        match self {
            Op::Lt => "<",
            Op::Le => "≤",
            Op::Gt => ">",
            Op::Ge => "≥",
            Op::Eq => "=",
            Op::Ne => "≠",
        }
    }
}

/// A parsed `when`.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    Tile {
        tile: String,
        /// `change(tile)`: the change against the previous window.
        change: bool,
        op: Op,
        threshold: f64,
    },
    CheckFailed,
    FeedStale,
    KpiFailed,
}

impl Condition {
    /// The tile the condition reads, if any.
    pub fn tile(&self) -> Option<&str> {
        match self {
            Condition::Tile { tile, .. } => Some(tile),
            _ => None,
        }
    }
}

/// Parse a rule's `when`; the error says what is wrong in words.
pub fn parse(text: &str) -> Result<Condition, String> {
    let t = text.trim();
    match t {
        "check_failed" => return Ok(Condition::CheckFailed),
        "feed_stale" => return Ok(Condition::FeedStale),
        "kpi_failed" => return Ok(Condition::KpiFailed),
        _ => {}
    }
    let ops = [
        ("<=", Op::Le),
        (">=", Op::Ge),
        ("==", Op::Eq),
        ("!=", Op::Ne),
        ("<", Op::Lt),
        (">", Op::Gt),
    ];
    let Some((pos, sym, op)) = ops
        .iter()
        .filter_map(|(s, op)| t.find(s).map(|p| (p, *s, *op)))
        .min_by_key(|(p, s, _)| (*p, std::cmp::Reverse(s.len())))
    else {
        return Err(format!(
            "{text:?}: expected `<tile> < <number>`, `change(<tile>) < <number>`, check_failed, feed_stale or kpi_failed"
        ));
    };
    let left = t[..pos].trim();
    let right = t[pos + sym.len()..].trim();
    let threshold: f64 = right
        .parse()
        .map_err(|_| format!("{text:?}: {right:?} is not a number"))?;
    let (tile, change) = match left
        .strip_prefix("change(")
        .and_then(|r| r.strip_suffix(')'))
    {
        Some(inner) => (inner.trim(), true),
        None => (left, false),
    };
    if tile.is_empty()
        || !tile
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    {
        return Err(format!("{text:?}: {tile:?} is not a tile key"));
    }
    Ok(Condition::Tile {
        tile: tile.to_string(),
        change,
        op,
        threshold,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_parse_as_written() {
        assert_eq!(
            parse("unit_fill_rate < 0.95"),
            Ok(Condition::Tile {
                tile: "unit_fill_rate".into(),
                change: false,
                op: Op::Lt,
                threshold: 0.95
            })
        );
        assert_eq!(
            parse(" change(sla_breaches) >= 5 "),
            Ok(Condition::Tile {
                tile: "sla_breaches".into(),
                change: true,
                op: Op::Ge,
                threshold: 5.0
            })
        );
        assert_eq!(
            parse("change(unit_fill_rate) <= -0.02").map(|c| c.tile().map(str::to_string)),
            Ok(Some("unit_fill_rate".into()))
        );
        assert_eq!(parse("feed_stale"), Ok(Condition::FeedStale));
        assert!(parse("unit_fill_rate < ninety").is_err());
        assert!(parse("Unit Fill < 3").is_err());
        assert!(parse("unit_fill_rate").is_err());
    }
}
