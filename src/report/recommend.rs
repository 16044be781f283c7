//! Choosing the strategy to recommend, from the data. The rules, in order:
//! a clean strategy (no misfire, survivor, leak, error or refused signal, and
//! at least one stop of a live victim whose whole tree died) beats any other;
//! then fewer trials with misfires; then fewer survivors; then fewer leaked
//! processes; then fewer errors and refused signals; then a strategy that
//! stopped a live victim at all; then the lower p99 latency (the tree's
//! death), then the lower p99 completion.

use crate::measure::{StrategyStats, Tail};
use std::cmp::Ordering;
use std::time::Duration;

/// Sort key; lower is better.
#[allow(clippy::type_complexity)]
fn key(s: &StrategyStats) -> (bool, f64, f64, f64, f64, bool, Tail, Duration) {
    let per_trial = |n: u64| {
        if s.trials == 0 {
            0.0
        } else {
            n as f64 / s.trials as f64
        }
    };
    (
        !is_clean(s),
        per_trial(s.misfired_trials),
        per_trial(s.survived),
        per_trial(s.leaks),
        per_trial(s.errors + s.eperm),
        s.latency_us.is_empty(),
        // The honest tail: a p99 among censored stops ranks after every
        // measured one (see measure::survival).
        s.latency_at(0.99).unwrap_or(Tail::Above(Duration::MAX)),
        s.completion_at(0.99).unwrap_or(Duration::MAX),
    )
}

fn compare(a: &StrategyStats, b: &StrategyStats) -> Ordering {
    key(a).partial_cmp(&key(b)).unwrap_or(Ordering::Equal)
}

/// Indices of `stats` (strategies with trials), best first.
pub fn rank(stats: &[StrategyStats]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..stats.len()).filter(|&i| stats[i].trials > 0).collect();
    order.sort_by(|&a, &b| compare(&stats[a], &stats[b]));
    order
}

/// Whether a strategy stopped every victim's whole tree without hitting
/// anything else, failing, or leaving anything behind, and stopped at least
/// one live victim (a run of crashed or failing victims proves nothing).
pub fn is_clean(s: &StrategyStats) -> bool {
    s.trials > 0
        && s.misfires == 0
        && s.survived == 0
        && s.leaks == 0
        && s.errors == 0
        && s.eperm == 0
        && !s.latency_us.is_empty()
}

