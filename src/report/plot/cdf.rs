//! Latency distribution per strategy as a CDF: the share of stops done by
//! each latency, so modes (e.g. "exits at once" vs "waits out the timeout")
//! show. Each strategy has two lines: the victim tree's death (thick) and the
//! stop's completion, when the strategy returned (thin). Censored stops
//! (the tree never died in the trial) count as not done, so a death line
//! stops short of 100% by their share, which its legend gives.

use super::{colour, empty, latency_range, legend, render, Chart, DrawResult, Plot, FONT};
use crate::figures::percent;
use crate::measure::survival;
use crate::results::RunResults;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::Path;

const TITLE: &str = "Stop latency distribution (CDF): death and completion";

struct Cdf<'a>(&'a RunResults);

/// `(ms, share done)` steps of one histogram, with `censored` stops (their
/// censoring times, µs) counted as not done: the Kaplan–Meier estimate (see
/// measure::survival), which stops short of 100% by what is censored after
/// the last finished stop.
fn steps(hist: &hdrhistogram::Histogram<u64>, censored: &[u64]) -> Vec<(f64, f64)> {
    let deaths = hist.iter_recorded().map(|v| {
        (
            hist.highest_equivalent(v.value_iterated_to()),
            v.count_at_value(),
        )
    });
    let times = survival::group(deaths, censored);
    let mut at_risk: u64 = times.iter().map(|t| t.deaths + t.censored).sum();
    let (mut survival, mut points) = (1.0f64, vec![(hist.min() as f64 / 1000.0, 0.0)]);
    for t in &times {
        if t.deaths > 0 && at_risk > 0 {
            let ms = t.us as f64 / 1000.0;
            points.push((ms, 1.0 - survival));
            survival *= 1.0 - t.deaths as f64 / at_risk as f64;
            points.push((ms, 1.0 - survival));
        }
        at_risk -= t.deaths + t.censored;
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
                    let death = match s.censored {
                        0 => format!("{} (death)", s.strategy),
                        _ => format!(
                            "{} (death; {} censored, never done)",
                            s.strategy,
                            percent(s.censored_share())
                        ),
                    };
                    let lines = [
                        (&s.latency_us, &s.censored_us[..], 3, death),
                        (
                            &s.completion_us,
                            &[][..],
                            1,
                            format!("{} (completion)", s.strategy),
                        ),
                    ];
                    for (hist, censored, width, label) in lines {
                        if hist.is_empty() {
                            continue;
                        }
                        let points = steps(hist, censored);
                        chart
                            .draw_series(LineSeries::new(points, c.stroke_width(width)))?
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
