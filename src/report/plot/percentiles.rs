//! Latency by percentile, HdrHistogram style: x is 1/(1-p) on a log axis
//! (drawn as log10(1/(1-p)), "nines", for clean ticks) up to 99.99%, so the tail is as visible as the median; all strategies on one chart.

use super::{colour, empty, latency_range, legend, render, Chart, DrawResult, Plot, FONT};
use crate::results::RunResults;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::Path;

/// Label of an axis position in "nines": 0 → 0%, 1 → 90%, 2 → 99%, …
fn percentile_label(nines: &f64) -> String {
    let x = 10f64.powf(*nines);
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
    n.max(10.0).log10().ceil().min(4.0)
}

/// `(nines, ms)` points of one histogram, where nines = log10(1/(1-p)),
/// ending with its maximum at `x_end`.
fn series(hist: &hdrhistogram::Histogram<u64>, x_end: f64) -> Vec<(f64, f64)> {
    let mut points = Vec::new();
    for v in hist.iter_quantiles(5) {
        let q = v.quantile_iterated_to();
        if q >= 1.0 || (1.0 / (1.0 - q)).log10() >= x_end {
            break;
        }
        let ms = hist.highest_equivalent(v.value_iterated_to()) as f64 / 1000.0;
        points.push(((1.0 / (1.0 - q)).log10(), ms));
    }
    points.push((x_end, hist.highest_equivalent(hist.max()) as f64 / 1000.0));
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
        return empty(
            root,
            title,
            "no timed stops (victims already dead before the stop are not timed)",
        );
    };
    let x_end = x_max(results);
    let mut builder = ChartBuilder::on(root);
    builder
        .caption(title, (FONT, 22))
        .margin(15)
        .margin_right(40)
        .x_label_area_size(45)
        .y_label_area_size(70);
    macro_rules! finish {
        ($chart:expr) => {{
            let mut chart = $chart;
            chart
                .configure_mesh()
                .x_desc("percentile")
                .y_desc("stop latency (ms)")
                .x_labels(x_end as usize + 1)
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
            legend(&mut chart, SeriesLabelPosition::UpperLeft)?;
        }};
    }
    if log {
        finish!(builder.build_cartesian_2d(0f64..x_end, (lo..hi).log_scale())?);
    } else {
        finish!(builder.build_cartesian_2d(0f64..x_end, lo..hi)?);
    }
    Ok(())
}

pub fn plot(dir: &Path, results: &RunResults) -> Result<Plot, super::PlotError> {
    render(dir, "latency_percentiles", TITLE, &Percentiles(results))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_read_as_percentiles() {
        assert_eq!(percentile_label(&0.0), "0%");
        assert_eq!(percentile_label(&1.0), "90%");
        assert_eq!(percentile_label(&3.0), "99.9%");
        assert_eq!(percentile_label(&4.0), "99.99%");
    }

    #[test]
    fn series_ends_at_the_maximum() {
        let mut h = hdrhistogram::Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).unwrap();
        for us in 1..=100u64 {
            h.record(us * 1000).unwrap();
        }
        let points = series(&h, 2.0);
        let last = points.last().unwrap();
        assert_eq!(last.0, 2.0);
        assert!((last.1 - 100.0).abs() < 0.1, "{last:?}");
        assert!(points
            .windows(2)
            .all(|w| w[0].0 <= w[1].0 && w[0].1 <= w[1].1));
    }
}
