//! pidfd: a handle on the victim taken when it was spawned, so no signal can
//! reach whoever holds the number later. `pidfd_send_signal`, poll the pidfd
//! for exit until the timeout, then the final signal through the pidfd.

use super::{StopReport, StopStrategy, VictimHandle};
use crate::sandbox::inside::Inside;
use crate::scenario::{StopSignal, StrategyConfig, StrategyKind};
use rustix::event::{poll, PollFd, PollFlags, Timespec};
use rustix::process::{pidfd_send_signal, Signal};
use std::os::fd::OwnedFd;
use std::time::Instant;

pub struct Pidfd(pub StrategyConfig);

fn send(fd: &OwnedFd, sig: StopSignal) {
    // ESRCH means the victim is already gone: by construction nobody else is hit.
    let sig = Signal::from_named_raw(sig.number()).expect("validated signal");
    let _ = pidfd_send_signal(fd, sig);
}

/// Waits until the pidfd is readable (the process exited) or `deadline`.
fn wait_exit(fd: &OwnedFd, deadline: Instant) -> bool {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let timeout = Timespec {
            tv_sec: left.as_secs() as i64,
            tv_nsec: left.subsec_nanos() as i64,
        };
        let mut fds = [PollFd::new(fd, PollFlags::IN)];
        match poll(&mut fds, Some(&timeout)) {
            Ok(n) if n > 0 => return true,
            Ok(_) => return false,
            Err(rustix::io::Errno::INTR) => continue,
            Err(_) => return false,
        }
    }
}

impl StopStrategy for Pidfd {
    fn kind(&self) -> StrategyKind {
        StrategyKind::Pidfd
    }

    fn stop(&self, _inside: &Inside, victim: &VictimHandle<'_>, requested: Instant) -> StopReport {
        let mut report = StopReport::default();
        let Some(fd) = victim.pidfd else {
            report.error = Some("no pidfd was taken for the victim".into());
            return report;
        };
        send(fd, self.0.kill_signal);
        if !wait_exit(fd, requested + self.0.timeout.0) {
            report.final_phase_at = Some(Instant::now());
            send(fd, self.0.final_signal);
        }
        report
    }
}
