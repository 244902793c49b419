//! Charts drawn with plotters, each twice from the same code: an SVG string for the
//! page (crisp at any zoom, text selectable) and a PNG at twice the size for e-mail and
//! slides. The font is embedded (DejaVu Sans, licence in `assets/fonts`), registered
//! once, so charts render identically on a bare machine. A PNG is drawn to a temporary
//! file and renamed into place, so a failed draw never leaves a blank image behind.

mod bar;
mod line;

use std::path::Path;
use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;

pub use bar::{HBars, StackedBars};
pub use line::Lines;

use super::theme;
use crate::error::{Error, Result, io_at};

static FONT_REGULAR: &[u8] = include_bytes!("../../../assets/fonts/DejaVuSans.ttf");
static FONT_BOLD: &[u8] = include_bytes!("../../../assets/fonts/DejaVuSans-Bold.ttf");

/// The family name every chart uses.
pub const FONT: &str = "sans-serif";

fn register_fonts() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = plotters::style::register_font(FONT, FontStyle::Normal, FONT_REGULAR);
        let _ = plotters::style::register_font(FONT, FontStyle::Bold, FONT_BOLD);
    });
}

/// Something that can draw itself on any backend at a given scale (1 for SVG, 2 for PNG).
pub trait Draw {
    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        scale: f64,
    ) -> Result<(), String>;
}

/// A rendered chart.
#[derive(Debug, Clone)]
pub struct Chart {
    /// File stem of the PNG in `charts/`.
    pub name: String,
    pub title: String,
    /// One sentence under the chart saying how to read it.
    pub caption: String,
    pub svg: String,
    pub width: u32,
    pub height: u32,
}

/// A point in backend pixels (what `ChartContext::backend_coord` returns) as a point of
/// `area`, whose drawing calls take coordinates relative to its own top-left corner. The
/// two differ when the area is not the whole canvas (the PNG's chart sits under its title
/// band): drawing backend pixels straight onto the area shifted every label by the band.
pub(crate) fn in_area<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    p: (i32, i32),
) -> (i32, i32) {
    let (bx, by) = area.get_base_pixel();
    (p.0 - bx, p.1 - by)
}

/// Draw `chart` as SVG and as `dir/<name>.png` at 2×.
pub fn render(
    dir: &Path,
    name: &str,
    title: &str,
    caption: &str,
    size: (u32, u32),
    chart: &impl Draw,
) -> Result<Chart> {
    register_fonts();
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        chart.draw(&root, 1.0).map_err(|e| Error::Chart {
            name: name.to_string(),
            message: e.to_string(),
        })?;
        root.present().map_err(|e| Error::Chart {
            name: name.to_string(),
            message: e.to_string(),
        })?;
    }
    std::fs::create_dir_all(dir).map_err(io_at(dir))?;
    let tmp = dir.join(format!(".{name}.tmp.png"));
    let path = dir.join(format!("{name}.png"));
    {
        let fail = |e: &dyn std::fmt::Display| Error::Chart {
            name: name.to_string(),
            message: e.to_string(),
        };
        // The PNG travels alone (mail, slides): it carries its title above the chart.
        let band = 44;
        let png = BitMapBackend::new(&tmp, (size.0 * 2, size.1 * 2 + band * 2)).into_drawing_area();
        png.fill(&WHITE).map_err(|e| fail(&e))?;
        let (top, root) = png.split_vertically(band * 2);
        top.draw(&Text::new(
            title.to_string(),
            (24, 26),
            font(17.0, 2.0).color(&theme::TEXT),
        ))
        .map_err(|e| fail(&e))?;
        chart.draw(&root, 2.0).map_err(|e| fail(&e))?;
        png.present().map_err(|e| Error::Chart {
            name: name.to_string(),
            message: e.to_string(),
        })?;
    }
    std::fs::rename(&tmp, &path).map_err(io_at(&path))?;
    Ok(Chart {
        name: name.to_string(),
        title: title.to_string(),
        caption: caption.to_string(),
        svg: make_responsive(&svg),
        width: size.0,
        height: size.1,
    })
}

/// Let the SVG scale with its container (keep the drawing's aspect ratio).
fn make_responsive(svg: &str) -> String {
    let Some(start) = svg.find("<svg") else {
        return svg.to_string();
    };
    let Some(end) = svg[start..].find('>') else {
        return svg.to_string();
    };
    let tag = &svg[start..start + end];
    let attr = |name: &str| -> Option<String> {
        let key = format!("{name}=\"");
        let i = tag.find(&key)? + key.len();
        let j = tag[i..].find('"')?;
        Some(tag[i..i + j].to_string())
    };
    let (Some(w), Some(h)) = (attr("width"), attr("height")) else {
        return svg.to_string();
    };
    let new_tag = format!(
        "<svg viewBox=\"0 0 {w} {h}\" width=\"100%\" preserveAspectRatio=\"xMidYMid meet\" role=\"img\" xmlns=\"http://www.w3.org/2000/svg\""
    );
    format!("{}{}{}", &svg[..start], new_tag, &svg[start + end..])
}

/// Font size scaled for the backend.
pub(crate) fn font(size: f64, scale: f64) -> FontDesc<'static> {
    (FONT, size * scale).into_font()
}

pub(crate) fn err<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}
