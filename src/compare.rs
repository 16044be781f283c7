//! `stopbench compare OLD NEW`: what changed between two runs of a scenario,
//! per strategy, and whether the change is beyond noise, the way criterion
//! compares against a baseline. The median latency (and the stop's
//! completion): Mann–Whitney U on the trials' latencies plus a noise
//! threshold; the tail (p99): a bootstrap of its change plus a threshold of
//! its own; misfires: Fisher's exact test on the trials with a misfire,
//! which stays true for the rare counts misfires are. All p-values of one
//! comparison are adjusted together (Holm), so comparing many strategies
//! finds no change by chance; `--fail-on` gates on the adjusted verdicts.

use crate::figures::{duration, thousands};
use crate::measure::significance::{bootstrap_quantile_shift, fisher_exact, holm, QuantileShift};
use crate::measure::stats::mann_whitney;
use crate::measure::StrategyStats;
use crate::results::{LoadError, RunResults};
use std::fmt::Write;
use std::path::Path;
use std::time::Duration;

/// Significance level of both tests.
pub const ALPHA: f64 = 0.05;

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
    fn words(self, better: &str, worse: &str) -> String {
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
    pub p50: (Option<Duration>, Option<Duration>),
    pub p99: (Option<Duration>, Option<Duration>),
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
#[derive(Debug, Clone, Copy)]
pub struct Noise {
    pub median: f64,
    pub tail: f64,
}

/// One strategy's raw tests, in the order [`holm`] adjusts their p-values.
struct Raw {
    latency: Option<f64>,
    tail: Option<QuantileShift>,
    completion: Option<f64>,
    misfires: f64,
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
    let (a, b) = (of(&old.death, &o.strategy), of(&new.death, &n.strategy));
    Raw {
        latency: mann_whitney(&a, &b).map(|r| r.0),
        tail: bootstrap_quantile_shift(&a, &b, 0.99),
        completion: mann_whitney(
            &of(&old.completion, &o.strategy),
            &of(&new.completion, &n.strategy),
        )
        .map(|r| r.0),
        misfires: fisher_exact(o.misfired_trials, o.trials, n.misfired_trials, n.trials),
    }
}

pub fn compare(old_dir: &Path, new_dir: &Path, noise: Noise) -> Result<Comparison, CompareError> {
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
                Some(r.misfires),
            ]
        })
        .flatten()
        .collect();
    let mut adjusted = holm(&flat).into_iter();
    let mut next = |p: Option<f64>| p.map(|_| adjusted.next().expect("one per test"));
    let strategies = pairs
        .iter()
        .zip(&raw)
        .map(|((o, n), r)| {
            let p = (
                next(r.latency),
                next(r.tail.as_ref().map(|q| q.p)),
                next(r.completion),
                next(Some(r.misfires)).unwrap_or(1.0),
            );
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
        strategies,
        unmatched,
        across_systemd,
    })
}

