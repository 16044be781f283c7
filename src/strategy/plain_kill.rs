//! `kill -TERM $PID`, poll `kill -0 $PID`, then `kill -KILL $PID`: the number only.

use super::{race_window, Exposure, StopReport, StopStrategy, VictimHandle};
use crate::sandbox::inside::{Inside, NumberSignal};
use crate::scenario::{StrategyConfig, StrategyKind};
use std::time::{Duration, Instant};

pub struct PlainKill(pub StrategyConfig);

impl StopStrategy for PlainKill {
    fn kind(&self) -> StrategyKind {
        StrategyKind::PlainKill
    }

    fn stop(&self, inside: &Inside, victim: &VictimHandle<'_>, requested: Instant) -> StopReport {
        let mut report = StopReport::default();
        let mut reused = false;
        let first = inside.signal_number(victim.pid, Some(self.0.kill_signal.0));
        // The first act that found the number no longer the victim's (gone,
        // or held by another) ends the exposure; see `Exposure`.
        let mut exposure = None;
        let mut note_act = |result: NumberSignal, follow: Duration| {
            let freed = !matches!(result, NumberSignal::Delivered { reused: false });
            if freed && exposure.is_none() {
                let at = Instant::now();
                exposure = Some(Exposure::first_after(
                    inside.victim_death_at(),
                    &[(at, follow)],
                ));
            }
        };
        note_act(first, Duration::ZERO);
        // The number was read (from the pidfile) at the stop request.
        report.windows.push(race_window(
            requested,
            Instant::now(),
            inside.victim_death_at(),
        ));
        if let NumberSignal::Delivered { reused: r } = first {
            reused |= r;
        }
        let mut seen_alive = requested;
        let deadline = requested + self.0.timeout.0;
        // Poll like a script's `while kill -0 $PID; do sleep ...; done`: a
        // recycled number looks exactly like a daemon that will not die.
        let gone = loop {
            let probe = inside.signal_number(victim.pid, None);
            // Found alive, the number would be signalled at the deadline.
            note_act(probe, deadline.saturating_duration_since(Instant::now()));
            if probe == NumberSignal::NoProcess {
                break true;
            }
            seen_alive = Instant::now();
            let now = Instant::now();
            if now >= deadline {
                break false;
            }
            std::thread::sleep(self.0.poll.0.min(deadline - now));
        };
        if !gone {
            report.final_phase_at = Some(Instant::now());
            let last = inside.signal_number(victim.pid, Some(self.0.final_signal.0));
            note_act(last, Duration::ZERO);
            report.windows.push(race_window(
                seen_alive,
                Instant::now(),
                inside.victim_death_at(),
            ));
            if let NumberSignal::Delivered { reused: r } = last {
                reused |= r;
            }
        }
        report.exposure = Some(exposure.unwrap_or_default());
        report.pid_reused = Some(reused);
        report
    }
}
