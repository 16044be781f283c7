//! The per-strategy summary: one struct, written as `summary.csv` (one row
//! per strategy) and `summary.json`, and embedded in `run.json`, so the three
//! can never disagree. The first 17 CSV columns are fixed by the project's
//! contract; new fields go after them.

use crate::measure::{StrategyStats, Tail};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::Duration;

/// One strategy's results. Rates are shares of trials (0..1); latencies are
/// milliseconds with microsecond resolution, absent when no stop was timed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SummaryRow {
    pub scenario: String,
    pub strategy: String,
    /// Trials run.
    pub trials: u64,
    /// Victim died before the final signal (or on its own).
    pub exited: u64,
    /// Victim died after the strategy escalated.
    pub killed: u64,
    /// Victim still alive when the strategy gave up.
    pub survived: u64,
    /// Trials the tool could not run.
    pub errors: u64,
    /// Signals that hit another process, summed over trials.
    pub misfires: u64,
    /// Share of trials with at least one misfire.
    pub misfire_rate: f64,
    /// Lower bound of the 95% Wilson interval of `misfire_rate`.
    pub misfire_rate_lo95: f64,
    /// Upper bound of the 95% Wilson interval of `misfire_rate`.
    pub misfire_rate_hi95: f64,
    /// Victim descendants alive after the stop, summed over trials.
    pub leaks: u64,
    pub p50_ms: Option<f64>,
    pub p90_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub p999_ms: Option<f64>,
    pub max_ms: Option<f64>,
    /// Trials with at least one misfire (numerator of `misfire_rate`).
    pub misfired_trials: u64,
    /// Trials in which the signalled number belonged to another process.
    pub pid_reused: u64,
    pub mean_ms: Option<f64>,
    /// Race window percentiles (absent where the strategy has none).
    #[serde(default)]
    pub race_window_p50_ms: Option<f64>,
    #[serde(default)]
    pub race_window_p99_ms: Option<f64>,
    /// Processes outside the victim's tree that the victim's own program
    /// signalled (a `kill -1`), summed over trials: not misfires.
    #[serde(default)]
    pub victim_signals: u64,
    /// Signals by number refused with EPERM.
    #[serde(default)]
    pub eperm: u64,
    /// Stops whose victim tree did not die within the trial (survivors and
    /// leaks): censored, counted in every `p*_ms` latency as longer than
    /// their completion (see the `*_lower_bound` columns).
    #[serde(default)]
    pub censored: u64,
    /// Completion (stop request to the strategy's return, what a deploy
    /// waits for) percentiles, over every stop that ran.
    #[serde(default)]
    pub completion_p50_ms: Option<f64>,
    #[serde(default)]
    pub completion_p90_ms: Option<f64>,
    #[serde(default)]
    pub completion_p99_ms: Option<f64>,
    #[serde(default)]
    pub completion_max_ms: Option<f64>,
    /// Exposure percentiles (see strategy::exposure; absent where the
    /// strategy never addresses the number).
    #[serde(default)]
    pub exposure_p50_ms: Option<f64>,
    #[serde(default)]
    pub exposure_p99_ms: Option<f64>,
    /// Mean user and system CPU time per stop (the strategy's own work and
    /// its helpers'), and their standard deviations, as hyperfine reports.
    #[serde(default)]
    pub cpu_user_ms: Option<f64>,
    #[serde(default)]
    pub cpu_sys_ms: Option<f64>,
    #[serde(default)]
    pub cpu_user_sd_ms: Option<f64>,
    #[serde(default)]
    pub cpu_sys_sd_ms: Option<f64>,
    /// Whether `p50_ms`, `p90_ms`, `p99_ms`, `p999_ms` and `max_ms` are only
    /// lower bounds: the quantile falls among censored stops, so the value is
    /// the censoring time and the stop took longer (see measure::survival).
    #[serde(default)]
    pub p50_lower_bound: bool,
    #[serde(default)]
    pub p90_lower_bound: bool,
    #[serde(default)]
    pub p99_lower_bound: bool,
    #[serde(default)]
    pub p999_lower_bound: bool,
    #[serde(default)]
    pub max_lower_bound: bool,
}

fn ms(d: Option<Duration>) -> Option<f64> {
    d.map(|d| d.as_micros() as f64 / 1000.0)
}

/// A quantile's value (or bound) in ms, and whether it is a bound.
fn tail_ms(t: Option<Tail>) -> (Option<f64>, bool) {
    (ms(t.map(Tail::value)), t.is_some_and(Tail::is_bound))
}

/// Six decimals: enough for any interval, and the files stay readable.
fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

