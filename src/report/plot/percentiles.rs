//! Latency by percentile, HdrHistogram style: x is 1/(1-p) on a log axis up
//! to 99.99%, so the tail is as visible as the median; all strategies on one chart.

use super::{colour, empty, latency_range, render, Chart, DrawResult, Plot, FONT};
use crate::results::RunResults;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::Path;

fn percentile_label(x: &f64) -> String {
    let p = format!("{:.2}", 100.0 * (1.0 - 1.0 / x));
    format!("{}%", p.trim_end_matches('0').trim_end_matches('.'))
}

/// Right end of the x axis: as far into the tail as the samples reach
/// (1/(1-p) of the largest sample count), between 90% and 99.99%.
fn x_max(results: &RunResults) -> f64 {
    let n = results
        .stats
        .iter()
        .map(|s| s.latency_us.len())
        .max()
        .unwrap_or(0) as f64;
    let decades = n.max(10.0).log10().ceil().min(4.0);
    10f64.powf(decades)
}

/// `(1/(1-p), ms)` points of one histogram, ending with its maximum at `x_end`.
fn series(hist: &hdrhistogram::Histogram<u64>, x_end: f64) -> Vec<(f64, f64)> {
    let mut points = Vec::new();
    for v in hist.iter_quantiles(5) {
        let q = v.quantile_iterated_to();
        let x = if q >= 1.0 {
            x_end
        } else {
            (1.0 / (1.0 - q)).min(x_end)
        };
        points.push((
            x,
            hist.highest_equivalent(v.value_iterated_to()) as f64 / 1000.0,
        ));
        if x >= x_end {
            break;
        }
    }
    points
}

const TITLE: &str = "Stop latency by percentile";

struct Percentiles<'a>(&'a RunResults);

impl Chart for Percentiles<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static,
    {
        draw(root, self.0)
    }
}

fn draw<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, results: &RunResults) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let title = TITLE;
    let Some((lo, hi, log)) = latency_range(results) else {
        return empty(root, title, "no timed stops");
    };
    let x_end = x_max(results);
    let mut builder = ChartBuilder::on(root);
    builder
        .caption(title, (FONT, 22))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(70);
    macro_rules! finish {
        ($chart:expr) => {{
            let mut chart = $chart;
            chart
                .configure_mesh()
                .x_desc("percentile")
                .y_desc("stop latency (ms)")
                .x_label_formatter(&percentile_label)
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
                    .draw_series(LineSeries::new(
                        series(&s.latency_us, x_end),
                        c.stroke_width(2),
                    ))?
                    .label(s.strategy.clone())
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2))
                    });
            }
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperLeft)
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK.mix(0.3))
                .label_font((FONT, 14))
                .draw()?;
        }};
    }
    if log {
        finish!(builder.build_cartesian_2d((1f64..x_end).log_scale(), (lo..hi).log_scale())?);
    } else {
        finish!(builder.build_cartesian_2d((1f64..x_end).log_scale(), lo..hi)?);
    }
    Ok(())
}

pub fn plot(dir: &Path, results: &RunResults) -> Result<Plot, String> {
    render(dir, "latency_percentiles", TITLE, &Percentiles(results))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_read_as_percentiles() {
        assert_eq!(percentile_label(&1.0), "0%");
        assert_eq!(percentile_label(&10.0), "90%");
        assert_eq!(percentile_label(&1000.0), "99.9%");
        assert_eq!(percentile_label(&10000.0), "99.99%");
    }

    #[test]
    fn series_ends_at_the_maximum() {
        let mut h = hdrhistogram::Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).unwrap();
        for us in 1..=100u64 {
            h.record(us * 1000).unwrap();
        }
        let points = series(&h, 100.0);
        let last = points.last().unwrap();
        assert_eq!(last.0, 100.0);
        assert!((last.1 - 100.0).abs() < 0.1, "{last:?}");
        assert!(points
            .windows(2)
            .all(|w| w[0].0 <= w[1].0 && w[0].1 <= w[1].1));
    }
}
