//! Bar charts: horizontal bars by category (optionally stacked, e.g. short / over /
//! damaged per supplier) and vertical stacked bars (e.g. open exceptions by age bucket
//! and type, with the breached count written above each bar).

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::line::no_data;
use super::{Draw, err, font};
use crate::report::theme;

/// Horizontal bars, one row per category, largest first as given.
pub struct HBars {
    /// (category, one value per stack)
    pub rows: Vec<(String, Vec<f64>)>,
    /// Stack names for the legend (one name: no legend).
    pub stacks: Vec<String>,
    /// How to print the row total at the end of each bar.
    pub value_label: fn(f64) -> String,
    /// Axis values as percentages (values are 0–1).
    pub percent_axis: bool,
    /// Colour of the single stack (index into the palette); the last row is grey when
    /// its label starts with "Other".
    pub colour: usize,
}

impl Draw for HBars {
    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        s: f64,
    ) -> Result<(), String> {
        root.fill(&WHITE).map_err(err)?;
        if self.rows.is_empty() {
            return no_data(root, s);
        }
        let max = self
            .rows
            .iter()
            .map(|(_, v)| v.iter().sum::<f64>())
            .fold(0.0, f64::max)
            .max(f64::MIN_POSITIVE);
        let n = self.rows.len();
        let labels: Vec<String> = self.rows.iter().map(|(l, _)| shorten(l, 30)).collect();
        let longest = labels.iter().map(|l| l.chars().count()).max().unwrap_or(8);
        let label_area = ((longest as f64 * 7.0 + 16.0) * s) as i32;
        let stacked = self.stacks.len() > 1;
        let legend_space = if stacked { 30.0 } else { 0.0 };
        let mut chart = ChartBuilder::on(root)
            .margin_top(((10.0 + legend_space) * s) as i32)
            .margin_left((8.0 * s) as i32)
            .margin_right((64.0 * s) as i32)
            .margin_bottom((6.0 * s) as i32)
            .x_label_area_size((26.0 * s) as i32)
            .y_label_area_size(label_area)
            .build_cartesian_2d(0.0..max * 1.02, 0.0..n as f64)
            .map_err(err)?;
        let percent = self.percent_axis;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .light_line_style(TRANSPARENT)
            .bold_line_style(ShapeStyle::from(theme::GRID).stroke_width(s as u32))
            .axis_style(ShapeStyle::from(theme::MUTED).stroke_width(s as u32))
            .label_style(font(12.0, s).color(&theme::MUTED))
            .y_labels(0)
            .x_labels(5)
            .x_label_formatter(&|v: &f64| {
                if percent {
                    format!("{:.0}%", v * 100.0)
                } else {
                    compact(*v)
                }
            })
            .draw()
            .map_err(err)?;
        // Row 0 at the top: row i occupies [n-1-i, n-i), drawn with a gap.
        let top = |i: usize| (n - 1 - i) as f64;
        let stacks = self.stacks.len().max(1);
        for k in 0..stacks {
            let bars: Vec<_> = self
                .rows
                .iter()
                .enumerate()
                .map(|(i, (label, vals))| {
                    let start: f64 = vals.iter().take(k).sum();
                    let v = vals.get(k).copied().unwrap_or(0.0);
                    let colour = if !stacked && label.starts_with("Other") {
                        theme::OTHER
                    } else if !stacked {
                        theme::series(self.colour)
                    } else {
                        theme::series(k)
                    };
                    Rectangle::new(
                        [(start, top(i) + 0.16), (start + v, top(i) + 0.84)],
                        colour.filled(),
                    )
                })
                .collect();
            chart.draw_series(bars).map_err(err)?;
        }
        let fmt = self.value_label;
        chart
            .draw_series(self.rows.iter().enumerate().map(|(i, (_, vals))| {
                let total: f64 = vals.iter().sum();
                Text::new(
                    fmt(total),
                    (total + max * 0.012, top(i) + 0.5),
                    font(12.0, s)
                        .color(&theme::TEXT)
                        .pos(Pos::new(HPos::Left, VPos::Center)),
                )
            }))
            .map_err(err)?;
        // Category labels, right-aligned against the axis.
        for (i, l) in labels.iter().enumerate() {
            let (x, y) = super::in_area(root, chart.backend_coord(&(0.0, top(i) + 0.5)));
            root.draw(&Text::new(
                l.clone(),
                (x - (8.0 * s) as i32, y),
                font(12.0, s)
                    .color(&theme::TEXT)
                    .pos(Pos::new(HPos::Right, VPos::Center)),
            ))
            .map_err(err)?;
        }
        if stacked {
            let (x0, _) = super::in_area(root, chart.backend_coord(&(0.0, n as f64)));
            let mut x = x0;
            let y = (12.0 * s) as i32;
            for (k, name) in self.stacks.iter().enumerate() {
                root.draw(&Rectangle::new(
                    [(x, y), (x + (12.0 * s) as i32, y + (12.0 * s) as i32)],
                    theme::series(k).filled(),
                ))
                .map_err(err)?;
                root.draw(&Text::new(
                    name.clone(),
                    (x + (17.0 * s) as i32, y + (6.0 * s) as i32),
                    font(12.0, s)
                        .color(&theme::TEXT)
                        .pos(Pos::new(HPos::Left, VPos::Center)),
                ))
                .map_err(err)?;
                x += ((name.chars().count() as f64 * 7.5 + 40.0) * s) as i32;
            }
        }
        Ok(())
    }
}

