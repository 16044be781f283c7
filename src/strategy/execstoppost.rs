//! The seed's unit B: `ExecStop=/bin/kill -TERM $MAINPID`, wait up to the
//! timeout, then `ExecStopPost=/bin/sh -c "if ps -p $MAINPID > /dev/null;
//! then /bin/kill -KILL $MAINPID; fi"` with the recorded number exported (as
//! systemd does for a PIDFile= main process it does not parent; see FACTS.md).

use super::{StopReport, StopStrategy, VictimHandle, HELPER_LIMIT};
use crate::sandbox::inside::Inside;
use crate::scenario::{StrategyConfig, StrategyKind};
use std::time::Instant;

pub struct ExecStopPostCheck(pub StrategyConfig);

impl StopStrategy for ExecStopPostCheck {
    fn kind(&self) -> StrategyKind {
        StrategyKind::ExecstoppostCheck
    }

    fn stop(&self, inside: &Inside, victim: &VictimHandle<'_>, requested: Instant) -> StopReport {
        let mut report = StopReport::default();
        let mainpid = victim.pid.to_string();
        // As a separate word, systemd substitutes $MAINPID itself.
        let exec_stop = vec![
            "/bin/kill".to_string(),
            format!("-{}", self.0.kill_signal.short_name()),
            mainpid.clone(),
        ];
        let mut reused = inside.number_reused(victim.pid);
        if let Err(err) = inside.run_helper(&exec_stop, &[], HELPER_LIMIT) {
            report.error = Some(err);
            return report;
        }
        inside.wait_victim_death(requested + self.0.timeout.0);
        report.final_phase_at = Some(Instant::now());
        // Inside the quoted `sh -c`, $MAINPID is expanded by sh from the environment.
        let script = format!(
            "if ps -p $MAINPID > /dev/null; then /bin/kill -{} $MAINPID; fi",
            self.0.final_signal.short_name()
        );
        let exec_stop_post = vec!["/bin/sh".to_string(), "-c".to_string(), script];
        reused |= inside.number_reused(victim.pid);
        if let Err(err) = inside.run_helper(
            &exec_stop_post,
            &[("MAINPID".into(), mainpid)],
            HELPER_LIMIT,
        ) {
            report.error = Some(err);
        }
        report.pid_reused = Some(reused);
        report
    }
}
