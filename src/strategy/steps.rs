//! Strategies that are real programs: the stop tools people run
//! (start-stop-daemon, killproc, killall, `pidof | xargs kill`, a kill of
//! the process group) and a team's own stop command. Each is a list of
//! command lines run inside the sandbox with the trace shim, as systemd runs
//! `ExecStop=`: then a wait for the daemon's end up to the timeout, then the
//! final lines, as `ExecStopPost=`. What they did to numbers is read from
//! the shim's events, the same for every tool, so no tool's verdict rests on
//! a model of what it does.

use super::{note_helper, race_window, Exposure, StopReport, VictimHandle};
use crate::sandbox::inside::{HelperRun, Inside};
use crate::sandbox::trace::{TraceEvent, TraceKind};
use std::time::{Duration, Instant};

/// One command line of a stop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub argv: Vec<String>,
    pub env: Vec<(String, String)>,
    /// systemd's `-` prefix: a failure of this line is not the tool's.
    pub ignore_failure: bool,
}

impl Step {
    pub fn new(argv: Vec<String>) -> Self {
        Self {
            argv,
            env: Vec::new(),
            ignore_failure: false,
        }
    }

    /// `sh -c SCRIPT` with `env`: a script as an init script runs it.
    pub fn script(script: &str, env: &[(&str, String)]) -> Self {
        Self {
            argv: vec!["/bin/sh".into(), "-c".into(), script.into()],
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
            ignore_failure: false,
        }
    }
}

/// The command lines of one stop: `first` at the request, `last` once the
/// daemon's main process is gone or the timeout has passed.
#[derive(Debug, Clone, Default)]
pub struct Steps {
    pub first: Vec<Step>,
    pub last: Vec<Step>,
    /// How long each command may run before it is killed, as systemd kills
    /// an `ExecStop=` still running at `TimeoutStopSec=`.
    pub limit: Duration,
    /// `(uid, gid)` the commands run as: the service's user.
    pub user: Option<(u32, u32)>,
}

/// Runs `steps` against `victim`: what they did, as a [`StopReport`].
pub fn run(
    inside: &Inside,
    victim: &VictimHandle<'_>,
    requested: Instant,
    timeout: Duration,
    steps: Result<Steps, String>,
) -> StopReport {
    let mut report = StopReport::default();
    let steps = match steps {
        Ok(steps) => steps,
        Err(why) => {
            report.error = Some(why);
            return report;
        }
    };
    let mut reused = inside.number_reused(victim.pid);
    let mut seen = Seen::default();
    for step in &steps.first {
        if !run_step(inside, step, &steps, &mut report, &mut seen) {
            return report;
        }
    }
    if !steps.last.is_empty() {
        inside.wait_victim_death(requested + timeout);
        report.final_phase_at = Some(Instant::now());
        reused |= inside.number_reused(victim.pid);
        for step in &steps.last {
            if !run_step(inside, step, &steps, &mut report, &mut seen) {
                break;
            }
        }
    }
    reused |= inside.number_reused(victim.pid);
    let freed = inside.victim_death_at();
    let (windows, acts) = seen.windows_and_acts(victim.pid, freed);
    report.windows = windows;
    report.exposure = Some(Exposure::first_after(freed, &acts));
    report.pid_reused = Some(reused);
    report
}

/// Every traced event of a stop, each with the instant its command line was
/// started: what a process knew when it had not checked a number itself
/// (`kill $(pidof x)`: the number is as old as the line's start).
#[derive(Default)]
struct Seen {
    events: Vec<(Instant, TraceEvent)>,
}

/// Runs one command line; `false` when it could not be run at all.
fn run_step(
    inside: &Inside,
    step: &Step,
    steps: &Steps,
    report: &mut StopReport,
    seen: &mut Seen,
) -> bool {
    let (launched, limit) = (Instant::now(), steps.limit);
    match inside.run_traced_step(&step.argv, &step.env, limit, steps.user) {
        Ok(run) => {
            report.helpers.push(describe(&step.argv, &run, limit));
            if !run.overran {
                note_helper(report, &step.argv, &run, step.ignore_failure);
            }
            seen.events
                .extend(run.events.into_iter().map(|e| (launched, e)));
            true
        }
        Err(err) => {
            report.error = Some(err.to_string());
            false
        }
    }
}

