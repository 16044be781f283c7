//! A trial's verdict as a pure function of what was observed, so every case
//! (a late child, a daemonized child, an exec failure, a helper error, EPERM,
//! a SIGSTOPped victim, a survivor) is settled in one place, the same for the
//! sandbox's trials and the real systemd's, and tested by tables.

use super::Outcome;
use crate::oracle::Cause;
use std::time::{Duration, Instant};

/// What one trial showed, as both trial runners observe it.
#[derive(Debug, Clone, Default)]
pub struct Observation {
    /// The stop request; every latency counts from it.
    pub requested: Option<Instant>,
    /// When the strategy returned: what `systemctl stop` or a deploy waits for.
    pub completed: Option<Instant>,
    /// The main process's end, and when the oracle saw it.
    pub main_end: Option<(Cause, Instant)>,
    /// The whole tree (main process and every descendant) was gone before
    /// the stop was requested.
    pub gone_before_stop: bool,
    /// The scenario's victim dies before its stop on purpose (`exit-early`).
    pub early_exit_expected: bool,
    /// When the last process of the tree died, if the whole tree died.
    pub tree_gone: Option<Instant>,
    /// Processes of the tree alive after the stop completed.
    pub leaks: u32,
    /// When the strategy began its final phase (final signal, ExecStopPost).
    pub final_phase_at: Option<Instant>,
    /// The strategy or one of its helpers failed, with the reason.
    pub strategy_error: Option<String>,
    /// A signal by number was refused with EPERM: the number now belongs to
    /// another user, so the signal did not land.
    pub eperm: bool,
}

/// How the trial is recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub outcome: Outcome,
    /// Stop request to the death of the whole tree; `None` when the tree did
    /// not die within the trial (censored) or there was no stop to time.
    pub death: Option<Duration>,
    /// Stop request to the strategy's return.
    pub completion: Duration,
    pub error: Option<String>,
}

pub fn verdict(o: &Observation) -> Verdict {
    let requested = o.requested;
    let since = |at: Instant| requested.map_or(Duration::ZERO, |r| at.saturating_duration_since(r));
    let completion = o.completed.map_or(Duration::ZERO, since);
    let verdict = |outcome, death, error| Verdict {
        outcome,
        death,
        completion,
        error,
    };
    if let Some(err) = &o.strategy_error {
        return verdict(Outcome::Error, None, Some(err.clone()));
    }
    if o.gone_before_stop {
        if o.early_exit_expected {
            // The scenario's crashed daemon: there was no stop to time.
            return verdict(Outcome::Exited, None, None);
        }
        let how = o
            .main_end
            .map_or("an unknown cause".to_string(), |(cause, _)| {
                cause.to_string()
            });
        return verdict(
            Outcome::Error,
            None,
            Some(format!(
                "the victim ended before its stop ({how}): the program failed or stopped itself, \
                 so there was nothing to stop"
            )),
        );
    }
    if o.eperm {
        return verdict(Outcome::Eperm, None, None);
    }
    let Some((_, died)) = o.main_end else {
        return verdict(Outcome::Survived, None, None);
    };
    let outcome = if o.final_phase_at.is_some_and(|f| died >= f) {
        Outcome::Killed
    } else {
        Outcome::Exited
    };
    // With leaks the tree never died: censored, never a fast stop.
    let death = (o.leaks == 0).then(|| since(o.tree_gone.unwrap_or(died).max(died)));
    verdict(outcome, death, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `(what, observation, outcome, death in ms, an error expected)`.
    type Case = (&'static str, Observation, Outcome, Option<u64>, bool);

    fn at(t0: Instant, ms: u64) -> Instant {
        t0 + Duration::from_millis(ms)
    }

    fn base(t0: Instant) -> Observation {
        Observation {
            requested: Some(t0),
            completed: Some(at(t0, 30)),
            ..Observation::default()
        }
    }

    fn check(cases: Vec<Case>) {
        for (what, o, outcome, death_ms, error) in cases {
            let v = verdict(&o);
            assert_eq!(v.outcome, outcome, "{what}");
            assert_eq!(v.death, death_ms.map(Duration::from_millis), "{what}");
            assert_eq!(v.error.is_some(), error, "{what}: {:?}", v.error);
            assert_eq!(v.completion, Duration::from_millis(30), "{what}");
        }
    }

    #[test]
    fn table_of_stops_that_ended() {
        let t0 = Instant::now();
        let base = base(t0);
        let exited = Some((Cause::Exited(0), at(t0, 5)));
        let killed = Some((Cause::Signaled(libc::SIGKILL), at(t0, 2001)));
        check(vec![
            (
                "clean stop on the first signal",
                Observation {
                    main_end: exited,
                    tree_gone: Some(at(t0, 5)),
                    ..base.clone()
                },
                Outcome::Exited,
                Some(5),
                false,
            ),
            (
                "a late child outlives the main process, then dies",
                Observation {
                    main_end: exited,
                    tree_gone: Some(at(t0, 12)),
                    ..base.clone()
                },
                Outcome::Exited,
                Some(12),
                false,
            ),
            (
                "a daemonized child left running: a leak, death censored",
                Observation {
                    main_end: exited,
                    leaks: 1,
                    ..base.clone()
                },
                Outcome::Exited,
                None,
                false,
            ),
            (
                "escalated to SIGKILL after the timeout",
                Observation {
                    main_end: killed,
                    final_phase_at: Some(at(t0, 2000)),
                    ..base.clone()
                },
                Outcome::Killed,
                Some(2001),
                false,
            ),
            (
                "SIGSTOPped, then SIGCONT after the kill signal: exits at once",
                Observation {
                    main_end: Some((Cause::Exited(0), at(t0, 9))),
                    final_phase_at: Some(at(t0, 2000)),
                    ..base.clone()
                },
                Outcome::Exited,
                Some(9),
                false,
            ),
        ]);
    }

    #[test]
    fn table_of_stops_that_did_not() {
        let t0 = Instant::now();
        let base = base(t0);
        check(vec![
            (
                "survivor: censored, never the give-up time",
                base.clone(),
                Outcome::Survived,
                None,
                false,
            ),
            (
                "exec failure: gone before the stop with exit 127",
                Observation {
                    gone_before_stop: true,
                    main_end: Some((Cause::Exited(127), t0)),
                    ..base.clone()
                },
                Outcome::Error,
                None,
                true,
            ),
            (
                "the scenario's own crash (exit-early)",
                Observation {
                    gone_before_stop: true,
                    early_exit_expected: true,
                    main_end: Some((Cause::Exited(1), t0)),
                    ..base.clone()
                },
                Outcome::Exited,
                None,
                false,
            ),
            (
                "a helper failed (pkill exit 2)",
                Observation {
                    strategy_error: Some("`pkill` exited with 2".into()),
                    main_end: Some((Cause::Exited(0), at(t0, 5))),
                    ..base.clone()
                },
                Outcome::Error,
                None,
                true,
            ),
            (
                "EPERM: the number belongs to another user",
                Observation {
                    eperm: true,
                    ..base.clone()
                },
                Outcome::Eperm,
                None,
                false,
            ),
        ]);
    }
}