/// One strategy's change, from its adjusted p-values (median, p99,
/// completion, misfires) and the bootstrap interval of the p99's change.
fn strategy_change(
    o: &StrategyStats,
    n: &StrategyStats,
    p: (Option<f64>, Option<f64>, Option<f64>, f64),
    p99_interval: Option<(f64, f64)>,
    noise: Noise,
) -> StrategyChange {
    let p50 = (o.latency_at(0.5), n.latency_at(0.5));
    let p99 = (o.latency_at(0.99), n.latency_at(0.99));
    let completion_p50 = (o.completion_at(0.5), n.completion_at(0.5));
    let (r0, r1) = (o.misfire_rate().0, n.misfire_rate().0);
    let misfires = if o.trials == 0 || n.trials == 0 {
        Verdict::Incomparable
    } else if p.3 >= ALPHA {
        Verdict::NoChange
    } else if r1 < r0 {
        Verdict::Better
    } else {
        Verdict::Worse
    };
    StrategyChange {
        strategy: n.strategy.clone(),
        p50,
        p99,
        latency_p: p.0,
        latency: verdict(p.0, p50, noise.median),
        p99_interval,
        p99_p: p.1,
        tail: verdict(p.1, p99, noise.tail),
        completion_p50,
        completion_p: p.2,
        completion: verdict(p.2, completion_p50, noise.median),
        misfire_rate: (r0, r1),
        misfire_trials: ((o.misfired_trials, o.trials), (n.misfired_trials, n.trials)),
        misfire_p: p.3,
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

fn change(old: Option<Duration>, new: Option<Duration>) -> String {
    match (old, new) {
        (Some(a), Some(b)) => {
            let rel = (b.as_secs_f64() - a.as_secs_f64()) / a.as_secs_f64().max(1e-9) * 100.0;
            format!("{} → {} ({rel:+.1}%)", duration(a), duration(b))
        }
        _ => "–".into(),
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
    /// A slower completion (what a deploy waits for).
    Completion,
}

impl Gate {
    pub const ALL: [Gate; 4] = [Gate::Misfire, Gate::P50, Gate::P99, Gate::Completion];

    pub fn name(self) -> &'static str {
        match self {
            Gate::Misfire => "misfire",
            Gate::P50 => "p50",
            Gate::P99 => "p99",
            Gate::Completion => "completion",
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
                        "`{word}` is not a gate: use `regression` or a list of misfire, p50, p99, completion"
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
                let (verdict, what) = match gate {
                    Gate::Misfire => (s.misfires, "more trials with a misfire"),
                    Gate::P50 => (s.latency, "median stop slower"),
                    Gate::P99 => (s.tail, "p99 stop slower"),
                    Gate::Completion => (s.completion, "completion slower"),
                };
                if verdict == Verdict::Worse {
                    found.push(format!("{}: {what} ({})", s.strategy, gate.name()));
                }
            }
        }
        found
    }

    /// "no significant change" when nothing moved beyond noise.
    pub fn headline(&self) -> String {
        let moved = |v: Verdict, up: &str, down: &str| match v {
            Verdict::Better => Some(up.to_string()),
            Verdict::Worse => Some(down.to_string()),
            _ => None,
        };
        let mut changed: Vec<String> = Vec::new();
        for s in &self.strategies {
            if let Some(w) = moved(s.latency, "improved", "regressed") {
                changed.push(format!("{} latency {w}", s.strategy));
            }
            if let Some(w) = moved(s.misfires, "fell", "rose") {
                changed.push(format!("{} misfires {w}", s.strategy));
            }
        }
        for s in &self.strategies {
            if let Some(w) = moved(s.completion, "improved", "regressed") {
                changed.push(format!("{} completion {w}", s.strategy));
            }
        }
        for s in &self.strategies {
            if let Some(w) = moved(s.tail, "improved", "regressed") {
                changed.push(format!("{} p99 {w}", s.strategy));
            }
        }
        if changed.is_empty() {
            "no significant change".into()
        } else {
            format!("significant change: {}", changed.join("; "))
        }
    }

    fn rows(&self) -> Vec<[String; 6]> {
        self.strategies
            .iter()
            .map(|s| {
                let lat = s.latency.words("faster", "slower");
                let lat = match s.latency_p {
                    Some(p) => format!("{lat} (p = {p:.3})"),
                    None => lat,
                };
                let ((k0, n0), (k1, n1)) = s.misfire_trials;
                let tail = s.tail.words("tail faster", "tail slower");
                let tail = match (s.p99_p, s.p99_interval) {
                    // 2,000 resamples resolve p down to 0.001, no further.
                    (Some(p), Some((lo, hi))) => format!(
                        "{} {tail} ({}; change 95%: {:+.2} to {:+.2} ms)",
                        change(s.p99.0, s.p99.1),
                        if p < 0.001 {
                            "p < 0.001".to_string()
                        } else {
                            format!("p = {p:.3}")
                        },
                        lo / 1000.0,
                        hi / 1000.0
                    ),
                    _ => change(s.p99.0, s.p99.1),
                };
                let mis = format!(
                    "{}/{} → {}/{}: {} (p = {:.3})",
                    thousands(k0),
                    thousands(n0),
                    thousands(k1),
                    thousands(n1),
                    s.misfires.words("fewer misfires", "more misfires"),
                    s.misfire_p
                );
                let done = s.completion.words("faster", "slower");
                let done = format!(
                    "{} {}",
                    change(s.completion_p50.0, s.completion_p50.1),
                    match s.completion_p {
                        Some(p) => format!("{done} (p = {p:.3})"),
                        None => done,
                    }
                );
                [
                    s.strategy.clone(),
                    change(s.p50.0, s.p50.1),
                    tail,
                    lat,
                    mis,
                    done,
                ]
            })
            .collect()
    }

    pub fn terminal(&self) -> String {
        let mut out = format!("{}: {}\n", self.scenario, self.headline());
        if let Some((old, new)) = &self.across_systemd {
            let _ = writeln!(out, "  systemd: old {old}; new {new}");
        }
        for r in self.rows() {
            let _ = writeln!(
                out,
                "  {}\n    p50 {}   p99 {}\n    latency: {}\n    misfired trials: {}\n    completion p50: {}",
                r[0], r[1], r[2], r[3], r[4], r[5]
            );
        }
        for u in &self.unmatched {
            let _ = writeln!(out, "  {u}: only in one of the runs");
        }
        out
    }

    pub fn markdown(&self) -> String {
        let mut out = format!(
            "# stopbench compare: {}\n\nOld: `{}`  \nNew: `{}`\n\n**{}** (Mann–Whitney U on latencies, a bootstrap of the p99's change, Fisher's exact test on misfired trials; the {} p-values Holm-adjusted together, α = {ALPHA}; changes under {:.0}% of the median, or {:.0}% of the p99, count as noise).\n\n",
            self.scenario,
            self.old,
            self.new,
            self.headline(),
            self.tests,
            self.noise * 100.0,
            self.tail_noise * 100.0
        );
        if let Some((old, new)) = &self.across_systemd {
            let _ = writeln!(
                out,
                "The two runs differ only in the systemd they ran under: old {old}; new {new}.\n"
            );
        }
        out.push_str("| strategy | p50 | p99 | latency | misfired trials | completion p50 |\n| --- | --- | --- | --- | --- | --- |\n");
        for r in self.rows() {
            let _ = writeln!(out, "| {} |", r.join(" | "));
        }
        for u in &self.unmatched {
            let _ = writeln!(out, "\n`{u}` is only in one of the runs.");
        }
        out
    }
}
