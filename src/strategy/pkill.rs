//! `pkill -TERM -f PATTERN`, wait, then always `pkill -KILL -f PATTERN` (the
//! seed's "extreme" `ExecStopPost=pkill -9 -f ...`). By default pkill is
//! executed directly, as systemd executes an `ExecStopPost=` line; with
//! `shell = true` each runs through `/bin/sh -c`, whose own command line holds
//! the pattern, so pkill hits its shell too (counted as misfires).

use super::{note_helper, shell_word, StopReport, StopStrategy, VictimHandle, HELPER_LIMIT};
use crate::sandbox::inside::Inside;
use crate::sandbox::trace::{TraceEvent, TraceKind};
use crate::scenario::{StrategyConfig, StrategyKind};
use std::time::Instant;

pub struct PkillF(pub StrategyConfig);

/// procps's pkill, where Debian (and systemd units) find it.
const PKILL: &str = "/usr/bin/pkill";

impl PkillF {
    fn command(&self, signal: &str, pattern: &str) -> Vec<String> {
        if self.0.shell {
            return vec![
                "/bin/sh".to_string(),
                "-c".to_string(),
                format!("pkill -{signal} -f {}", shell_word(pattern)),
            ];
        }
        vec![
            PKILL.to_string(),
            format!("-{signal}"),
            "-f".to_string(),
            pattern.to_string(),
        ]
    }
}

impl StopStrategy for PkillF {
    fn kind(&self) -> StrategyKind {
        StrategyKind::PkillF
    }

    fn stop(&self, inside: &Inside, victim: &VictimHandle<'_>, requested: Instant) -> StopReport {
        let mut report = StopReport::default();
        let pattern = self.0.pattern.as_deref().unwrap_or(victim.program);
        // pkill exits 1 when nothing matched; its shell may die of its own
        // pkill. Neither is an error of the tool: the oracle counts the hits.
        // Exit 2 (a pattern it rejects) or 3 is: see helper_end.
        let first = self.command(self.0.kill_signal.short_name(), pattern);
        match inside.run_traced_helper(&first, &[], HELPER_LIMIT) {
            Ok(run) => {
                report.windows.extend(scan_to_kill(&run.events));
                note_helper(&mut report, &first, &run, false);
            }
            Err(err) => {
                report.error = Some(err.to_string());
                return report;
            }
        }
        inside.wait_victim_death(requested + self.0.timeout.0);
        report.final_phase_at = Some(Instant::now());
        let last = self.command(self.0.final_signal.short_name(), pattern);
        match inside.run_traced_helper(&last, &[], HELPER_LIMIT) {
            Ok(run) => {
                report.windows.extend(scan_to_kill(&run.events));
                note_helper(&mut report, &last, &run, false);
            }
            Err(err) => report.error = Some(err.to_string()),
        }
        report
    }
}

/// pkill reads /proc, then signals the numbers whose command lines matched:
/// each kill's window runs from pkill's start (its scan begins at once; the
/// shim cannot see the individual reads) to the kill.
fn scan_to_kill(events: &[TraceEvent]) -> Vec<std::time::Duration> {
    events
        .iter()
        .filter(|e| e.is_kill_by("pkill"))
        .filter_map(|kill| {
            let start = events
                .iter()
                .find(|e| e.pid == kill.pid && e.kind == TraceKind::Start)?;
            Some(kill.at.saturating_duration_since(start.at))
        })
        .collect()
}