impl SummaryRow {
    pub fn new(scenario: &str, s: &StrategyStats) -> Self {
        let (rate, lo, hi) = s.misfire_rate();
        // A mean over the stops that finished would hide the ones that did
        // not: with any censored stop there is no mean to give.
        let mean = (!s.latency_us.is_empty() && s.censored == 0)
            .then(|| Duration::from_micros(s.latency_us.mean().round() as u64));
        let [p50, p90, p99, p999, max] =
            [0.5, 0.9, 0.99, 0.999, 1.0].map(|q| tail_ms(s.latency_at(q)));
        Self {
            scenario: scenario.to_string(),
            strategy: s.strategy.clone(),
            trials: s.trials,
            exited: s.exited,
            killed: s.killed,
            survived: s.survived,
            errors: s.errors,
            misfires: s.misfires,
            misfire_rate: round6(rate),
            misfire_rate_lo95: round6(lo),
            misfire_rate_hi95: round6(hi),
            leaks: s.leaks,
            p50_ms: p50.0,
            p90_ms: p90.0,
            p99_ms: p99.0,
            p999_ms: p999.0,
            max_ms: max.0,
            misfired_trials: s.misfired_trials,
            pid_reused: s.pid_reused,
            mean_ms: ms(mean),
            race_window_p50_ms: ms(s.window_at(0.5)),
            race_window_p99_ms: ms(s.window_at(0.99)),
            victim_signals: s.victim_signals,
            eperm: s.eperm,
            censored: s.censored,
            completion_p50_ms: ms(s.completion_at(0.5)),
            completion_p90_ms: ms(s.completion_at(0.9)),
            completion_p99_ms: ms(s.completion_at(0.99)),
            completion_max_ms: ms(s.completion_at(1.0)),
            exposure_p50_ms: ms(s.exposure_at(0.5)),
            exposure_p99_ms: ms(s.exposure_at(0.99)),
            cpu_user_ms: s.cpu.mean_us().map(|(u, _)| round6(u / 1000.0)),
            cpu_sys_ms: s.cpu.mean_us().map(|(_, y)| round6(y / 1000.0)),
            cpu_user_sd_ms: s.cpu.sd_us().map(|(u, _)| round6(u / 1000.0)),
            cpu_sys_sd_ms: s.cpu.sd_us().map(|(_, y)| round6(y / 1000.0)),
            p50_lower_bound: p50.1,
            p90_lower_bound: p90.1,
            p99_lower_bound: p99.1,
            p999_lower_bound: p999.1,
            max_lower_bound: max.1,
        }
    }
}

pub fn write_csv(path: &Path, rows: &[SummaryRow]) -> std::io::Result<()> {
    let mut w = csv::Writer::from_path(path)?;
    for row in rows {
        w.serialize(row)?;
    }
    if rows.is_empty() {
        // csv writes headers with the first row; an empty run still gets them.
        w.write_record(HEADER)?;
    }
    w.flush()
}

pub fn write_json(path: &Path, rows: &[SummaryRow]) -> std::io::Result<()> {
    let text = serde_json::to_string_pretty(&serde_json::json!({ "strategies": rows }))?;
    std::fs::write(path, text + "\n")
}

const HEADER: &[&str] = &[
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
    "misfired_trials",
    "pid_reused",
    "mean_ms",
    "race_window_p50_ms",
    "race_window_p99_ms",
    "victim_signals",
    "eperm",
    "censored",
    "completion_p50_ms",
    "completion_p90_ms",
    "completion_p99_ms",
    "completion_max_ms",
    "exposure_p50_ms",
    "exposure_p99_ms",
    "cpu_user_ms",
    "cpu_sys_ms",
    "cpu_user_sd_ms",
    "cpu_sys_sd_ms",
    "p50_lower_bound",
    "p90_lower_bound",
    "p99_lower_bound",
    "p999_lower_bound",
    "max_lower_bound",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn row() -> SummaryRow {
        SummaryRow {
            scenario: "s".into(),
            strategy: "pidfd".into(),
            trials: 10,
            exited: 9,
            killed: 1,
            survived: 0,
            errors: 0,
            misfires: 0,
            misfire_rate: 0.0,
            misfire_rate_lo95: 0.0,
            misfire_rate_hi95: 0.277533,
            leaks: 0,
            p50_ms: Some(1.5),
            p90_ms: Some(2.0),
            p99_ms: Some(2.5),
            p999_ms: Some(2.5),
            max_ms: Some(2.5),
            misfired_trials: 0,
            pid_reused: 0,
            mean_ms: None,
            race_window_p50_ms: None,
            race_window_p99_ms: Some(1.25),
            victim_signals: 2,
            eperm: 0,
            censored: 1,
            completion_p50_ms: Some(1.75),
            completion_p90_ms: Some(2.25),
            completion_p99_ms: Some(2.75),
            completion_max_ms: Some(2.75),
            exposure_p50_ms: Some(4.5),
            exposure_p99_ms: None,
            cpu_user_ms: Some(0.25),
            cpu_sys_ms: Some(0.125),
            cpu_user_sd_ms: Some(0.5),
            cpu_sys_sd_ms: None,
            p50_lower_bound: false,
            p90_lower_bound: false,
            p99_lower_bound: true,
            p999_lower_bound: true,
            max_lower_bound: true,
        }
    }

    #[test]
    fn csv_and_json_carry_the_same_values() {
        let dir = tempfile::tempdir().unwrap();
        let rows = vec![row()];
        write_csv(&dir.path().join("s.csv"), &rows).unwrap();
        write_json(&dir.path().join("s.json"), &rows).unwrap();
        let text = std::fs::read_to_string(dir.path().join("s.csv")).unwrap();
        assert_eq!(text.lines().next().unwrap(), HEADER.join(","));
        let from_csv: SummaryRow = csv::Reader::from_path(dir.path().join("s.csv"))
            .unwrap()
            .deserialize()
            .next()
            .unwrap()
            .unwrap();
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.path().join("s.json")).unwrap())
                .unwrap();
        let from_json: SummaryRow = serde_json::from_value(json["strategies"][0].clone()).unwrap();
        assert_eq!(from_csv, rows[0]);
        assert_eq!(from_json, rows[0]);
    }
}
