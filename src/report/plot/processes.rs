//! A sweep over the process count (`churn.bystanders.count`): each
//! strategy's stop latency (p50) and CPU per stop against the processes in
//! the sandbox, both axes logarithmic, with the floor of one /proc scan
//! measured at each point: a strategy that scans /proc cannot stop faster.

use super::{colour, legend, render, Chart, DrawResult, Plot, FONT};
use crate::results::sweep::SweepResults;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::Path;

const TITLE: &str = "Stop latency and CPU per stop against the processes in the sandbox";
/// The scan floor's legend entry.
const FLOOR: &str = "one /proc scan (floor)";

struct ByProcesses<'a>(&'a SweepResults);

/// One series: (processes, value in ms) per point that has both.
type Series = Vec<(f64, f64)>;

impl ByProcesses<'_> {
    /// The processes at point `i`: as its /proc scan counted them, else the swept count.
    fn processes(&self, i: usize) -> Option<f64> {
        let (point, results) = &self.0.points[i];
        let counted = results.meta.churn.as_ref().and_then(|c| c.processes);
        counted
            .map(|n| n as f64)
            .or_else(|| point.value.parse().ok())
    }

    fn series(&self, value: impl Fn(usize, &str) -> Option<f64>) -> Vec<(String, Series)> {
        let sweep = self.0;
        sweep
            .strategies()
            .into_iter()
            .map(|name| {
                let points = (0..sweep.points.len())
                    .filter_map(|i| Some((self.processes(i)?, value(i, &name)?)))
                    .collect();
                (name, points)
            })
            .collect()
    }

    fn stat(&self, i: usize, name: &str) -> Option<&crate::measure::StrategyStats> {
        self.0.points[i].1.stats.iter().find(|s| s.strategy == name)
    }

    fn floor(&self) -> Series {
        (0..self.0.points.len())
            .filter_map(|i| {
                let us = self.0.points[i].1.meta.churn.as_ref()?.proc_scan_us?;
                Some((self.processes(i)?, us / 1000.0))
            })
            .collect()
    }
}

impl Chart for ByProcesses<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static,
    {
        let root = root.titled(TITLE, (FONT, 20))?;
        let (top, bottom) = root.split_vertically(50.percent());
        let latency = self.series(|i, name| {
            Some(
                self.stat(i, name)?
                    .latency_at(0.5)?
                    .measured()?
                    .as_secs_f64()
                    * 1000.0,
            )
        });
        let cpu = self.series(|i, name| {
            let (user, sys) = self.stat(i, name)?.cpu.mean_us()?;
            Some((user + sys) / 1000.0)
        });
        let floor = self.floor();
        panel(&top, &latency, &floor, "p50 latency (ms)")?;
        panel(&bottom, &cpu, &floor, "CPU per stop (ms)")
    }
}

/// One log-log panel: a line per strategy, the scan floor dashed.
fn panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    series: &[(String, Series)],
    floor: &Series,
    y_desc: &str,
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let all = series
        .iter()
        .flat_map(|(_, s)| s.iter())
        .chain(floor.iter());
    let (mut x_lo, mut x_hi, mut y_lo, mut y_hi) = (f64::MAX, 0f64, f64::MAX, 0f64);
    for &(x, y) in all.filter(|(x, y)| *x > 0.0 && *y > 0.0) {
        (x_lo, x_hi, y_lo, y_hi) = (x_lo.min(x), x_hi.max(x), y_lo.min(y), y_hi.max(y));
    }
    if x_hi == 0.0 {
        return super::empty(area, y_desc, "nothing was timed at any point");
    }
    let mut chart = ChartBuilder::on(area)
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(
            (x_lo * 0.8..x_hi * 1.25).log_scale(),
            (y_lo * 0.5..y_hi * 2.0).log_scale(),
        )?;
    chart
        .configure_mesh()
        .x_desc("processes in the sandbox")
        .y_desc(y_desc)
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&|y| format!("{y}"))
        .label_style((FONT, 13))
        .draw()?;
    for (k, (name, points)) in series.iter().enumerate() {
        let c = colour(k);
        chart
            .draw_series(LineSeries::new(points.clone(), c.stroke_width(2)))?
            .label(name.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2)));
        chart.draw_series(points.iter().map(|&p| Circle::new(p, 3, c.filled())))?;
    }
    if !floor.is_empty() {
        chart
            .draw_series(DashedLineSeries::new(
                floor.clone(),
                6,
                4,
                BLACK.stroke_width(2),
            ))?
            .label(FLOOR)
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLACK.stroke_width(2)));
    }
    legend(&mut chart, SeriesLabelPosition::UpperLeft)
}

pub fn plot(dir: &Path, sweep: &SweepResults) -> Result<Plot, super::PlotError> {
    render(dir, "by_processes", TITLE, &ByProcesses(sweep))
}