/// Vertical stacked bars over categories, with an optional note above each bar.
pub struct StackedBars {
    pub categories: Vec<String>,
    /// (stack name, one value per category)
    pub stacks: Vec<(String, Vec<f64>)>,
    /// Text above each bar (e.g. "12 breached"), drawn in the breach colour.
    pub notes: Vec<Option<String>>,
    pub y_label: String,
}

impl Draw for StackedBars {
    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        s: f64,
    ) -> Result<(), String> {
        root.fill(&WHITE).map_err(err)?;
        let n = self.categories.len();
        let totals: Vec<f64> = (0..n)
            .map(|i| {
                self.stacks
                    .iter()
                    .map(|(_, v)| v.get(i).copied().unwrap_or(0.0))
                    .sum()
            })
            .collect();
        let max = totals.iter().copied().fold(0.0, f64::max);
        if n == 0 || max <= 0.0 {
            return no_data(root, s);
        }
        let (w, _) = root.dim_in_pixel();
        let (plot, legend) = root.split_horizontally((w as f64 * 0.74) as u32);
        let mut chart = ChartBuilder::on(&plot)
            .margin((12.0 * s) as i32)
            .margin_top((24.0 * s) as i32)
            .x_label_area_size((30.0 * s) as i32)
            .y_label_area_size((52.0 * s) as i32)
            .build_cartesian_2d(0.0..n as f64, 0.0..max * 1.12)
            .map_err(err)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .light_line_style(TRANSPARENT)
            .bold_line_style(ShapeStyle::from(theme::GRID).stroke_width(s as u32))
            .axis_style(ShapeStyle::from(theme::MUTED).stroke_width(s as u32))
            .label_style(font(12.0, s).color(&theme::MUTED))
            .x_labels(0)
            .y_labels(6)
            .y_desc(self.y_label.as_str())
            .axis_desc_style(font(12.0, s).color(&theme::MUTED))
            .y_label_formatter(&|v: &f64| compact(*v))
            .draw()
            .map_err(err)?;
        let mut base = vec![0.0; n];
        for (k, (_, vals)) in self.stacks.iter().enumerate() {
            let colour = theme::series(k);
            let rects: Vec<_> = (0..n)
                .map(|i| {
                    let v = vals.get(i).copied().unwrap_or(0.0);
                    let r = Rectangle::new(
                        [(i as f64 + 0.12, base[i]), (i as f64 + 0.88, base[i] + v)],
                        colour.filled(),
                    );
                    base[i] += v;
                    r
                })
                .collect();
            chart.draw_series(rects).map_err(err)?;
        }
        chart
            .draw_series(self.notes.iter().enumerate().filter_map(|(i, note)| {
                note.as_ref().map(|t| {
                    Text::new(
                        t.clone(),
                        (i as f64 + 0.5, totals[i] + max * 0.02),
                        font(11.5, s)
                            .color(&theme::BREACH)
                            .pos(Pos::new(HPos::Center, VPos::Bottom)),
                    )
                })
            }))
            .map_err(err)?;
        for (i, c) in self.categories.iter().enumerate() {
            let (x, y) = super::in_area(&plot, chart.backend_coord(&(i as f64 + 0.5, 0.0)));
            plot.draw(&Text::new(
                c.clone(),
                (x, y + (8.0 * s) as i32),
                font(12.0, s)
                    .color(&theme::TEXT)
                    .pos(Pos::new(HPos::Center, VPos::Top)),
            ))
            .map_err(err)?;
        }
        // Legend on the right, top stack first (as the bars read).
        let line = 20.0 * s;
        for (k, (name, _)) in self.stacks.iter().enumerate().rev() {
            let y = (24.0 * s + (self.stacks.len() - 1 - k) as f64 * line) as i32;
            legend
                .draw(&Rectangle::new(
                    [
                        ((6.0 * s) as i32, y),
                        ((18.0 * s) as i32, y + (12.0 * s) as i32),
                    ],
                    theme::series(k).filled(),
                ))
                .map_err(err)?;
            legend
                .draw(&Text::new(
                    shorten(name, 24),
                    ((24.0 * s) as i32, y),
                    font(12.0, s).color(&theme::TEXT),
                ))
                .map_err(err)?;
        }
        Ok(())
    }
}

