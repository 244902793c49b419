//! The report's one palette (colour-blind safe, after Okabe & Ito) and status colours.
//! Charts and the page's CSS take their colours from here.

use plotters::style::RGBColor;

/// Series colours, in order.
pub const SERIES: &[RGBColor] = &[
    RGBColor(0, 114, 178),   // blue
    RGBColor(230, 159, 0),   // orange
    RGBColor(0, 158, 115),   // bluish green
    RGBColor(204, 121, 167), // reddish purple
    RGBColor(86, 180, 233),  // sky blue
    RGBColor(213, 94, 0),    // vermillion
    RGBColor(120, 120, 120), // grey (for "other")
    RGBColor(240, 228, 66),  // yellow
];

pub const TEXT: RGBColor = RGBColor(31, 41, 51);
pub const MUTED: RGBColor = RGBColor(96, 108, 122);
pub const GRID: RGBColor = RGBColor(228, 231, 235);
pub const BREACH: RGBColor = RGBColor(183, 28, 28);
pub const TARGET: RGBColor = RGBColor(96, 108, 122);
/// The background of days whose data is still incomplete.
pub const PROVISIONAL: RGBColor = RGBColor(241, 236, 226);
/// Bars that group "the rest".
pub const OTHER: RGBColor = RGBColor(160, 166, 175);

/// Colour of series `i` (the last colour repeats for "other").
pub fn series(i: usize) -> RGBColor {
    SERIES[i.min(SERIES.len() - 1)]
}

/// CSS custom properties for the page, from the same colours.
pub fn css_vars() -> String {
    let hex = |c: RGBColor| format!("#{:02x}{:02x}{:02x}", c.0, c.1, c.2);
    format!(
        ":root{{--text:{};--muted:{};--grid:{};--ok:#1b7f3b;--watch:#9a5b00;--act:#b71c1c;--neutral:#4a5568;--accent:{}}}",
        hex(TEXT),
        hex(MUTED),
        hex(GRID),
        hex(SERIES[0])
    )
}