/// Why a strategy is not clean, in words; empty when it is.
pub fn faults(s: &StrategyStats) -> Vec<String> {
    let mut why = Vec::new();
    let mut count = |n: u64, one: &str, many: &str| {
        if n > 0 {
            why.push(format!("{n} {}", if n == 1 { one } else { many }));
        }
    };
    count(
        s.misfired_trials,
        "trial with misfires",
        "trials with misfires",
    );
    count(s.survived, "survivor", "survivors");
    count(s.leaks, "leaked process", "leaked processes");
    count(s.errors, "error", "errors");
    count(s.eperm, "refused signal (EPERM)", "refused signals (EPERM)");
    if s.trials > 0 && s.latency_us.is_empty() {
        why.push("no stop of a live victim whose whole tree died".into());
    }
    why
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measure::{Outcome, Recorder, TrialTally};
    use Outcome::{Error, Exited, Killed, Survived};

    /// A strategy's stats from `(outcome, latency ms, misfires, leaks)`
    /// trials; as a trial is recorded, latency 0 means no stop was timed
    /// (the victim was gone before it), and a leak censors the death.
    fn stats(name: &str, trials: &[(Outcome, u64, u64, u64)]) -> StrategyStats {
        let mut r = Recorder::new(&[name.to_string()]);
        for &(outcome, ms, misfires, leaks) in trials {
            let stopped = matches!(outcome, Exited | Killed) && leaks == 0 && ms > 0;
            r.record(&TrialTally {
                strategy: name,
                outcome,
                latency_us: stopped.then_some(ms * 1000),
                completion_us: ms * 1000,
                misfires,
                victim_signals: 0,
                leaks,
                pid_reused: false,
                race_window_us: None,
                exposure_us: None,
                follow_us: None,
                cpu: None,
            });
        }
        r.strategies.pop().unwrap()
    }

    /// `(outcome, ms, misfires, leaks)` per trial.
    type Trials = &'static [(Outcome, u64, u64, u64)];
    /// A rule: its name, the two strategies, the expected winner.
    type Rule = (
        &'static str,
        (&'static str, Trials),
        (&'static str, Trials),
        &'static str,
    );

    #[test]
    fn ordering_rules() {
        let cases: [Rule; 9] = [
            (
                "no misfires beats a faster strategy with misfires",
                ("fast-misfiring", &[(Exited, 1, 1, 0)]),
                ("slow-clean", &[(Killed, 2000, 0, 0)]),
                "slow-clean",
            ),
            (
                "no survivors beats a strategy that leaves the victim alive",
                ("survivor", &[(Survived, 1, 0, 0)]),
                ("killer", &[(Killed, 2000, 0, 0)]),
                "killer",
            ),
            (
                "fewer misfiring trials first among misfiring ones",
                ("always", &[(Exited, 1, 1, 0), (Exited, 1, 1, 0)]),
                ("sometimes", &[(Exited, 1, 3, 0), (Exited, 1, 0, 0)]),
                "sometimes",
            ),
            (
                "leaks break a tie between clean strategies",
                ("leaky", &[(Exited, 1, 0, 2)]),
                ("tidy", &[(Exited, 5, 0, 0)]),
                "tidy",
            ),
            (
                "errors count after leaks",
                ("erring", &[(Exited, 1, 0, 0), (Error, 0, 0, 0)]),
                ("steady", &[(Exited, 9, 0, 0)]),
                "steady",
            ),
            (
                "a strategy whose victims were all gone before the stop never wins",
                ("stopped-nothing", &[(Exited, 0, 0, 0), (Exited, 0, 0, 0)]),
                ("stopped-a-live-one", &[(Killed, 2000, 0, 0)]),
                "stopped-a-live-one",
            ),
            (
                "all errors never win over a slow clean stop",
                ("failing", &[(Error, 0, 0, 0)]),
                ("slow", &[(Killed, 2000, 0, 0)]),
                "slow",
            ),
            (
                "a leak loses to a slower strategy without",
                ("fast-leaky", &[(Exited, 1, 0, 1)]),
                ("slow-tidy", &[(Killed, 2000, 0, 0)]),
                "slow-tidy",
            ),
            (
                "otherwise the lower p99 wins",
                ("slow", &[(Exited, 50, 0, 0)]),
                ("quick", &[(Exited, 5, 0, 0)]),
                "quick",
            ),
        ];
        for (case, (a, a_trials), (b, b_trials), winner) in cases {
            let list = vec![stats(a, a_trials), stats(b, b_trials)];
            let got: Vec<&str> = rank(&list)
                .into_iter()
                .map(|i| list[i].strategy.as_str())
                .collect();
            let loser = if winner == a { b } else { a };
            assert_eq!(got, vec![winner, loser], "{case}");
        }
    }

    /// Whatever the numbers, a clean strategy is never ranked below one with
    /// misfires or survivors.
    #[test]
    fn clean_strategies_always_rank_first() {
        let shapes: [&[(Outcome, u64, u64, u64)]; 6] = [
            &[(Exited, 1, 0, 0)],
            &[(Killed, 3000, 0, 5)],
            &[(Exited, 1, 1, 0)],
            &[(Survived, 2, 0, 0)],
            &[(Exited, 1, 0, 0), (Error, 0, 0, 0)],
            &[(Killed, 1, 7, 0), (Survived, 1, 0, 0)],
        ];
        let list: Vec<StrategyStats> = shapes
            .iter()
            .enumerate()
            .map(|(i, t)| stats(&format!("s{i}"), t))
            .collect();
        let order = rank(&list);
        let first_dirty = order.iter().position(|&i| !is_clean(&list[i])).unwrap();
        assert!(
            order[first_dirty..].iter().all(|&i| !is_clean(&list[i])),
            "{order:?}"
        );
        assert_eq!(order.len(), 6);
    }
}
