//! `stopbench compare OLD NEW`: what changed between two runs of a scenario,
//! per strategy, and whether the change is beyond noise, the way criterion
//! compares against a baseline. The median latency (and the stop's
//! completion): Mann–Whitney U on the trials' latencies plus a noise
//! threshold; the tail (p99): a bootstrap of its change plus a threshold of
//! its own; misfires: Fisher's exact test on the trials with a misfire,
//! which stays true for the rare counts misfires are; how trials ended
//! (killed, survived, error, eperm, censored, leak): Fisher's test on each
//! count (outcomes.rs). All p-values of one comparison are adjusted together
//! (Holm), so comparing many strategies finds no change by chance;
//! `--fail-on` gates on the adjusted verdicts.
//!
//! Censored stops (the tree did not die in the trial) are never dropped:
//! the tests rank them above every finished stop (Gehan's rule for censored
//! data), and a quantile among them is only a bound ("> C"), so a p99 that
//! moves from a measured value to a bound is a regression.

pub mod calibration;
pub mod outcomes;
mod print;

use crate::measure::significance::{bootstrap_quantile_shift, holm, QuantileShift};
use crate::measure::stats::mann_whitney;
use crate::measure::{survival, StrategyStats, Tail};
use crate::results::{LoadError, RunResults};
use std::path::Path;
use std::time::Duration;

/// Significance level of both tests.
pub const ALPHA: f64 = 0.05;

/// Two quantiles that are both bounds ("> C") differ when their censoring
/// times differ by more than this share (see `tail_verdict`).
pub const BOUND_NOISE: f64 = 0.1;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    NoChange,
    /// Statistically significant but smaller than the noise threshold.
    WithinNoise,
    Better,
    Worse,
    /// One side has no data.
    Incomparable,
}

impl Verdict {
    pub(crate) fn words(self, better: &str, worse: &str) -> String {
        match self {
            Verdict::NoChange => "no significant change".into(),
            Verdict::WithinNoise => "change within noise".into(),
            Verdict::Better => better.into(),
            Verdict::Worse => worse.into(),
            Verdict::Incomparable => "not comparable (no data on one side)".into(),
        }
    }

    pub fn changed(self) -> bool {
        matches!(self, Verdict::Better | Verdict::Worse)
    }
}

pub struct StrategyChange {
    pub strategy: String,
    /// The thresholds this strategy was judged by (calibrated or fixed).
    pub noise: Noise,
    pub p50: (Option<Tail>, Option<Tail>),
    pub p99: (Option<Tail>, Option<Tail>),
    pub latency_p: Option<f64>,
    pub latency: Verdict,
    /// The p99's change, bootstrapped: its 95% interval (µs) and p-value.
    pub p99_interval: Option<(f64, f64)>,
    pub p99_p: Option<f64>,
    pub tail: Verdict,
    /// The stop's completion (what a deploy waits for), compared likewise.
    pub completion_p50: (Option<Duration>, Option<Duration>),
    pub completion_p: Option<f64>,
    pub completion: Verdict,
    /// The completion's p99, compared as the death's p99 is.
    pub completion_p99: (Option<Duration>, Option<Duration>),
    pub completion_p99_p: Option<f64>,
    pub completion_tail: Verdict,
    /// How trials ended, each count compared.
    pub outcomes: Vec<outcomes::OutcomeChange>,
    pub misfire_rate: (f64, f64),
    pub misfire_trials: ((u64, u64), (u64, u64)),
    pub misfire_p: f64,
    pub misfires: Verdict,
}

pub struct Comparison {
    pub scenario: String,
    pub old: String,
    pub new: String,
    pub noise: f64,
    pub tail_noise: f64,
    /// How many tests the p-values were adjusted for (Holm).
    pub tests: usize,
    /// How many saved baseline runs set the thresholds (0: the fixed ones).
    pub calibrated_from: usize,
    pub strategies: Vec<StrategyChange>,
    /// Strategies in only one of the runs.
    pub unmatched: Vec<String>,
    /// For runs of one configuration under two systemd roots: each run's
    /// root and systemd, old then new.
    pub across_systemd: Option<(String, String)>,
}

#[derive(Debug, thiserror::Error)]
pub enum CompareError {
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error("the runs are of different scenarios (`{0}` and `{1}`); compare runs of one scenario")]
    DifferentScenarios(String, String),
}