/// 12345 → "12k", 1234567 → "1.2M".
fn compact(v: f64) -> String {
    let a = v.abs();
    if a >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if a >= 1e4 {
        format!("{:.0}k", v / 1e3)
    } else if a >= 1e3 {
        format!("{:.1}k", v / 1e3)
    } else if a == a.trunc() {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max - 1).collect();
        t.push('…');
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The PNG carries a title band above the chart: each category label must still sit
    /// beside its own bar (it once sat one band lower, beside the next bar).
    #[test]
    fn png_labels_sit_beside_their_bars() {
        let dir = tempfile::tempdir().expect("tmp");
        let bars = HBars {
            // Rows thinner than the title band, so a label shifted by the band lands
            // beside another bar or below them all.
            rows: (0..8)
                .map(|i| (format!("LABEL-{i}"), vec![10.0 - i as f64]))
                .collect(),
            stacks: vec!["units".into()],
            value_label: |v| format!("{v}"),
            percent_axis: false,
            colour: 0,
        };
        super::super::render(dir.path(), "t", "Title", "", (400, 300), &bars).expect("render");
        let decoder = png::Decoder::new(std::io::BufReader::new(
            std::fs::File::open(dir.path().join("t.png")).expect("png"),
        ));
        let mut reader = decoder.read_info().expect("header");
        let mut buf = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut buf).expect("frame");
        let (w, h, px) = (
            info.width as usize,
            info.height as usize,
            info.color_type.samples(),
        );
        let at = |x: usize, y: usize| {
            let i = (y * w + x) * px;
            (buf[i], buf[i + 1], buf[i + 2])
        };
        let c = theme::series(0);
        let bar = (c.0, c.1, c.2);
        // The bars' left edge, and the rows each bar covers there.
        let left = (0..w)
            .find(|&x| (0..h).any(|y| at(x, y) == bar))
            .expect("a bar");
        let mut runs: Vec<(usize, usize)> = Vec::new();
        for y in 0..h {
            if at(left + 4, y) == bar {
                match runs.last_mut() {
                    Some(r) if r.1 + 1 == y => r.1 = y,
                    _ => runs.push((y, y)),
                }
            }
        }
        assert_eq!(runs.len(), 8, "eight bars: {runs:?}");
        let ink = |y0: usize, y1: usize| {
            (y0..=y1).any(|y| {
                (0..left.saturating_sub(6)).any(|x| {
                    let (r, g, b) = at(x, y);
                    r < 120 && g < 120 && b < 120
                })
            })
        };
        for (i, r) in runs.iter().enumerate() {
            assert!(ink(r.0, r.1), "no label beside bar {i} ({r:?})");
        }
        // Nothing written left of the bars below the last one (where a shifted label
        // would land).
        let below = runs[7].1 + 30;
        assert!(!ink(below, h - 1), "a label below the bars");
    }
}
