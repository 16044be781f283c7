//! How each trial ended, compared: a run where 8% of stops waited out the
//! whole timeout and left a process behind is worse even when its finished
//! stops were as fast. Every count that marks a stop gone wrong (killed,
//! survived, error, eperm, censored, a leak) is compared with Fisher's exact
//! test, which holds for the small counts these are; the p-values join the
//! same Holm family as the latency tests (see mod.rs).

use super::{Verdict, ALPHA};
use crate::figures::thousands;
use crate::measure::significance::fisher_exact;
use crate::measure::StrategyStats;

/// The counts compared, each a number of trials.
pub const KINDS: [&str; 6] = ["killed", "survived", "error", "eperm", "censored", "leak"];

fn count(s: &StrategyStats, kind: &str) -> u64 {
    match kind {
        "killed" => s.killed,
        "survived" => s.survived,
        "error" => s.errors,
        "eperm" => s.eperm,
        "censored" => s.censored,
        "leak" => s.leaked_trials,
        _ => unreachable!("a kind of KINDS"),
    }
}

/// One count's change between two runs of a strategy.
#[derive(Debug, Clone)]
pub struct OutcomeChange {
    pub kind: &'static str,
    /// `(trials with it, trials)`, old then new.
    pub old: (u64, u64),
    pub new: (u64, u64),
    /// Holm-adjusted.
    pub p: f64,
    pub verdict: Verdict,
}

/// Fisher's exact test of `k0` of `n0` against `k1` of `n1`, or `None`
/// where it cannot reject anything: with every trial on one side of the
/// count (none has it, or all have it) the table's margins leave one
/// possible table. Leaving such a test out of the Holm family keeps the
/// family's power for the tests that can find something.
pub fn informative_fisher(k0: u64, n0: u64, k1: u64, n1: u64) -> Option<f64> {
    let (k, n) = (k0 + k1, n0 + n1);
    (k > 0 && k < n).then(|| fisher_exact(k0, n0, k1, n1))
}

/// The raw (unadjusted) p-values, in [`KINDS`] order (see
/// [`informative_fisher`] for `None`).
pub fn raw(o: &StrategyStats, n: &StrategyStats) -> Vec<Option<f64>> {
    KINDS
        .iter()
        .map(|k| informative_fisher(count(o, k), o.trials, count(n, k), n.trials))
        .collect()
}

/// The changes, from the adjusted p-values in [`KINDS`] order.
pub fn changes(o: &StrategyStats, n: &StrategyStats, adjusted: &[f64]) -> Vec<OutcomeChange> {
    KINDS
        .iter()
        .zip(adjusted)
        .map(|(&kind, &p)| {
            let (old, new) = ((count(o, kind), o.trials), (count(n, kind), n.trials));
            let share = |(k, t): (u64, u64)| k as f64 / t.max(1) as f64;
            let verdict = if o.trials == 0 || n.trials == 0 {
                Verdict::Incomparable
            } else if p >= ALPHA {
                Verdict::NoChange
            } else if share(new) > share(old) {
                Verdict::Worse
            } else {
                Verdict::Better
            };
            OutcomeChange {
                kind,
                old,
                new,
                p,
                verdict,
            }
        })
        .collect()
}

/// "killed 0/200 → 16/200: more (p < 0.001)", for the counts that are not
/// zero on both sides; "none went wrong" when all are.
pub fn words(changes: &[OutcomeChange]) -> String {
    let parts: Vec<String> = changes
        .iter()
        .filter(|c| c.old.0 > 0 || c.new.0 > 0)
        .map(|c| {
            let p = crate::figures::p_value(c.p);
            format!(
                "{} {}/{} → {}/{}: {} ({p})",
                c.kind,
                thousands(c.old.0),
                thousands(c.old.1),
                thousands(c.new.0),
                thousands(c.new.1),
                c.verdict.words("fewer", "more"),
            )
        })
        .collect();
    if parts.is_empty() {
        "no trial killed, survived, failed, refused, censored or leaking".into()
    } else {
        parts.join("; ")
    }
}
