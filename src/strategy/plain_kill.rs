//! `kill -TERM $PID`, poll `kill -0 $PID`, then `kill -KILL $PID`: the number only.

use super::{race_window, StopReport, StopStrategy, VictimHandle};
use crate::sandbox::inside::{Inside, NumberSignal};
use crate::scenario::{StrategyConfig, StrategyKind};
use std::time::Instant;

pub struct PlainKill(pub StrategyConfig);

impl StopStrategy for PlainKill {
    fn kind(&self) -> StrategyKind {
        StrategyKind::PlainKill
    }

    fn stop(&self, inside: &Inside, victim: &VictimHandle<'_>, requested: Instant) -> StopReport {
        let mut report = StopReport::default();
        let mut reused = false;
        let first = inside.signal_number(victim.pid, Some(self.0.kill_signal.0));
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
            if inside.signal_number(victim.pid, None) == NumberSignal::NoProcess {
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
            report.windows.push(race_window(
                seen_alive,
                Instant::now(),
                inside.victim_death_at(),
            ));
            if let NumberSignal::Delivered { reused: r } = last {
                reused |= r;
            }
        }
        report.pid_reused = Some(reused);
        report
    }
}
