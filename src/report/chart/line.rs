//! Line chart over dates (e.g. fill rate by channel), with an optional dashed target.

use chrono::NaiveDate;
use plotters::coord::Shift;
use plotters::prelude::*;

use super::{Draw, err, font};
use crate::report::theme;

pub struct Lines {
    /// (series name, points) in legend order.
    pub series: Vec<(String, Vec<(NaiveDate, f64)>)>,
    /// Show y values as percentages (values are 0–1).
    pub percent: bool,
    pub target: Option<f64>,
    pub y_label: String,
    /// Days from this date on are incomplete (a late or stale feed): shaded and
    /// labelled "provisional".
    pub provisional_from: Option<NaiveDate>,
}

impl Draw for Lines {
    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        s: f64,
    ) -> Result<(), String> {
        root.fill(&WHITE).map_err(err)?;
        let points = self.series.iter().flat_map(|(_, p)| p.iter());
        let (mut x0, mut x1) = (NaiveDate::MAX, NaiveDate::MIN);
        let (mut y0, mut y1) = (f64::MAX, f64::MIN);
        for (d, v) in points {
            x0 = x0.min(*d);
            x1 = x1.max(*d);
            y0 = y0.min(*v);
            y1 = y1.max(*v);
        }
        if x0 > x1 {
            return no_data(root, s);
        }
        if let Some(t) = self.target {
            y0 = y0.min(t);
            y1 = y1.max(t);
        }
        // Leave room above and below; rates never beyond 0–100%.
        let pad = ((y1 - y0) * 0.08).max(if self.percent { 0.005 } else { 1.0 });
        let (mut lo, mut hi) = (y0 - pad, y1 + pad);
        if self.percent {
            lo = lo.max(0.0);
            hi = hi.min(1.0);
        }
        if x0 == x1 {
            x1 += chrono::Duration::days(1);
        }
        // x is days since the first date (plotters' date axes need another feature).
        let day = |d: NaiveDate| (d - x0).num_days() as f64;
        let span = day(x1);
        let percent = self.percent;
        let mut chart = ChartBuilder::on(root)
            .margin((12.0 * s) as i32)
            .x_label_area_size((34.0 * s) as i32)
            .y_label_area_size((58.0 * s) as i32)
            .build_cartesian_2d(0.0..span, lo..hi)
            .map_err(err)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .light_line_style(TRANSPARENT)
            .bold_line_style(ShapeStyle::from(theme::GRID).stroke_width(s as u32))
            .axis_style(ShapeStyle::from(theme::MUTED).stroke_width(s as u32))
            .label_style(font(12.0, s).color(&theme::MUTED))
            .y_desc(self.y_label.as_str())
            .axis_desc_style(font(12.0, s).color(&theme::MUTED))
            // One label a day at most, so short windows do not repeat a date.
            .x_labels((span as usize + 1).clamp(2, 8))
            .y_labels(6)
            .x_label_formatter(&|v: &f64| {
                (x0 + chrono::Duration::days(v.round() as i64))
                    .format("%b %-d")
                    .to_string()
            })
            .y_label_formatter(&|v: &f64| {
                if percent {
                    format!("{:.0}%", v * 100.0)
                } else {
                    format!("{v:.0}")
                }
            })
            .draw()
            .map_err(err)?;
        if let Some(from) = self.provisional_from.filter(|d| *d <= x1) {
            // Half a day before the first provisional point, to the right edge.
            let left = (day(from) - 0.5).max(0.0);
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(left, lo), (span, hi)],
                    theme::PROVISIONAL.filled(),
                )))
                .map_err(err)?;
            let style =
                font(11.0, s)
                    .color(&theme::MUTED)
                    .pos(plotters::style::text_anchor::Pos::new(
                        plotters::style::text_anchor::HPos::Right,
                        plotters::style::text_anchor::VPos::Top,
                    ));
            chart
                .draw_series(std::iter::once(Text::new(
                    "provisional",
                    (span, hi - (hi - lo) * 0.01),
                    style,
                )))
                .map_err(err)?;
        }
        if let Some(t) = self.target {
            let style = ShapeStyle::from(theme::TARGET).stroke_width((1.5 * s) as u32);
            chart
                .draw_series(DashedLineSeries::new(
                    vec![(0.0, t), (span, t)],
                    (6.0 * s) as u32,
                    (4.0 * s) as u32,
                    style,
                ))
                .map_err(err)?
                .label("target")
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + (18.0 * s) as i32, y)], style)
                });
        }
        for (i, (name, pts)) in self.series.iter().enumerate() {
            let colour = theme::series(i);
            let style = ShapeStyle::from(colour).stroke_width((2.5 * s) as u32);
            chart
                .draw_series(LineSeries::new(
                    pts.iter().map(|(d, v)| (day(*d), *v)),
                    style,
                ))
                .map_err(err)?
                .label(name.as_str())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + (18.0 * s) as i32, y)], style)
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerLeft)
            .legend_area_size((26.0 * s) as i32)
            .background_style(WHITE.mix(0.85))
            .border_style(theme::GRID)
            .label_font(font(12.0, s).color(&theme::TEXT))
            .draw()
            .map_err(err)?;
        Ok(())
    }
}

/// An empty chart that says so.
pub(super) fn no_data<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    s: f64,
) -> Result<(), String> {
    let (w, h) = root.dim_in_pixel();
    root.draw(&Text::new(
        "No data in this window",
        ((w as f64 / 2.0 - 90.0 * s) as i32, (h / 2) as i32),
        font(15.0, s).color(&theme::MUTED),
    ))
    .map_err(err)
}
