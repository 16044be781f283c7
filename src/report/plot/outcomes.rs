//! How stops ended, per strategy, as stacked shares: exited, killed,
//! survived, error.

use super::{legend, render, strategy_chart, Chart, DrawResult, Plot, BAR_GAP};
use crate::results::RunResults;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::Path;

const TITLE: &str = "Outcome of each stop";

const OUTCOME_COLOURS: [(&str, RGBColor); 4] = [
    ("exited", RGBColor(0, 158, 115)),
    ("killed", RGBColor(230, 159, 0)),
    ("survived", RGBColor(213, 94, 0)),
    ("error", RGBColor(120, 120, 120)),
];

struct Outcomes<'a>(&'a RunResults);

impl Chart for Outcomes<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static,
    {
        let stats = &self.0.stats;
        let names: Vec<String> = stats.iter().map(|s| s.strategy.clone()).collect();
        let mut chart = strategy_chart(root, TITLE, &names, 1.0, "share of trials")?;
        for (k, (name, c)) in OUTCOME_COLOURS.iter().enumerate() {
            let bars: Vec<_> = stats
                .iter()
                .enumerate()
                .filter(|(_, s)| s.trials > 0)
                .map(|(i, s)| {
                    let counts = [s.exited, s.killed, s.survived, s.errors];
                    let below: u64 = counts[..k].iter().sum();
                    let (y0, y1) = (
                        below as f64 / s.trials as f64,
                        (below + counts[k]) as f64 / s.trials as f64,
                    );
                    let x = i as i32;
                    let mut bar = Rectangle::new(
                        [
                            (SegmentValue::Exact(x), y0),
                            (SegmentValue::Exact(x + 1), y1),
                        ],
                        c.filled(),
                    );
                    bar.set_margin(0, 0, BAR_GAP, BAR_GAP);
                    bar
                })
                .collect();
            let c = *c;
            chart
                .draw_series(bars)?
                .label(*name)
                .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 14, y + 6)], c.filled()));
        }
        legend(&mut chart, SeriesLabelPosition::UpperRight)?;
        Ok(())
    }
}

pub fn plot(dir: &Path, results: &RunResults) -> Result<Plot, super::PlotError> {
    render(dir, "outcomes", TITLE, &Outcomes(results))
}