/// The thresholds below which a significant change is noise: a share of
/// the median, and of the p99 (the tail moves more between runs).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Noise {
    pub median: f64,
    pub tail: f64,
}

/// One strategy's raw tests, in the order [`holm`] adjusts their p-values.
struct Raw {
    latency: Option<f64>,
    tail: Option<QuantileShift>,
    completion: Option<f64>,
    completion_tail: Option<QuantileShift>,
    misfires: Option<f64>,
    outcomes: Vec<Option<f64>>,
}

type Samples = std::collections::BTreeMap<String, Vec<u64>>;

/// The tests of one strategy's two runs, unadjusted.
fn raw_tests(
    (o, n): (&StrategyStats, &StrategyStats),
    old: &crate::results::LatencySamples,
    new: &crate::results::LatencySamples,
) -> Raw {
    let empty = Vec::new();
    let of = |all: &'_ Samples, s: &str| -> Vec<u64> { all.get(s).unwrap_or(&empty).clone() };
    let death = |all: &crate::results::LatencySamples, s: &str| -> Vec<u64> {
        let censored = all.death_censored.get(s).unwrap_or(&empty);
        survival::ranked_sample(of(&all.death, s), censored)
    };
    let (a, b) = (death(old, &o.strategy), death(new, &n.strategy));
    let (ca, cb) = (
        of(&old.completion, &o.strategy),
        of(&new.completion, &n.strategy),
    );
    Raw {
        latency: mann_whitney(&a, &b).map(|r| r.0),
        tail: bootstrap_quantile_shift(&a, &b, 0.99),
        completion: mann_whitney(&ca, &cb).map(|r| r.0),
        completion_tail: bootstrap_quantile_shift(&ca, &cb, 0.99),
        misfires: outcomes::informative_fisher(
            o.misfired_trials,
            o.trials,
            n.misfired_trials,
            n.trials,
        ),
        outcomes: outcomes::raw(o, n),
    }
}

/// Compares `new_dir` with `old_dir`, each strategy's latency judged by
/// `calibration` where it has the strategy, else by `noise`.
pub fn compare(
    old_dir: &Path,
    new_dir: &Path,
    noise: Noise,
    calibration: &calibration::Calibration,
) -> Result<Comparison, CompareError> {
    let (old, new) = (RunResults::load(old_dir)?, RunResults::load(new_dir)?);
    let across_systemd = systemd_generations(&old, &new);
    if old.name() != new.name() && across_systemd.is_none() {
        return Err(CompareError::DifferentScenarios(
            old.name().into(),
            new.name().into(),
        ));
    }
    let (old_lat, new_lat) = (
        RunResults::latency_samples(old_dir)?,
        RunResults::latency_samples(new_dir)?,
    );
    let mut pairs = Vec::new();
    let mut unmatched = Vec::new();
    for n in &new.stats {
        match old.stats.iter().find(|o| o.strategy == n.strategy) {
            Some(o) => pairs.push((o, n)),
            None => unmatched.push(n.strategy.clone()),
        }
    }
    let raw: Vec<Raw> = pairs
        .iter()
        .map(|&(o, n)| raw_tests((o, n), &old_lat, &new_lat))
        .collect();
    let flat: Vec<f64> = raw
        .iter()
        .flat_map(|r| {
            [
                r.latency,
                r.tail.as_ref().map(|q| q.p),
                r.completion,
                r.completion_tail.as_ref().map(|q| q.p),
                r.misfires,
            ]
            .into_iter()
            .chain(r.outcomes.iter().copied())
        })
        .flatten()
        .collect();
    let mut adjusted = holm(&flat).into_iter();
    let mut next = |p: Option<f64>| p.map(|_| adjusted.next().expect("one per test"));
    let strategies = pairs
        .iter()
        .zip(&raw)
        .map(|((o, n), r)| {
            let p = Adjusted {
                latency: next(r.latency),
                tail: next(r.tail.as_ref().map(|q| q.p)),
                completion: next(r.completion),
                completion_tail: next(r.completion_tail.as_ref().map(|q| q.p)),
                misfires: next(r.misfires).unwrap_or(1.0),
                outcomes: (r.outcomes.iter())
                    .map(|&p| next(p).unwrap_or(1.0))
                    .collect(),
            };
            let noise = calibration.for_strategy(&n.strategy, noise);
            strategy_change(o, n, p, r.tail.as_ref().map(|q| q.interval), noise)
        })
        .collect();
    unmatched.extend(
        old.stats
            .iter()
            .filter(|o| !new.stats.iter().any(|n| n.strategy == o.strategy))
            .map(|o| o.strategy.clone()),
    );
    Ok(Comparison {
        scenario: new.name().to_string(),
        old: old_dir.display().to_string(),
        new: new_dir.display().to_string(),
        noise: noise.median,
        tail_noise: noise.tail,
        tests: flat.len(),
        calibrated_from: calibration.runs,
        strategies,
        unmatched,
        across_systemd,
    })
}

