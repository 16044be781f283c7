//! `summary.csv`: one row per strategy. The leading columns are fixed by the
//! project's contract; later columns may be added, never reordered.

use super::{ms, opt_ms};
use crate::measure::StrategyStats;
use std::path::Path;

pub const COLUMNS: &[&str] = &[
    "scenario",
    "strategy",
    "trials",
    "exited",
    "killed",
    "survived",
    "errors",
    "misfires",
    "misfire_rate",
    "misfire_rate_lo95",
    "misfire_rate_hi95",
    "leaks",
    "p50_ms",
    "p90_ms",
    "p99_ms",
    "p999_ms",
    "max_ms",
    // Additions after the contract's columns:
    "misfired_trials",
    "pid_reused",
    "mean_ms",
];

pub fn row(scenario: &str, s: &StrategyStats) -> Vec<String> {
    let (rate, lo, hi) = s.misfire_rate();
    let mean = (!s.latency_us.is_empty())
        .then(|| std::time::Duration::from_secs_f64(s.latency_us.mean() / 1e6));
    vec![
        scenario.to_string(),
        s.strategy.clone(),
        s.trials.to_string(),
        s.exited.to_string(),
        s.killed.to_string(),
        s.survived.to_string(),
        s.errors.to_string(),
        s.misfires.to_string(),
        format!("{rate:.6}"),
        format!("{lo:.6}"),
        format!("{hi:.6}"),
        s.leaks.to_string(),
        opt_ms(s.latency_at(0.5)),
        opt_ms(s.latency_at(0.9)),
        opt_ms(s.latency_at(0.99)),
        opt_ms(s.latency_at(0.999)),
        opt_ms(s.latency_max()),
        s.misfired_trials.to_string(),
        s.pid_reused.to_string(),
        mean.map(ms).unwrap_or_default(),
    ]
}

pub fn write(path: &Path, scenario: &str, stats: &[StrategyStats]) -> std::io::Result<()> {
    let mut w = csv::Writer::from_path(path)?;
    w.write_record(COLUMNS)?;
    for s in stats {
        w.write_record(row(scenario, s))?;
    }
    w.flush()
}
