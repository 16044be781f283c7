//! Latency distribution per strategy as a CDF: the share of stops done by
//! each latency, so modes (e.g. "exits at once" vs "waits out the timeout")
//! show. Each strategy has two lines: the victim tree's death (thick) and the
//! stop's completion, when the strategy returned (thin).

use super::{colour, empty, latency_range, legend, render, Chart, DrawResult, Plot, FONT};
use crate::results::RunResults;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::Path;

const TITLE: &str = "Stop latency distribution (CDF): death and completion";

struct Cdf<'a>(&'a RunResults);

/// `(ms, share done)` steps of one histogram.
fn steps(hist: &hdrhistogram::Histogram<u64>) -> Vec<(f64, f64)> {
    let total = hist.len() as f64;
    let mut done = 0u64;
    let mut points = vec![(hist.min() as f64 / 1000.0, 0.0)];
    for v in hist.iter_recorded() {
        let ms = hist.highest_equivalent(v.value_iterated_to()) as f64 / 1000.0;
        points.push((ms, done as f64 / total));
        done += v.count_at_value();
        points.push((ms, done as f64 / total));
    }
    points
}

impl Chart for Cdf<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static,
    {
        let results = self.0;
        let Some((lo, hi, log)) = latency_range(results) else {
            return empty(
                root,
                TITLE,
                "no timed stops (victims already dead before the stop are not timed)",
            );
        };
        let mut builder = ChartBuilder::on(root);
        builder
            .caption(TITLE, (FONT, 22))
            .margin(15)
            .margin_right(40)
            .x_label_area_size(45)
            .y_label_area_size(60);
        macro_rules! finish {
            ($chart:expr) => {{
                let mut chart = $chart;
                chart
                    .configure_mesh()
                    .x_desc("from the stop request (ms)")
                    .y_desc("share of stops done")
                    .y_label_formatter(&|y| format!("{:.0}%", y * 100.0))
                    .label_style((FONT, 14))
                    .draw()?;
                for (i, s) in results.stats.iter().enumerate() {
                    let c = colour(i);
                    let lines = [
                        (&s.latency_us, 3, format!("{} (death)", s.strategy)),
                        (&s.completion_us, 1, format!("{} (completion)", s.strategy)),
                    ];
                    for (hist, width, label) in lines {
                        if hist.is_empty() {
                            continue;
                        }
                        chart
                            .draw_series(LineSeries::new(steps(hist), c.stroke_width(width)))?
                            .label(label)
                            .legend(move |(x, y)| {
                                PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(width))
                            });
                    }
                }
                legend(&mut chart, SeriesLabelPosition::LowerRight)?;
            }};
        }
        if log {
            finish!(builder.build_cartesian_2d((lo..hi).log_scale(), 0f64..1.02f64)?);
        } else {
            finish!(builder.build_cartesian_2d(lo..hi, 0f64..1.02f64)?);
        }
        Ok(())
    }
}

pub fn plot(dir: &Path, results: &RunResults) -> Result<Plot, super::PlotError> {
    render(dir, "latency_cdf", TITLE, &Cdf(results))
}