/// One strategy's Holm-adjusted p-values.
struct Adjusted {
    latency: Option<f64>,
    tail: Option<f64>,
    completion: Option<f64>,
    completion_tail: Option<f64>,
    misfires: f64,
    outcomes: Vec<f64>,
}

/// One strategy's change, from its adjusted p-values and the bootstrap
/// interval of the p99's change.
fn strategy_change(
    o: &StrategyStats,
    n: &StrategyStats,
    p: Adjusted,
    p99_interval: Option<(f64, f64)>,
    noise: Noise,
) -> StrategyChange {
    let p50 = (o.latency_at(0.5), n.latency_at(0.5));
    let p99 = (o.latency_at(0.99), n.latency_at(0.99));
    let completion_p50 = (o.completion_at(0.5), n.completion_at(0.5));
    let completion_p99 = (o.completion_at(0.99), n.completion_at(0.99));
    let (r0, r1) = (o.misfire_rate().0, n.misfire_rate().0);
    let misfires = if o.trials == 0 || n.trials == 0 {
        Verdict::Incomparable
    } else if p.misfires >= ALPHA {
        Verdict::NoChange
    } else if r1 < r0 {
        Verdict::Better
    } else {
        Verdict::Worse
    };
    StrategyChange {
        strategy: n.strategy.clone(),
        noise,
        p50,
        p99,
        latency_p: p.latency,
        latency: tail_verdict(p.latency, p50, noise.median),
        // The interval of a shift to or from a bound says nothing.
        p99_interval: p99_interval
            .filter(|_| ![p99.0, p99.1].into_iter().flatten().any(Tail::is_bound)),
        p99_p: p.tail,
        tail: tail_verdict(p.tail, p99, noise.tail),
        completion_p50,
        completion_p: p.completion,
        completion: verdict(p.completion, completion_p50, noise.median),
        completion_p99,
        completion_p99_p: p.completion_tail,
        completion_tail: verdict(p.completion_tail, completion_p99, noise.tail),
        outcomes: outcomes::changes(o, n, &p.outcomes),
        misfire_rate: (r0, r1),
        misfire_trials: ((o.misfired_trials, o.trials), (n.misfired_trials, n.trials)),
        misfire_p: p.misfires,
        misfires,
    }
}

/// Runs of the same configuration under two systemd roots (scenarios that
/// differ only in name, description and `sandbox.systemd_root`): each run's
/// root and the systemd it booted. `None` for anything else.
fn systemd_generations(old: &RunResults, new: &RunResults) -> Option<(String, String)> {
    let (a, b) = (&old.meta.scenario, &new.meta.scenario);
    if a.sandbox.systemd_root == b.sandbox.systemd_root {
        return None;
    }
    let comparable = |s: &crate::scenario::Scenario| {
        let mut s = s.clone();
        s.name = crate::scenario::ScenarioName("run".into());
        s.description.clear();
        s.sandbox.systemd_root = Default::default();
        toml::to_string(&s).ok()
    };
    if comparable(a)? != comparable(b)? {
        return None;
    }
    let describe = |r: &RunResults| {
        let version = r
            .meta
            .systemd_sandbox()
            .and_then(|s| s.systemd_version.clone())
            .unwrap_or_else(|| "systemd version not recorded".into());
        format!(
            "`{}` root, {version}",
            r.meta.scenario.sandbox.systemd_root.name()
        )
    };
    Some((describe(old), describe(new)))
}

