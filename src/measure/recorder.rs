//! Per-strategy aggregation of trial records: HdrHistograms of the two
//! latencies (the victim tree's death, the stop's completion) and the
//! counters behind summary.csv.

use super::stats::wilson95;
use super::survival::{self, Tail};
use super::Outcome;
use crate::model::risk::RiskSample;
use hdrhistogram::Histogram;
use std::time::Duration;

/// Latencies are recorded in microseconds, from 1 µs to 1 hour, 3 digits.
const HIGHEST_US: u64 = 3_600_000_000;

pub struct StrategyStats {
    pub strategy: String,
    pub trials: u64,
    pub exited: u64,
    pub killed: u64,
    pub survived: u64,
    pub errors: u64,
    /// Signals by number refused with EPERM (the number is another user's).
    pub eperm: u64,
    /// Stops whose victim tree did not die within the trial (survivors and
    /// leaks): censored, so not in `latency_us` but in `censored_us`.
    pub censored: u64,
    /// Each censored stop's censoring time (µs): its completion, when the
    /// tree was still not dead. Its latency is longer than that, and counts
    /// so in every latency quantile (see survival.rs).
    pub censored_us: Vec<u64>,
    /// Misfire events (one per signal that hit another process).
    pub misfires: u64,
    /// Trials with at least one misfire: the numerator of `misfire_rate`.
    pub misfired_trials: u64,
    /// Signals the victim's own program sent outside its tree (not misfires).
    pub victim_signals: u64,
    pub leaks: u64,
    /// Trials that left at least one process of the tree running.
    pub leaked_trials: u64,
    pub pid_reused: u64,
    /// Stop request to the death of the whole tree, for stops where it died.
    pub latency_us: Histogram<u64>,
    /// Stop request to the strategy's return, for every stop it ran.
    pub completion_us: Histogram<u64>,
    /// Race windows (µs; 0 is recorded as 1), one per trial that had one.
    pub race_window_us: Histogram<u64>,
    /// Exposures (µs; 0 as 1), one per trial of a number-addressing strategy.
    pub exposure_us: Histogram<u64>,
    /// Per trial the longer of its exposure and its race window (µs; 0 as
    /// 1): what the report shows as the model's window.
    pub risk_window_us: Histogram<u64>,
    /// What the model takes, one per trial that has an exposure or a window.
    pub risk_samples: Vec<RiskSample>,
    /// CPU time per stop, over the stops where it was measured.
    pub cpu: super::CpuSums,
}

impl StrategyStats {
    fn new(strategy: &str) -> Self {
        Self {
            strategy: strategy.to_string(),
            trials: 0,
            exited: 0,
            killed: 0,
            survived: 0,
            errors: 0,
            eperm: 0,
            censored: 0,
            censored_us: Vec::new(),
            misfires: 0,
            misfired_trials: 0,
            victim_signals: 0,
            leaks: 0,
            leaked_trials: 0,
            pid_reused: 0,
            latency_us: Histogram::new_with_bounds(1, HIGHEST_US, 3)
                .expect("valid histogram bounds"),
            completion_us: Histogram::new_with_bounds(1, HIGHEST_US, 3)
                .expect("valid histogram bounds"),
            race_window_us: Histogram::new_with_bounds(1, HIGHEST_US, 3)
                .expect("valid histogram bounds"),
            exposure_us: Histogram::new_with_bounds(1, HIGHEST_US, 3)
                .expect("valid histogram bounds"),
            risk_window_us: Histogram::new_with_bounds(1, HIGHEST_US, 3)
                .expect("valid histogram bounds"),
            risk_samples: Vec::new(),
            cpu: super::CpuSums::default(),
        }
    }

    /// Share of trials with at least one misfire, and its 95% Wilson interval.
    pub fn misfire_rate(&self) -> (f64, f64, f64) {
        let rate = if self.trials == 0 {
            0.0
        } else {
            self.misfired_trials as f64 / self.trials as f64
        };
        let (lo, hi) = wilson95(self.misfired_trials, self.trials);
        (rate, lo, hi)
    }

    /// Death latency at quantile `q` (0..=1) over every stop that ran,
    /// the censored ones counted (see survival.rs); `None` with no stop.
    pub fn latency_at(&self, q: f64) -> Option<Tail> {
        let h = &self.latency_us;
        let deaths = h.iter_recorded().map(|v| {
            (
                h.highest_equivalent(v.value_iterated_to()),
                v.count_at_value(),
            )
        });
        survival::quantile(&survival::group(deaths, &self.censored_us), q)
    }

