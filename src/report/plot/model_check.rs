//! The model check of a sweep: at every point, each number-addressing
//! strategy's measured misfire rate with its 95% interval (bars), and the
//! model's prediction for that point (diamonds).

use super::{colour, legend, render, Chart, DrawResult, Plot, FONT};
use crate::results::sweep::{ModelCheck, SweepResults};
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::Path;

const TITLE: &str = "Misfire rate: measured (95% interval) and predicted by the model";

struct Checks<'a>(&'a SweepResults, &'a [ModelCheck]);

impl Chart for Checks<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static,
    {
        let (sweep, checks) = (self.0, self.1);
        let labels: Vec<String> = (0..sweep.points.len())
            .map(|i| sweep.axis_label(i))
            .collect();
        let mut names: Vec<&str> = Vec::new();
        for c in checks {
            if !names.contains(&c.strategy.as_str()) {
                names.push(&c.strategy);
            }
        }
        let root = root.titled(TITLE, (FONT, 20))?;
        // Points at whole numbers, strategies side by side around them.
        let x_fmt = |x: &f64| {
            let i = x.round();
            if (x - i).abs() < 1e-6 && i >= 0.0 {
                labels.get(i as usize).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        };
        let n = sweep.points.len();
        let offset = |k: usize| (k as f64 - (names.len() as f64 - 1.0) / 2.0) * 0.18;
        let mut chart = ChartBuilder::on(&root)
            .margin(10)
            .x_label_area_size(60)
            .y_label_area_size(60)
            .build_cartesian_2d(-0.5f64..(n as f64 - 0.5), 0f64..1.05f64)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_desc(sweep.index.parameter.key())
            .y_desc("trials with a misfire")
            .y_label_formatter(&|y| format!("{:.0}%", y * 100.0))
            .x_labels(n)
            .x_label_formatter(&x_fmt)
            .x_label_style((FONT, 11))
            .label_style((FONT, 12))
            .draw()?;
        for (k, name) in names.iter().enumerate() {
            let c = colour(k);
            let mine: Vec<&ModelCheck> = checks.iter().filter(|m| m.strategy == *name).collect();
            chart
                .draw_series(mine.iter().map(|m| {
                    let (r, lo, hi) = m.check.measured;
                    ErrorBar::new_vertical(
                        m.point as f64 + offset(k),
                        lo,
                        r,
                        hi,
                        c.stroke_width(2),
                        10,
                    )
                }))?
                .label(format!("{name}: measured"))
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y - 6), (x, y + 6)], c.stroke_width(2))
                });
            let predicted: Vec<(f64, f64)> = mine
                .iter()
                .map(|m| (m.point as f64 + offset(k), m.check.predicted.p))
                .collect();
            chart
                .draw_series(predicted.into_iter().map(|p| {
                    EmptyElement::at(p) + Polygon::new(vec![(0, -6), (6, 0), (0, 6), (-6, 0)], c)
                }))?
                .label(format!("{name}: model"))
                .legend(move |(x, y)| {
                    Polygon::new(
                        vec![(x + 4, y - 5), (x + 9, y), (x + 4, y + 5), (x - 1, y)],
                        c,
                    )
                });
        }
        legend(&mut chart, SeriesLabelPosition::UpperLeft)?;
        Ok(())
    }
}

pub fn plot(
    dir: &Path,
    sweep: &SweepResults,
    checks: &[ModelCheck],
) -> Result<Plot, super::PlotError> {
    render(dir, "model_check", TITLE, &Checks(sweep, checks))
}
