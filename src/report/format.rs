//! Numbers for people: thousands separators, percentages, money, hours and days.

/// 1234567.8 → "1,234,568"; decimals as asked.
pub fn number(v: f64, decimals: usize) -> String {
    if !v.is_finite() {
        return "–".into();
    }
    let s = format!("{:.*}", decimals, v.abs());
    let (int, frac) = s
        .split_once('.')
        .map_or((s.as_str(), None), |(a, b)| (a, Some(b)));
    let mut out = String::with_capacity(s.len() + int.len() / 3 + 1);
    if v < 0.0 && s.chars().any(|c| c.is_ascii_digit() && c != '0') {
        out.push('−');
    }
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if let Some(f) = frac {
        out.push('.');
        out.push_str(f);
    }
    out
}

/// 0.9734 → "97.3%".
pub fn percent(v: f64) -> String {
    format!("{}%", number(v * 100.0, 1))
}

/// Money with the configured symbol: 12345.6 → "$12,346"; large values shortened.
pub fn money(v: f64, currency: &str) -> String {
    let a = v.abs();
    let sign = if v < 0.0 && a >= 0.5 { "−" } else { "" };
    if a >= 1e6 {
        format!("{sign}{currency}{}M", number(a / 1e6, 2))
    } else if a >= 1e4 {
        format!("{sign}{currency}{}k", number(a / 1e3, 1))
    } else {
        format!("{sign}{currency}{}", number(a, 0))
    }
}

/// Hours, shown as days beyond two days: 30.5 → "30.5 h", 80 → "3.3 days".
pub fn hours(v: f64) -> String {
    if v.abs() >= 48.0 {
        format!("{} days", number(v / 24.0, 1))
    } else {
        format!("{} h", number(v, 1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(number(1234567.8, 0), "1,234,568");
        assert_eq!(number(-1234.5, 1), "−1,234.5");
        assert_eq!(number(-0.01, 0), "0");
        assert_eq!(number(999.0, 0), "999");
        assert_eq!(percent(0.9734), "97.3%");
        assert_eq!(money(12345.6, "$"), "$12.3k");
        assert_eq!(money(950.4, "€"), "€950");
        assert_eq!(money(-2_500_000.0, "$"), "−$2.50M");
        assert_eq!(hours(30.54), "30.5 h");
        assert_eq!(hours(80.0), "3.3 days");
    }
}
