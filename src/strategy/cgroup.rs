//! cgroup: the victim was born in a cgroup v2 of its own, so "the service" is
//! a set the kernel keeps, not a number or a name. The first signal goes per
//! `kill_mode` (systemd's KillMode=); after the timeout, `process` sends the
//! final signal to the main process only, while `mixed` and `control-group`
//! empty the cgroup with `cgroup.kill`. Every signal goes through a pidfd or
//! the cgroup itself, so nothing outside the cgroup can be hit. As systemd does
//! (man systemd.kill), the kill signal is followed at once
//! by SIGCONT to the same processes, so a SIGSTOPped daemon handles it, and
//! by SIGHUP with `send_sighup`.

use super::{StopReport, StopStrategy, VictimHandle};
use crate::sandbox::cgroup;
use crate::sandbox::inside::Inside;
use crate::scenario::{KillMode, StopSignal, StrategyConfig, StrategyKind};
use rustix::process::{pidfd_open, pidfd_send_signal, Pid, PidfdFlags, Signal};
use std::os::fd::OwnedFd;
use std::path::Path;
use std::time::{Duration, Instant};

pub struct CgroupKill(pub StrategyConfig);

fn signal(sig: StopSignal) -> Signal {
    Signal::from_named_raw(sig.number()).expect("validated signal")
}

/// Signals each process in the cgroup through a pidfd opened while it was
/// listed there, after checking it still is (its number cannot change holder
/// while the pidfd is open).
fn signal_members(path: &Path, sigs: &[Signal]) {
    let rel = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    for pid in cgroup::procs(path) {
        let Some(pid) = Pid::from_raw(pid) else {
            continue;
        };
        let Ok(fd) = pidfd_open(pid, PidfdFlags::empty()) else {
            continue;
        };
        let member = std::fs::read_to_string(format!("/proc/{}/cgroup", pid.as_raw_nonzero()))
            .is_ok_and(|t| t.lines().any(|l| l.starts_with("0::") && l.contains(&rel)));
        if member {
            for &sig in sigs {
                let _ = pidfd_send_signal(&fd, sig);
            }
        }
    }
}

/// Waits until the cgroup is empty or `deadline`.
fn wait_empty(path: &Path, deadline: Instant) -> bool {
    while Instant::now() < deadline {
        if !cgroup::populated(path) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    !cgroup::populated(path)
}

fn send(fd: Option<&OwnedFd>, sigs: &[Signal]) {
    if let Some(fd) = fd {
        for &sig in sigs {
            let _ = pidfd_send_signal(fd, sig);
        }
    }
}

impl StopStrategy for CgroupKill {
    fn kind(&self) -> StrategyKind {
        StrategyKind::Cgroup
    }

    fn needs_cgroup(&self) -> bool {
        true
    }

    fn stop(&self, inside: &Inside, victim: &VictimHandle<'_>, requested: Instant) -> StopReport {
        let mut report = StopReport::default();
        let Some(path) = victim.cgroup else {
            report.error = Some("the victim has no cgroup of its own".into());
            return report;
        };
        let deadline = requested + self.0.timeout.0;
        let mode = self.0.kill_mode;
        // The kill signal, SIGCONT unless that was the signal, SIGHUP if asked.
        let mut first = vec![signal(self.0.kill_signal)];
        if self.0.kill_signal.number() != libc::SIGCONT {
            first.push(Signal::CONT);
        }
        if self.0.send_sighup {
            first.push(Signal::HUP);
        }
        match mode {
            KillMode::ControlGroup => signal_members(path, &first),
            KillMode::Mixed | KillMode::Process => send(victim.pidfd, &first),
        }
        // systemd waits for the main process; with control-group, for the whole cgroup.
        let done = match mode {
            KillMode::ControlGroup => wait_empty(path, deadline),
            KillMode::Mixed | KillMode::Process => inside.wait_victim_death(deadline).is_some(),
        };
        match mode {
            KillMode::Process => {
                if !done {
                    report.final_phase_at = Some(Instant::now());
                    send(victim.pidfd, &[signal(self.0.final_signal)]);
                }
            }
            KillMode::Mixed | KillMode::ControlGroup => {
                if cgroup::populated(path) {
                    report.final_phase_at = Some(Instant::now());
                    if let Err(e) = cgroup::kill(path) {
                        report.error = Some(format!(
                            "cannot write cgroup.kill in `{}`: {e}",
                            path.display()
                        ));
                    }
                    // Like systemd after its final signal: done when the cgroup is empty.
                    wait_empty(path, Instant::now() + self.0.timeout.0);
                }
            }
        }
        report
    }
}
