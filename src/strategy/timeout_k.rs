//! `timeout -k KILL_AFTER … DAEMON`: coreutils' timeout runs the daemon as
//! its child, in a process group it leads, and is the service's main
//! process. The stop signals timeout; it passes the signal (and SIGCONT) to
//! its child and to its whole group with `kill(0, …)`, and SIGKILLs the
//! group if the child outlives KILL_AFTER (the strategy's `timeout`). It
//! addresses the group from inside it, where no number can change holder;
//! but it exits with its child, and workers still running then are left.

use super::{StopReport, StopStrategy, VictimHandle};
use crate::oracle::Cause;
use crate::sandbox::inside::{Inside, NumberSignal};
use crate::scenario::{StrategyConfig, StrategyKind};
use std::time::{Duration, Instant};

pub struct TimeoutK(pub StrategyConfig);

/// timeout's own limit: long enough never to end a trial by itself.
const RUN_LIMIT: &str = "365d";

impl StopStrategy for TimeoutK {
    fn kind(&self) -> StrategyKind {
        StrategyKind::TimeoutK
    }

    fn victim_prefix(&self) -> Option<Vec<String>> {
        Some(vec![
            "/usr/bin/timeout".into(),
            "-s".into(),
            self.0.kill_signal.short_name().into(),
            "-k".into(),
            format!("{}s", self.0.timeout.0.as_secs_f64()),
            RUN_LIMIT.into(),
        ])
    }

    fn stop(&self, inside: &Inside, victim: &VictimHandle<'_>, requested: Instant) -> StopReport {
        let mut report = StopReport::default();
        // The manager's stop: the kill signal to its main process, timeout,
        // under the table lock (the number cannot change holder meanwhile).
        match inside.signal_number(victim.pid, Some(self.0.kill_signal.0)) {
            NumberSignal::Delivered { reused: false } => {}
            NumberSignal::Delivered { reused: true } => {
                report.error = Some("timeout's number was another process's at the stop".into())
            }
            NumberSignal::NoProcess => {
                report.note = Some("timeout had exited before the stop".into())
            }
        }
        // timeout's own SIGKILL comes KILL_AFTER after the signal; its end
        // is the stop's end. It ends of the signal its child died of, so a
        // death by SIGKILL is the escalation, seen, not assumed from the clock.
        let slack = Duration::from_millis(500);
        let died = inside.wait_victim_death(requested + self.0.timeout.0 + slack);
        report.final_phase_at = died
            .filter(|(cause, _)| *cause == Cause::Signaled(libc::SIGKILL))
            .map(|(_, at)| at);
        report
    }
}