    /// The share of timed stops that are censored (0 with none).
    pub fn censored_share(&self) -> f64 {
        let timed = self.latency_us.len() + self.censored;
        if timed == 0 {
            0.0
        } else {
            self.censored as f64 / timed as f64
        }
    }

    /// Race window at quantile `q`; `None` when no trial had one.
    pub fn window_at(&self, q: f64) -> Option<Duration> {
        quantile(&self.race_window_us, q)
    }

    /// Exposure at quantile `q`; `None` when no trial had one.
    pub fn exposure_at(&self, q: f64) -> Option<Duration> {
        quantile(&self.exposure_us, q)
    }

    /// The model's window at quantile `q` (see `risk_window_us`).
    pub fn risk_window_at(&self, q: f64) -> Option<Duration> {
        quantile(&self.risk_window_us, q)
    }

    /// The slowest stop: a bound when any stop was censored after the
    /// last death.
    pub fn latency_max(&self) -> Option<Tail> {
        self.latency_at(1.0)
    }

    /// Completion at quantile `q`; `None` when no stop ran.
    pub fn completion_at(&self, q: f64) -> Option<Duration> {
        quantile(&self.completion_us, q)
    }
}

/// A histogram's value at quantile `q`; `None` when it is empty.
fn quantile(h: &Histogram<u64>, q: f64) -> Option<Duration> {
    (!h.is_empty()).then(|| Duration::from_micros(h.value_at_quantile(q)))
}

/// The numbers of one trial that the recorder aggregates; made from a
/// [`TrialRecord`](super::TrialRecord) during a run or from a trials.csv row
/// when a run directory is read back, so both give the same summary.
#[derive(Debug, Clone, Copy)]
pub struct TrialTally<'a> {
    pub strategy: &'a str,
    pub outcome: Outcome,
    /// Whole microseconds, as trials.csv stores them; `None` when censored.
    pub latency_us: Option<u64>,
    /// Whole microseconds: stop request to the strategy's return.
    pub completion_us: u64,
    pub misfires: u64,
    pub victim_signals: u64,
    pub leaks: u64,
    pub pid_reused: bool,
    /// Whole microseconds, as trials.csv stores them.
    pub race_window_us: Option<u64>,
    /// Whole microseconds, as trials.csv stores them.
    pub exposure_us: Option<u64>,
    /// Whole microseconds: from the exposure's end to the signal that would follow.
    pub follow_us: Option<u64>,
    pub cpu: Option<super::CpuTime>,
}

impl TrialTally<'_> {
    /// A stop whose tree did not die within its trial (a survivor, or a
    /// stop that left a process running): its death latency is only known
    /// to exceed its completion.
    pub fn censored(&self) -> bool {
        self.latency_us.is_none()
            && (self.outcome == Outcome::Survived
                || matches!(self.outcome, Outcome::Exited | Outcome::Killed) && self.leaks > 0)
    }
}

/// All strategies of a run, in the scenario's order.
pub struct Recorder {
    pub strategies: Vec<StrategyStats>,
}

impl Recorder {
    pub fn new(labels: &[String]) -> Self {
        Self {
            strategies: labels.iter().map(|l| StrategyStats::new(l)).collect(),
        }
    }

    pub fn record(&mut self, t: &TrialTally<'_>) {
        let index = match self
            .strategies
            .iter()
            .position(|s| s.strategy == t.strategy)
        {
            Some(i) => i,
            None => {
                self.strategies.push(StrategyStats::new(t.strategy));
                self.strategies.len() - 1
            }
        };
        let stats = &mut self.strategies[index];
        stats.trials += 1;
        match t.outcome {
            Outcome::Exited => stats.exited += 1,
            Outcome::Killed => stats.killed += 1,
            Outcome::Survived => stats.survived += 1,
            Outcome::Error => stats.errors += 1,
            Outcome::Eperm => stats.eperm += 1,
        }
        stats.misfires += t.misfires;
        stats.misfired_trials += u64::from(t.misfires > 0);
        stats.victim_signals += t.victim_signals;
        stats.leaks += t.leaks;
        stats.leaked_trials += u64::from(t.leaks > 0);
        stats.pid_reused += u64::from(t.pid_reused);
        // A stop that never ran used no CPU worth averaging in.
        if let Some(cpu) = t.cpu.filter(|_| t.outcome != Outcome::Error) {
            stats.cpu.add(cpu);
        }
        // Only stops whose whole tree died have a death latency; the rest
        // are censored and counted, never recorded as fast stops.
        match t.latency_us {
            Some(us) => {
                let us = us.clamp(1, HIGHEST_US);
                stats.latency_us.record(us).expect("value within bounds");
            }
            None if t.censored() => {
                stats.censored += 1;
                stats.censored_us.push(t.completion_us.clamp(1, HIGHEST_US));
            }
            None => {}
        }
        // Every stop that ran has a completion; an error has none to time.
        if t.outcome != Outcome::Error {
            let us = t.completion_us.clamp(1, HIGHEST_US);
            stats.completion_us.record(us).expect("value within bounds");
        }
        if let Some(w) = t.race_window_us {
            let w = w.clamp(1, HIGHEST_US);
            stats.race_window_us.record(w).expect("value within bounds");
        }
        if let Some(e) = t.exposure_us {
            let e = e.clamp(1, HIGHEST_US);
            stats.exposure_us.record(e).expect("value within bounds");
        }
        if let Some(w) = t.exposure_us.max(t.race_window_us) {
            let w = w.clamp(1, HIGHEST_US);
            stats.risk_window_us.record(w).expect("value within bounds");
            let s = |us: Option<u64>| us.unwrap_or(0) as f64 / 1e6;
            stats.risk_samples.push(RiskSample {
                exposure: s(t.exposure_us),
                follow: s(t.follow_us),
                window: s(t.race_window_us),
            });
        }
    }

