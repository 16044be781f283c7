//! `stopbench compare OLD NEW`: what changed between two runs of a scenario,
//! per strategy, and whether the change is beyond noise, the way criterion
//! compares against a baseline. Latency: Mann–Whitney U on the trials'
//! latencies plus a noise threshold on the median; misfires: a test of two
//! proportions on the share of trials with a misfire.

use crate::figures::{duration, thousands};
use crate::measure::stats::{mann_whitney, two_proportions};
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

pub fn compare(old_dir: &Path, new_dir: &Path, noise: f64) -> Result<Comparison, CompareError> {
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
    let mut strategies = Vec::new();
    let mut unmatched = Vec::new();
    for n in &new.stats {
        let Some(o) = old.stats.iter().find(|o| o.strategy == n.strategy) else {
            unmatched.push(n.strategy.clone());
            continue;
        };
        let empty = Vec::new();
        let samples = |all: &std::collections::BTreeMap<String, Vec<u64>>, s: &str| {
            all.get(s).unwrap_or(&empty).clone()
        };
        let (p50_old, p50_new) = (o.latency_at(0.5), n.latency_at(0.5));
        let (latency_p, latency) = shift(
            &samples(&old_lat.death, &o.strategy),
            &samples(&new_lat.death, &n.strategy),
            (p50_old, p50_new),
            noise,
        );
        let completion_p50 = (o.completion_at(0.5), n.completion_at(0.5));
        let (completion_p, completion) = shift(
            &samples(&old_lat.completion, &o.strategy),
            &samples(&new_lat.completion, &n.strategy),
            completion_p50,
            noise,
        );
        let misfire_p = two_proportions(o.misfired_trials, o.trials, n.misfired_trials, n.trials);
        let (r0, r1) = (o.misfire_rate().0, n.misfire_rate().0);
        let misfires = if o.trials == 0 || n.trials == 0 {
            Verdict::Incomparable
        } else if misfire_p >= ALPHA {
            Verdict::NoChange
        } else if r1 < r0 {
            Verdict::Better
        } else {
            Verdict::Worse
        };
        strategies.push(StrategyChange {
            strategy: n.strategy.clone(),
            p50: (p50_old, p50_new),
            p99: (o.latency_at(0.99), n.latency_at(0.99)),
            latency_p,
            latency,
            completion_p50,
            completion_p,
            completion,
            misfire_rate: (r0, r1),
            misfire_trials: ((o.misfired_trials, o.trials), (n.misfired_trials, n.trials)),
            misfire_p,
            misfires,
        });
    }
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
        noise,
        strategies,
        unmatched,
        across_systemd,
    })
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

/// Whether the samples moved: Mann–Whitney U, then the medians' relative
/// change against the noise threshold.
fn shift(
    a: &[u64],
    b: &[u64],
    (m0, m1): (Option<Duration>, Option<Duration>),
    noise: f64,
) -> (Option<f64>, Verdict) {
    match (mann_whitney(a, b), m0, m1) {
        (Some((p, _)), Some(m0), Some(m1)) => {
            let rel = (m1.as_secs_f64() - m0.as_secs_f64()) / m0.as_secs_f64().max(1e-9);
            let verdict = if p >= ALPHA {
                Verdict::NoChange
            } else if rel.abs() < noise {
                Verdict::WithinNoise
            } else if rel < 0.0 {
                Verdict::Better
            } else {
                Verdict::Worse
            };
            (Some(p), verdict)
        }
        _ => (None, Verdict::Incomparable),
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

impl Comparison {
    /// "no significant change" when nothing moved beyond noise.
    pub fn headline(&self) -> String {
        let changed: Vec<String> = self
            .strategies
            .iter()
            .flat_map(|s| {
                let mut v = Vec::new();
                if s.latency.changed() {
                    v.push(format!(
                        "{} latency {}",
                        s.strategy,
                        if s.latency == Verdict::Better {
                            "improved"
                        } else {
                            "regressed"
                        }
                    ));
                }
                if s.misfires.changed() {
                    v.push(format!(
                        "{} misfires {}",
                        s.strategy,
                        if s.misfires == Verdict::Better {
                            "fell"
                        } else {
                            "rose"
                        }
                    ));
                }
                v
            })
            .chain(
                self.strategies
                    .iter()
                    .filter(|s| s.completion.changed())
                    .map(|s| {
                        format!(
                            "{} completion {}",
                            s.strategy,
                            if s.completion == Verdict::Better {
                                "improved"
                            } else {
                                "regressed"
                            }
                        )
                    }),
            )
            .collect();
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
                    change(s.p99.0, s.p99.1),
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
            "# stopbench compare: {}\n\nOld: `{}`  \nNew: `{}`\n\n**{}** (Mann–Whitney U on latencies and a two-proportion test on misfired trials, α = {ALPHA}; latency changes under {:.0}% of the median count as noise).\n\n",
            self.scenario,
            self.old,
            self.new,
            self.headline(),
            self.noise * 100.0
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