/// A command line's end as trials.csv's `helpers` column gives it: the
/// program, its exit status (or signal) and the first lines of its stderr.
fn describe(argv: &[String], run: &HelperRun, limit: Duration) -> String {
    let program = super::helper_end::program(argv);
    let end = if run.overran {
        format!(
            "still running at its limit ({}), killed",
            crate::scenario::HumanDuration(limit)
        )
    } else {
        match run.cause {
            crate::oracle::Cause::Exited(code) => format!("exit {code}"),
            cause => cause.to_string(),
        }
    };
    let said = super::helper_end::first_lines(&run.stderr);
    if said.is_empty() {
        format!("{program}: {end}")
    } else {
        format!("{program}: {end}: {said}")
    }
}

impl Seen {
    /// The race window of each signal delivered (see `race_window`), and
    /// every act on the victim's number `pid` with the time to the signal
    /// that followed it (see `Exposure`). A process knew a number when it
    /// last checked it (`kill(N, 0)`, a look at `/proc/N`), or else when
    /// its command line started.
    fn windows_and_acts(
        &self,
        pid: i32,
        freed: Option<Instant>,
    ) -> (Vec<Duration>, Vec<(Instant, Duration)>) {
        let mut windows = Vec::new();
        let mut acts = Vec::new();
        for (i, (launched, e)) in self.events.iter().enumerate() {
            let Some((target, signal, delivered)) = addressed(e) else {
                continue;
            };
            let ours = target == pid || target == -pid;
            // The next signal this process sent to the same target.
            let follow = self.events[i + 1..]
                .iter()
                .find(|(_, n)| {
                    n.pid == e.pid
                        && matches!(addressed(n), Some((t, s, true)) if t == target && s != 0)
                })
                .map_or(Duration::ZERO, |(_, n)| {
                    n.at.saturating_duration_since(e.at)
                });
            if ours {
                acts.push((e.at, if signal == 0 { follow } else { Duration::ZERO }));
            }
            if signal == 0 || !delivered {
                continue;
            }
            let knew = self.events[..i]
                .iter()
                .rev()
                .find(|(_, p)| {
                    p.pid == e.pid && matches!(addressed(p), Some((t, 0, _)) if t == target)
                })
                .map_or(*launched, |(_, p)| p.at);
            windows.push(race_window(knew, e.at, freed.filter(|_| ours)));
        }
        (windows, acts)
    }
}

/// What an event did to a number: `(target, signal, delivered)`; a look at
/// `/proc/N` is a check (signal 0) of N.
fn addressed(e: &TraceEvent) -> Option<(i32, i32, bool)> {
    match e.kind {
        TraceKind::Kill {
            target,
            signal,
            delivered,
        } => Some((target, signal, delivered)),
        TraceKind::Probe { target, found } => Some((target, 0, found)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(pid: i32, kind: TraceKind, at: Instant) -> TraceEvent {
        TraceEvent {
            kind,
            pid,
            comm: "tool".into(),
            at,
            entered: at,
        }
    }

    fn kill(target: i32, signal: i32, delivered: bool) -> TraceKind {
        TraceKind::Kill {
            target,
            signal,
            delivered,
        }
    }

    #[test]
    fn a_check_then_kill_is_the_window_and_the_check_is_the_exposure() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let seen = Seen {
            events: vec![
                (t0, event(9, TraceKind::Start, t0)),
                // First signal at 1 ms: knew the number since the start.
                (t0, event(9, kill(42, 15, true), t0 + ms(1))),
                // The victim dies at 3 ms; a check at 10 ms finds the number
                // held (a newcomer), and the final signal follows at 12 ms.
                (t0, event(9, kill(42, 0, true), t0 + ms(10))),
                (t0, event(9, kill(42, 9, true), t0 + ms(12))),
                // Another process signals another number: a window, no act.
                (t0 + ms(20), event(10, kill(77, 15, true), t0 + ms(25))),
            ],
        };
        let (windows, acts) = seen.windows_and_acts(42, Some(t0 + ms(3)));
        // The final signal's knowledge was stale: the number was freed at 3 ms.
        assert_eq!(windows, vec![ms(1), ms(9), ms(5)]);
        let exposure = Exposure::first_after(Some(t0 + ms(3)), &acts);
        assert_eq!(exposure.gap, ms(7));
        assert_eq!(exposure.follow, ms(2));
    }

    #[test]
    fn a_group_kill_addresses_the_victims_number() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let seen = Seen {
            events: vec![(t0, event(9, kill(-42, 9, true), t0 + ms(5)))],
        };
        let (windows, acts) = seen.windows_and_acts(42, Some(t0 + ms(1)));
        // Known since the line started; freed later, inside the window.
        assert_eq!(windows, vec![ms(5)]);
        assert_eq!(acts, vec![(t0 + ms(5), Duration::ZERO)]);
    }
}