    pub fn total_trials(&self) -> u64 {
        self.strategies.iter().map(|s| s.trials).sum()
    }

    pub fn total_misfires(&self) -> u64 {
        self.strategies.iter().map(|s| s.misfires).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measure::TrialRecord;
    use crate::oracle::{Misfire, SeenBy};

    fn trial(outcome: Outcome, ms: u64, misfires: usize, gone: bool) -> TrialRecord {
        TrialRecord {
            victim_pid: 400,
            outcome,
            latency: (!gone && outcome != Outcome::Error).then(|| Duration::from_millis(ms)),
            strategy_time: Duration::from_millis(ms),
            victim_gone_before_stop: gone,
            pid_reused: Some(misfires > 0),
            misfires: (0..misfires)
                .map(|i| Misfire {
                    hit_pid: 400 + i as i32,
                    hit_role: "bystander".into(),
                    hit_cmdline: "vim x".into(),
                    signal: "SIGKILL".into(),
                    seen_by: SeenBy::Death,
                })
                .collect(),
            // A victim gone before its stop left nothing behind.
            leaks: u32::from(!gone),
            leaked: vec!["sleep 1".into()],
            race_window: (misfires > 0).then(|| Duration::from_millis(3)),
            ..TrialRecord::new(0, 0, "plain-kill", "/usr/bin/foo_daemon")
        }
    }

    #[test]
    fn counts_outcomes_misfires_and_latency() {
        let mut r = Recorder::new(&["plain-kill".to_string()]);
        for t in [
            trial(Outcome::Exited, 5, 0, false),
            trial(Outcome::Killed, 2000, 2, false),
            trial(Outcome::Exited, 0, 1, true),
            trial(Outcome::Error, 0, 0, false),
        ] {
            r.record(&t.tally());
        }
        let s = &r.strategies[0];
        assert_eq!((s.trials, s.exited, s.killed, s.errors), (4, 2, 1, 1));
        assert_eq!(
            (s.misfires, s.misfired_trials, s.leaks, s.pid_reused),
            (3, 2, 3, 2)
        );
        // Only the two real stops are in the death histogram; every stop
        // that ran (not the error) has a completion.
        assert_eq!(s.latency_us.len(), 2);
        assert_eq!(s.completion_us.len(), 3);
        assert_eq!(s.censored, 0);
        assert!(s.latency_at(0.0).unwrap().value() >= Duration::from_millis(5));
        assert!(s.latency_max().unwrap().value() >= Duration::from_millis(2000));
        assert_eq!(s.misfire_rate().0, 0.5);
        // Two trials had a window of 3 ms.
        assert_eq!(s.race_window_us.len(), 2);
        let w = s.window_at(0.5).unwrap();
        assert!(w >= Duration::from_millis(3) && w < Duration::from_micros(3010));
        // A stop whose tree never died is censored, not timed.
        let mut leaked = trial(Outcome::Exited, 5000, 0, false);
        leaked.latency = None;
        r.record(&leaked.tally());
        assert_eq!(r.strategies[0].censored, 1);
        assert_eq!(r.strategies[0].latency_us.len(), 2);
        // ...and it is the slowest stop: above its completion, 5 s.
        assert_eq!(
            r.strategies[0].latency_max(),
            Some(Tail::Above(Duration::from_millis(5000)))
        );
        assert!(r.strategies[0]
            .latency_at(0.5)
            .unwrap()
            .measured()
            .is_some());
    }
}
