//! Misfire rate per strategy (share of trials with at least one misfire) with
//! its 95% Wilson interval as an error bar: a bar of zero still shows how
//! high the true rate could be.

use super::{colour, render, strategy_chart, Chart, DrawResult, Plot, BAR_GAP, FONT};
use crate::results::RunResults;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::Path;

const TITLE: &str = "Misfire rate per strategy (95% interval)";

struct MisfireRate<'a>(&'a RunResults);

impl Chart for MisfireRate<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static,
    {
        let stats = &self.0.stats;
        let names: Vec<String> = stats.iter().map(|s| s.strategy.clone()).collect();
        let top = stats
            .iter()
            .map(|s| s.misfire_rate().2)
            .fold(0.05, f64::max)
            .min(1.0)
            * 1.1;
        let mut chart = strategy_chart(root, TITLE, &names, top, "trials with a misfire")?;
        for (i, s) in stats.iter().enumerate() {
            let (rate, lo, hi) = s.misfire_rate();
            let c = colour(i);
            let x = i as i32;
            let mut bar = Rectangle::new(
                [
                    (SegmentValue::Exact(x), 0.0),
                    (SegmentValue::Exact(x + 1), rate),
                ],
                c.mix(0.6).filled(),
            );
            bar.set_margin(0, 0, BAR_GAP, BAR_GAP);
            chart.draw_series([bar])?;
            chart.draw_series([ErrorBar::new_vertical(
                SegmentValue::CenterOf(x),
                lo,
                rate,
                hi,
                BLACK.stroke_width(2),
                12,
            )])?;
            let label = format!("{}/{}", s.misfired_trials, s.trials);
            chart.draw_series([Text::new(
                label,
                (SegmentValue::CenterOf(x), hi + top * 0.03),
                (FONT, 14),
            )])?;
        }
        Ok(())
    }
}

pub fn plot(dir: &Path, results: &RunResults) -> Result<Plot, super::PlotError> {
    render(dir, "misfire_rate", TITLE, &MisfireRate(results))
}
