//! The seed's unit B: `ExecStop=/bin/kill -TERM $MAINPID`, wait up to the
//! timeout, then `ExecStopPost=/bin/sh -c "if ps -p $MAINPID > /dev/null;
//! then /bin/kill -KILL $MAINPID; fi"` with the recorded number exported (as
//! systemd does for a `PIDFile=` main process it does not parent). The
//! scenario's `exec_stop` and `exec_stop_post` replace either line, executed
//! as systemd executes them (see exec_line). `form = "simple"` is the seed's
//! `Type=simple` unit instead: systemd's own child, whose `$MAINPID` is unset
//! in `ExecStopPost=` once it exited, so the check never fires.

use super::{
    note_helper, race_window, Exposure, StopReport, StopStrategy, VictimHandle, HELPER_LIMIT,
};
use crate::sandbox::inside::Inside;
use crate::sandbox::trace::{TraceEvent, TraceKind};
use crate::scenario::{StrategyConfig, StrategyKind, UnitForm};
use std::time::{Duration, Instant};

pub struct ExecStopPostCheck(pub StrategyConfig);

impl StopStrategy for ExecStopPostCheck {
    fn kind(&self) -> StrategyKind {
        StrategyKind::ExecstoppostCheck
    }

    fn stop(&self, inside: &Inside, victim: &VictimHandle<'_>, requested: Instant) -> StopReport {
        let mut report = StopReport::default();
        // Acts on the number, each with the time until the kill that follows
        // when it finds the number alive (see `Exposure`).
        let mut acts: Vec<(Instant, Duration)> = Vec::new();
        let mut reused = inside.number_reused(victim.pid);
        let Some(kill_startup) = self.exec_stop(inside, victim, requested, &mut report, &mut acts)
        else {
            return report;
        };
        inside.wait_victim_death(requested + self.0.timeout.0);
        report.final_phase_at = Some(Instant::now());
        reused |= inside.number_reused(victim.pid);
        if self
            .exec_stop_post(inside, victim, kill_startup, &mut report, &mut acts)
            .is_none()
        {
            return report;
        }
        report.exposure = Some(Exposure::first_after(inside.victim_death_at(), &acts));
        report.pid_reused = Some(reused);
        report
    }
}

impl ExecStopPostCheck {
    /// `ExecStop=`: its kills join `acts`, with their race windows (the
    /// number was read at the stop request). Returns how long `/bin/kill`
    /// takes from its start to its kill(), or `None` if the line failed to run.
    fn exec_stop(
        &self,
        inside: &Inside,
        victim: &VictimHandle<'_>,
        requested: Instant,
        report: &mut StopReport,
        acts: &mut Vec<(Instant, Duration)>,
    ) -> Option<Duration> {
        // As a separate word, systemd substitutes $MAINPID itself.
        let exec_stop = match self.line(self.0.exec_stop.as_deref(), Some(victim.pid)) {
            Ok(Some(argv)) => argv,
            Ok(None) => vec![
                "/bin/kill".to_string(),
                format!("-{}", self.0.kill_signal.short_name()),
                victim.pid.to_string(),
            ],
            Err(err) => {
                report.error = Some(err);
                return None;
            }
        };
        let run = match inside.run_traced_helper(&exec_stop, &[], HELPER_LIMIT) {
            Ok(run) => run,
            Err(err) => {
                report.error = Some(err.to_string());
                return None;
            }
        };
        note_helper(report, &exec_stop, &run, ignores_failure(&self.0.exec_stop));
        acts.extend(kills(&run.events).map(|at| (at, Duration::ZERO)));
        for at in kills(&run.events) {
            let freed = inside.victim_death_at();
            report.windows.push(race_window(requested, at, freed));
        }
        Some(
            run.events
                .iter()
                .find(|e| e.comm == "kill" && e.kind == TraceKind::Start)
                .zip(run.events.iter().find(|e| e.is_kill_by("kill")))
                .map_or(Duration::ZERO, |(start, kill)| {
                    kill.at.saturating_duration_since(start.at)
                }),
        )
    }

