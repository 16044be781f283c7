//! `kill -TERM $PID`, poll `kill -0 $PID`, then `kill -KILL $PID`: the number only.

use super::{StopReport, StopStrategy, VictimHandle};
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
        if let NumberSignal::Delivered { reused: r } = first {
            reused |= r;
        }
        let deadline = requested + self.0.timeout.0;
        // Poll like a script's `while kill -0 $PID; do sleep ...; done`: a
        // recycled number looks exactly like a daemon that will not die.
        let gone = loop {
            if inside.signal_number(victim.pid, None) == NumberSignal::NoProcess {
                break true;
            }
            let now = Instant::now();
            if now >= deadline {
                break false;
            }
            std::thread::sleep(self.0.poll.0.min(deadline - now));
        };
        if !gone {
            report.final_phase_at = Some(Instant::now());
            if let NumberSignal::Delivered { reused: r } =
                inside.signal_number(victim.pid, Some(self.0.final_signal.0))
            {
                reused |= r;
            }
        }
        report.pid_reused = Some(reused);
        report
    }
}
