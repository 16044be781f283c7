//! What crosses from the host to the sandbox (the plan, as JSON on stdin) and
//! back (one JSON message per line on stdout), so the host writes each trial
//! to disk as soon as it is measured.

use crate::churn::ChurnReport;
use crate::measure::TrialRecord;
use crate::scenario::Scenario;
use crate::sys::child::ExecFailure;
use serde::{Deserialize, Serialize};
use std::os::fd::BorrowedFd;

/// Everything a non-blocking pipe holds now (its writers may live on).
pub fn read_available(fd: BorrowedFd<'_>) -> Vec<u8> {
    let mut bytes = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = nix::unistd::read(fd, &mut buf) {
        if n == 0 {
            break;
        }
        bytes.extend_from_slice(&buf[..n]);
    }
    bytes
}

/// Waits up to `limit` for one byte on `read`: a child's "ready", a
/// keeper's answer. EOF (the writer gone) is `Exited`.
pub fn wait_byte(
    read: &std::os::fd::OwnedFd,
    limit: std::time::Duration,
) -> Result<(), super::error::NotReady> {
    use super::error::NotReady;
    use rustix::event::{poll, PollFd, PollFlags, Timespec};
    use std::os::fd::AsFd;
    let deadline = std::time::Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let timeout = Timespec {
            tv_sec: left.as_secs() as i64,
            tv_nsec: i64::from(left.subsec_nanos()),
        };
        let mut fds = [PollFd::new(read, PollFlags::IN)];
        match poll(&mut fds, Some(&timeout)) {
            Err(rustix::io::Errno::INTR) => continue,
            Ok(0) => return Err(NotReady::Timeout(limit)),
            _ => break,
        }
    }
    let mut byte = [0u8; 1];
    match nix::unistd::read(read.as_fd(), &mut byte) {
        Ok(1) if ExecFailure::is_marker(byte[0]) => {
            // The child's last act before exiting: its 4 errno bytes are
            // already in the pipe.
            let mut errno = [0u8; 4];
            match nix::unistd::read(read.as_fd(), &mut errno) {
                Ok(4) => Err(ExecFailure::from_report(byte[0], errno)
                    .map_or(NotReady::Exited, NotReady::Failed)),
                _ => Err(NotReady::Exited),
            }
        }
        Ok(1) => Ok(()),
        _ => Err(NotReady::Exited),
    }
}

/// How the sandbox gets its privileges.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SandboxMode {
    /// Root: new PID and mount namespaces directly.
    Root,
    /// An ordinary user: a user namespace maps them to root inside.
    UserNamespace,
    /// Inside a sandboxed systemd's container (its PID and mount
    /// namespaces), as a subreaper beside systemd, which owns the victims.
    SystemdMachine,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunPlan {
    pub scenario: Scenario,
    pub mode: SandboxMode,
    /// Our own binary, re-executed for victims and bystanders.
    pub exe: String,
    /// stopbench's cgroup v2 tree for this run, made by the host (for the
    /// `cgroup` strategy); `None` when no strategy needs one.
    pub cgroup: Option<std::path::PathBuf>,
}

/// Facts about the sandbox as built.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SandboxFacts {
    pub mode: SandboxMode,
    pub pid_max_requested: Option<u32>,
    /// The namespace's pid_max as read back; `None` if it could not be set.
    pub pid_max: Option<u32>,
    pub pid_max_note: Option<String>,
    /// In a sandboxed systemd's container: `systemctl --version`'s first
    /// line (`systemd 257 (257.13-1~deb13u1)`).
    #[serde(default)]
    pub systemd_version: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Message {
    Started {
        facts: SandboxFacts,
    },
    Trial {
        record: TrialRecord,
    },
    Warning {
        text: String,
    },
    Finished {
        churn: ChurnReport,
        stopped_early: Option<String>,
    },
    Failed {
        reason: String,
    },
}

/// Writes one message as one line; `false` when the host is gone.
pub fn emit(message: &Message) -> bool {
    use std::io::Write;
    let mut line = serde_json::to_vec(message).expect("messages serialize");
    line.push(b'\n');
    let mut out = std::io::stdout().lock();
    out.write_all(&line).and_then(|_| out.flush()).is_ok()
}
