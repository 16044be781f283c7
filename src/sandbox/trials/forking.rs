//! A forking daemon's main process, found as systemd's `Type=forking` with
//! `PIDFile=` finds it: the process started is only the start process; once
//! it has exited, the daemon it left behind is the number the daemon wrote
//! in its pidfile (systemd waits for the file to appear). Every strategy
//! then addresses that process: `kill $(cat PIDFILE)`, `$MAINPID`, and a
//! pidfd opened from the pidfile's number, as systemd 255 and later do.
//! Without it, a number strategy addresses the start process, already gone,
//! and leaves the whole daemon running: a configuration nobody runs.

use crate::oracle::Cause;
use crate::sandbox::error::TrialError;
use crate::sandbox::procfs;
use crate::sandbox::table::Shared;
use std::os::fd::OwnedFd;
use std::path::Path;
use std::time::{Duration, Instant};

/// The daemon's main process, opened by pidfd.
pub struct Daemon {
    pub pid: i32,
    pub pidfd: OwnedFd,
}

/// After the start process exited: waits up to `limit` for the
/// pidfile to name a process, checks it is of the victim's tree (its cgroup
/// `cgroup`, or a descendant of `keeper`), opens it by pidfd and makes it
/// the watched main process. `Ok(None)` while the start process still runs
/// (a daemon that does not fork: its own number is the main process).
pub fn find_main(
    shared: &Shared,
    pidfile: &Path,
    cgroup: Option<&str>,
    keeper: Option<i32>,
    limit: Duration,
) -> Result<Option<Daemon>, TrialError> {
    let start_exit = shared.table.lock().victim_death();
    let Some((cause, _)) = start_exit else {
        return Ok(None);
    };
    if cause != Cause::Exited(0) {
        return Err(TrialError::DaemonStart(format!(
            "its start process ended with {cause} before the daemon wrote its pidfile `{}` \
             (systemd's Type=forking fails such a start)",
            pidfile.display()
        )));
    }
    let deadline = Instant::now() + limit;
    let pid = loop {
        let read = std::fs::read_to_string(pidfile).ok();
        if let Some(pid) = read.and_then(|t| t.trim().parse::<i32>().ok()) {
            break pid;
        }
        if Instant::now() >= deadline {
            return Err(TrialError::DaemonStart(format!(
                "its start process exited, and no pidfile `{}` named a process within {limit:?}",
                pidfile.display()
            )));
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let in_tree = match (cgroup, keeper) {
        (Some(name), _) => procfs::cgroup(pid).as_deref() == Some(name),
        (None, Some(keeper)) => procfs::descendants(keeper).iter().any(|m| m.0 == pid),
        (None, None) => false,
    };
    if !in_tree {
        return Err(TrialError::DaemonStart(format!(
            "its pidfile `{}` names process {pid}, which is not of the daemon's tree \
             (systemd 255+ refuses such a number unless the file is root's)",
            pidfile.display()
        )));
    }
    // Watched first: from here its reaping is the main process's death.
    shared.table.lock().repoint_victim(pid);
    let pidfd = rustix::process::Pid::from_raw(pid)
        .and_then(|p| rustix::process::pidfd_open(p, rustix::process::PidfdFlags::empty()).ok())
        .ok_or_else(|| {
            TrialError::DaemonStart(format!(
                "the daemon its pidfile `{}` names (process {pid}) ended before it could be \
                 opened",
                pidfile.display()
            ))
        })?;
    Ok(Some(Daemon { pid, pidfd }))
}
