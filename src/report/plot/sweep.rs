//! A sweep's trend: misfire rate (with its 95% interval) and p99 latency of
//! each strategy against the swept parameter, in two panels.

use super::{colour, last_index, legend, render, Chart, DrawResult, Plot, FONT};
use crate::results::sweep::SweepResults;
use plotters::coord::ranged1d::SegmentedCoord;
use plotters::coord::types::{RangedCoordf64, RangedCoordi32};
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::Path;

const TITLE: &str = "Misfire rate and p99 latency across the sweep";

struct Trend<'a>(&'a SweepResults);

impl Chart for Trend<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static,
    {
        let axis = Axis::of(self.0);
        let root = root.titled(TITLE, (FONT, 22))?;
        let (top, bottom) = root.split_vertically(50.percent());
        misfire_panel(&top, &axis)?;
        latency_panel(&bottom, &axis)
    }
}

/// What both panels share: the points' labels, the strategies, the key.
struct Axis<'a> {
    sweep: &'a SweepResults,
    labels: Vec<String>,
    names: Vec<String>,
    key: &'static str,
}

impl<'a> Axis<'a> {
    fn of(sweep: &'a SweepResults) -> Self {
        Axis {
            sweep,
            labels: (0..sweep.points.len())
                .map(|i| sweep.axis_label(i))
                .collect(),
            names: sweep.strategies(),
            key: sweep.index.parameter.key(),
        }
    }

    fn label(&self, v: &SegmentValue<i32>) -> String {
        match v {
            SegmentValue::CenterOf(i) | SegmentValue::Exact(i) => {
                self.labels.get(*i as usize).cloned().unwrap_or_default()
            }
            SegmentValue::Last => String::new(),
        }
    }

    fn stat(&self, point: usize, name: &str) -> Option<&'a crate::measure::StrategyStats> {
        self.sweep.points[point]
            .1
            .stats
            .iter()
            .find(|s| s.strategy == name)
    }

    fn points(&self) -> std::ops::Range<usize> {
        0..self.sweep.points.len()
    }
}

/// A panel's coordinates: one segment per sweep point along x, a value up.
type PanelCoord = Cartesian2d<SegmentedCoord<RangedCoordi32>, RangedCoordf64>;

/// One panel's chart: the sweep's points along x, `y` up.
fn panel<'a, DB: DrawingBackend>(
    area: &'a DrawingArea<DB, Shift>,
    axis: &Axis<'_>,
    x_label_area: u32,
    y: std::ops::Range<f64>,
) -> Result<ChartContext<'a, DB, PanelCoord>, DrawingAreaErrorKind<DB::ErrorType>> {
    ChartBuilder::on(area)
        .margin(10)
        .x_label_area_size(x_label_area)
        .y_label_area_size(60)
        .build_cartesian_2d((0..last_index(axis.sweep.points.len())).into_segmented(), y)
}

/// Top panel: each strategy's misfire rate with its 95% interval.
fn misfire_panel<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, axis: &Axis<'_>) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let x_fmt = |v: &SegmentValue<i32>| axis.label(v);
    let mut chart = panel(area, axis, 45, 0f64..1.05f64)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_desc(axis.key)
        .y_desc("trials with a misfire")
        .y_label_formatter(&|y| format!("{:.0}%", y * 100.0))
        .x_label_formatter(&x_fmt)
        .label_style((FONT, 13))
        .draw()?;
    for (k, name) in axis.names.iter().enumerate() {
        let c = colour(k);
        let points: Vec<(SegmentValue<i32>, f64)> = axis
            .points()
            .filter_map(|i| {
                Some((
                    SegmentValue::CenterOf(i as i32),
                    axis.stat(i, name)?.misfire_rate().0,
                ))
            })
            .collect();
        chart
            .draw_series(LineSeries::new(points.clone(), c.stroke_width(2)))?
            .label(name.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2)));
        chart.draw_series(axis.points().filter_map(|i| {
            let (r, lo, hi) = axis.stat(i, name)?.misfire_rate();
            Some(ErrorBar::new_vertical(
                SegmentValue::CenterOf(i as i32),
                lo,
                r,
                hi,
                c.stroke_width(1),
                8,
            ))
        }))?;
    }
    legend(&mut chart, SeriesLabelPosition::UpperLeft)
}

/// Bottom panel: each strategy's p99 latency, or a note when no stop was timed.
fn latency_panel<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, axis: &Axis<'_>) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let p99_ms = |i: usize, name: &str| -> Option<f64> {
        Some(
            axis.stat(i, name)?
                .latency_at(0.99)?
                .measured()?
                .as_secs_f64()
                * 1000.0,
        )
    };
    let p99s: Vec<f64> = axis
        .points()
        .flat_map(|i| axis.names.iter().filter_map(move |name| p99_ms(i, name)))
        .collect();
    if p99s.is_empty() {
        let style = TextStyle::from((FONT, 16).into_font());
        let (w, h) = area.dim_in_pixel();
        area.draw_text(
            "p99 latency: no timed stops (every victim was already gone)",
            &style,
            (w as i32 / 6, h as i32 / 2),
        )?;
        return Ok(());
    }
    let (lo, hi) = p99s
        .iter()
        .fold((f64::INFINITY, 0f64), |(a, b), &v| (a.min(v), b.max(v)));
    let x_fmt = |v: &SegmentValue<i32>| axis.label(v);
    let mut chart = panel(area, axis, 40, (lo * 0.8).max(1e-3)..hi * 1.25)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_desc(axis.key)
        .y_desc("p99 latency (ms)")
        .x_label_formatter(&x_fmt)
        .label_style((FONT, 13))
        .draw()?;
    for (k, name) in axis.names.iter().enumerate() {
        let c = colour(k);
        let points: Vec<(SegmentValue<i32>, f64)> = axis
            .points()
            .filter_map(|i| Some((SegmentValue::CenterOf(i as i32), p99_ms(i, name)?)))
            .collect();
        chart.draw_series(LineSeries::new(points.clone(), c.stroke_width(2)))?;
        chart.draw_series(points.into_iter().map(|p| Circle::new(p, 3, c.filled())))?;
    }
    Ok(())
}

pub fn plot(dir: &Path, sweep: &SweepResults) -> Result<Plot, super::PlotError> {
    render(dir, "sweep_trend", TITLE, &Trend(sweep))
}