    /// `ExecStopPost=`: the `ps -p` check and the kill that may follow.
    /// `None` if its line cannot be built.
    fn exec_stop_post(
        &self,
        inside: &Inside,
        victim: &VictimHandle<'_>,
        kill_startup: Duration,
        report: &mut StopReport,
        acts: &mut Vec<(Instant, Duration)>,
    ) -> Option<()> {
        // Inside the quoted `sh -c`, $MAINPID is expanded by sh from the environment.
        let script = format!(
            "if ps -p $MAINPID > /dev/null; then /bin/kill -{} $MAINPID; fi",
            self.0.final_signal.short_name()
        );
        // What systemd exports in ExecStopPost=: the number for a PIDFile=
        // daemon it does not parent; nothing for its own child that exited.
        let post_mainpid = (self.0.form == UnitForm::Pidfile).then_some(victim.pid);
        let exec_stop_post = match self.line(self.0.exec_stop_post.as_deref(), post_mainpid) {
            Ok(Some(argv)) => argv,
            Ok(None) => vec!["/bin/sh".to_string(), "-c".to_string(), script],
            Err(err) => {
                report.error = Some(err);
                return None;
            }
        };
        let env: Vec<(String, String)> = post_mainpid
            .map(|pid| ("MAINPID".to_string(), pid.to_string()))
            .into_iter()
            .collect();
        let run = match inside.run_traced_helper(&exec_stop_post, &env, HELPER_LIMIT) {
            Ok(run) => run,
            Err(err) => {
                report.error = Some(err.to_string());
                return Some(());
            }
        };
        note_helper(
            report,
            &exec_stop_post,
            &run,
            ignores_failure(&self.0.exec_stop_post),
        );
        // `ps -p` saw the number alive when it exited with 0; the kill that
        // follows is the seed's check-then-kill race.
        let checked = ps_check(&run.events);
        // Only the PIDFile= form's check addresses the number.
        if post_mainpid.is_some() {
            // A kill that followed the check says how long after it came;
            // without one, `ps` would have exited and `sh` started `/bin/kill`.
            let ps_exit = run
                .events
                .iter()
                .find(|e| e.comm == "ps" && e.kind == TraceKind::Exit)
                .map(|e| e.at);
            let follow = |checked: Instant| match kills(&run.events).next() {
                Some(kill) => kill.saturating_duration_since(checked),
                None => {
                    ps_exit.map_or(Duration::ZERO, |x| x.saturating_duration_since(checked))
                        + kill_startup
                }
            };
            acts.extend(checked.map(|at| (at, follow(at))));
            acts.extend(kills(&run.events).map(|at| (at, Duration::ZERO)));
        }
        if let Some(checked) = checked {
            for at in kills(&run.events) {
                let freed = inside.victim_death_at();
                report.windows.push(race_window(checked, at, freed));
            }
        }
        Some(())
    }

    /// The scenario's own line for this step, as systemd would execute it.
    fn line(
        &self,
        line: Option<&str>,
        mainpid: Option<i32>,
    ) -> Result<Option<Vec<String>>, String> {
        line.map(|l| super::exec_line::argv(l, mainpid).map_err(|e| format!("`{l}`: {e}")))
            .transpose()
    }
}

/// systemd's `-` prefix: the line's failure is ignored.
fn ignores_failure(line: &Option<String>) -> bool {
    line.as_deref()
        .is_some_and(|l| l.trim_start().starts_with('-'))
}

/// When `ps` checked the number: `ps -p N` (procps 4) lists the whole of
/// /proc, then looks up each entry; a number not in the listing is "gone".
/// The listing comes just before its first lookup of another process (where
/// the shim saw none, when `ps` exited).
fn ps_check(events: &[TraceEvent]) -> Option<Instant> {
    events
        .iter()
        .find(|e| {
            e.comm == "ps" && matches!(e.kind, TraceKind::Probe { target, .. } if target != e.pid)
        })
        .or_else(|| {
            events
                .iter()
                .find(|e| e.comm == "ps" && e.kind == TraceKind::Exit)
        })
        .or_else(|| events.iter().find(|e| e.comm == "ps"))
        .map(|e| e.at)
}

/// When each `kill` program's kill() returned.
fn kills(events: &[TraceEvent]) -> impl Iterator<Item = Instant> + '_ {
    events.iter().filter(|e| e.is_kill_by("kill")).map(|e| e.at)
}
