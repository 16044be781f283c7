//! Latency distribution per strategy as a CDF: the share of stops done by
//! each latency, so modes (e.g. "exits at once" vs "waits out the timeout") show.

use super::{colour, empty, latency_range, legend, render, Chart, DrawResult, Plot, FONT};
use crate::results::RunResults;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::Path;

const TITLE: &str = "Stop latency distribution (CDF)";

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
                    .x_desc("stop latency (ms)")
                    .y_desc("share of stops done")
                    .y_label_formatter(&|y| format!("{:.0}%", y * 100.0))
                    .label_style((FONT, 14))
                    .draw()?;
                for (i, s) in results
                    .stats
                    .iter()
                    .enumerate()
                    .filter(|(_, s)| !s.latency_us.is_empty())
                {
                    let c = colour(i);
                    chart
                        .draw_series(LineSeries::new(steps(&s.latency_us), c.stroke_width(2)))?
                        .label(s.strategy.clone())
                        .legend(move |(x, y)| {
                            PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2))
                        });
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

pub fn plot(dir: &Path, results: &RunResults) -> Result<Plot, String> {
    render(dir, "latency_cdf", TITLE, &Cdf(results))
}
