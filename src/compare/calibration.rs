//! Noise thresholds set by the baseline's own reruns.
//!
//! Two runs of one configuration on a shared machine differ by more than
//! their trials' spread: the machine drifts between runs (other load, CPU
//! frequency, the hypervisor). Measured here on a 2-core machine, six runs
//! of one real daemon gave medians 572–687 µs (±11% of their median) and
//! p99s 1.7–5.2 ms (±99%), while Mann–Whitney over two runs' trials called
//! some of those pairs significant. A rank test sees only within-run noise;
//! so a change must also exceed what reruns of the baseline show.
//!
//! `run --save-baseline NAME` keeps the last [`super::super::results::baseline::HISTORY`]
//! runs saved under one name. With two or more, each strategy's threshold is
//! the larger of the fixed one (`--noise`, `--tail-noise`) and three times
//! the largest relative distance of a saved run's figure from their median
//! (medians for the median gates, p99s for the tail gates, death and
//! completion alike). Quantiles that are only bounds ("> C") are left out:
//! they say nothing of drift. Why three: the widest of three draws lies
//! about 0.85 standard deviations from their median, and a new run should
//! pass unless it is about 2.5 away (1% of the time).

use super::Noise;
use crate::measure::{StrategyStats, Tail};
use crate::results::{LoadError, RunResults};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// How many times the saved runs' widest distance from their median a
/// change must exceed (see the module doc).
const SPREADS: f64 = 3.0;

/// Per-strategy thresholds and the number of runs they came from.
#[derive(Debug, Clone, Default)]
pub struct Calibration {
    pub runs: usize,
    pub noise: BTreeMap<String, Noise>,
}

impl Calibration {
    /// The threshold for `strategy`: calibrated, or `fixed`.
    pub fn for_strategy(&self, strategy: &str, fixed: Noise) -> Noise {
        self.noise.get(strategy).copied().unwrap_or(fixed)
    }
}

/// The largest relative distance of `values` from their median; `None`
/// with fewer than two.
fn spread(values: &mut [f64]) -> Option<f64> {
    if values.len() < 2 {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let n = values.len();
    let median = if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    };
    let median = median.max(1e-9);
    values
        .iter()
        .map(|v| (v - median).abs() / median)
        .reduce(f64::max)
}

/// One run's death and completion figure (seconds), where measured.
type Pair = [Option<f64>; 2];

/// The figures one run gives a strategy: medians, then p99s.
fn figures(s: &StrategyStats) -> (Pair, Pair) {
    let death = |q: f64| s.latency_at(q).and_then(Tail::measured);
    let done = |q: f64| s.completion_at(q);
    let secs = |d: Option<std::time::Duration>| d.map(|d| d.as_secs_f64());
    (
        [secs(death(0.5)), secs(done(0.5))],
        [secs(death(0.99)), secs(done(0.99))],
    )
}

/// Thresholds from the saved runs in `runs` (the baseline's reruns), never
/// below `fixed`. Fewer than two runs calibrate nothing.
pub fn calibrate(runs: &[PathBuf], fixed: Noise) -> Result<Calibration, LoadError> {
    if runs.len() < 2 {
        return Ok(Calibration::default());
    }
    let loaded: Vec<RunResults> = runs
        .iter()
        .map(|r| RunResults::load(r))
        .collect::<Result<_, _>>()?;
    let mut per: BTreeMap<String, (Vec<Pair>, Vec<Pair>)> = BTreeMap::new();
    for r in &loaded {
        for s in &r.stats {
            let (medians, tails) = figures(s);
            let entry = per.entry(s.strategy.clone()).or_default();
            entry.0.push(medians);
            entry.1.push(tails);
        }
    }
    let widest = |rows: &[Pair]| -> Option<f64> {
        (0..2)
            .filter_map(|i| spread(&mut rows.iter().filter_map(|r| r[i]).collect::<Vec<_>>()))
            .reduce(f64::max)
    };
    let noise = per
        .into_iter()
        .map(|(strategy, (medians, tails))| {
            let noise = Noise {
                median: widest(&medians).map_or(fixed.median, |w| (SPREADS * w).max(fixed.median)),
                tail: widest(&tails).map_or(fixed.tail, |w| (SPREADS * w).max(fixed.tail)),
            };
            (strategy, noise)
        })
        .collect();
    Ok(Calibration {
        runs: runs.len(),
        noise,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_is_the_widest_distance_from_the_median() {
        assert_eq!(spread(&mut [1.0]), None);
        let s = spread(&mut [6.17, 7.09, 5.86]).unwrap();
        // Median 6.17; 7.09 is 14.9% above it.
        assert!((s - 0.149).abs() < 0.001, "{s}");
        assert_eq!(spread(&mut [2.0, 2.0]), Some(0.0));
    }
}