/// Whether a figure moved: its adjusted p-value, then its relative change
/// against the noise threshold.
fn verdict(p: Option<f64>, (m0, m1): (Option<Duration>, Option<Duration>), noise: f64) -> Verdict {
    match (p, m0, m1) {
        (Some(p), Some(m0), Some(m1)) => {
            let rel = (m1.as_secs_f64() - m0.as_secs_f64()) / m0.as_secs_f64().max(1e-9);
            if p >= ALPHA {
                Verdict::NoChange
            } else if rel.abs() < noise {
                Verdict::WithinNoise
            } else if rel < 0.0 {
                Verdict::Better
            } else {
                Verdict::Worse
            }
        }
        _ => Verdict::Incomparable,
    }
}

/// [`verdict`] for a quantile that may be a bound: a measured quantile that
/// becomes a bound is worse (a stop that never finished is the slowest
/// stop), the reverse better, whatever the test says.
fn tail_verdict(p: Option<f64>, (a, b): (Option<Tail>, Option<Tail>), noise: f64) -> Verdict {
    match (a, b) {
        (Some(Tail::Measured(_)), Some(Tail::Above(_))) => Verdict::Worse,
        (Some(Tail::Above(_)), Some(Tail::Measured(_))) => Verdict::Better,
        // Two bounds are two censoring times: the watch a stop was given
        // (its timeout), set by the configuration, not by the machine's
        // drift, so the fixed share [`BOUND_NOISE`] is their noise.
        (Some(Tail::Above(x)), Some(Tail::Above(y))) => verdict(p, (Some(x), Some(y)), BOUND_NOISE),
        _ => verdict(p, (a.map(Tail::value), b.map(Tail::value)), noise),
    }
}

/// What `compare --fail-on` gates on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// More trials with a misfire.
    Misfire,
    /// A slower median stop (death of the tree).
    P50,
    /// A slower tail.
    P99,
    /// A slower completion (what a deploy waits for): its median or p99.
    Completion,
    /// More trials killed, survived, failed, refused, censored or leaking.
    Outcomes,
}

impl Gate {
    pub const ALL: [Gate; 5] = [
        Gate::Misfire,
        Gate::P50,
        Gate::P99,
        Gate::Completion,
        Gate::Outcomes,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Gate::Misfire => "misfire",
            Gate::P50 => "p50",
            Gate::P99 => "p99",
            Gate::Completion => "completion",
            Gate::Outcomes => "outcomes",
        }
    }

    /// `regression` (all of them) or a comma-separated list of names.
    pub fn parse_list(text: &str) -> Result<Vec<Gate>, String> {
        let mut gates = Vec::new();
        for word in text.split(',').map(str::trim) {
            if word == "regression" {
                gates.extend(Gate::ALL);
                continue;
            }
            let gate = Gate::ALL
                .into_iter()
                .find(|g| g.name() == word)
                .ok_or_else(|| {
                    format!(
                        "`{word}` is not a gate: use `regression` or a list of misfire, p50, p99, completion, outcomes"
                    )
                })?;
            gates.push(gate);
        }
        gates.dedup();
        Ok(gates)
    }
}

impl Comparison {
    /// The significant regressions among `gates`, as `strategy: what`.
    pub fn regressions(&self, gates: &[Gate]) -> Vec<String> {
        let mut found = Vec::new();
        for s in &self.strategies {
            for &gate in gates {
                let mut worse: Vec<String> = Vec::new();
                let mut check = |v: Verdict, what: &str| {
                    if v == Verdict::Worse {
                        worse.push(what.to_string());
                    }
                };
                match gate {
                    Gate::Misfire => check(s.misfires, "more trials with a misfire"),
                    Gate::P50 => check(s.latency, "median stop slower"),
                    Gate::P99 => check(s.tail, "p99 stop slower"),
                    Gate::Completion => {
                        check(s.completion, "completion slower");
                        check(s.completion_tail, "completion p99 slower");
                    }
                    Gate::Outcomes => {
                        for c in &s.outcomes {
                            check(
                                c.verdict,
                                &format!(
                                    "more {} trials ({}/{} → {}/{})",
                                    c.kind, c.old.0, c.old.1, c.new.0, c.new.1
                                ),
                            );
                        }
                    }
                }
                for what in worse {
                    found.push(format!("{}: {what} ({})", s.strategy, gate.name()));
                }
            }
        }
        found
    }
}
