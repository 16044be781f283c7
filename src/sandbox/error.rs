//! Why a trial could not be set up or run: its victim, a bystander, a helper
//! or a unit did not start, or did not get ready. A trial that fails so is
//! recorded with this error's text (outcome `error`); it is data, not a
//! reason to end the run.

use super::cgroup::CgroupError;
use crate::oracle::Cause;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum TrialError {
    #[error("pipe: {0}")]
    Pipe(#[source] nix::Error),
    /// `what`: `the victim`, `bystander`, `the victim's keeper`...
    #[error("cannot start {what} `{cmdline}`: {source}")]
    Spawn {
        what: &'static str,
        cmdline: String,
        source: std::io::Error,
    },
    #[error("{what} `{cmdline}` {why}")]
    NotReady {
        what: &'static str,
        cmdline: String,
        why: NotReady,
    },
    #[error("victim {0}")]
    VictimNotReady(NotReady),
    /// A forking daemon whose main process could not be found as systemd
    /// finds it (see trials/forking.rs).
    #[error("forking daemon: {0}")]
    DaemonStart(String),
    /// The victim never became its program: `program` as `user` (or as
    /// stopbench's own user).
    #[error("victim `{program}`{user} {failure}")]
    VictimExec {
        program: String,
        user: String,
        failure: crate::sys::child::ExecFailure,
    },
    #[error(transparent)]
    Cgroup(#[from] CgroupError),
    #[error("no cgroup tree for the cgroup strategy")]
    NoCgroupTree,
    #[error("the exit-early victim did not exit on its own")]
    StayedUp,
    #[error("process {0} did not stop after SIGSTOP")]
    NotStopped(i32),
    #[error("cannot start the victim's keeper: {0}")]
    Keeper(#[source] std::io::Error),
    #[error("the victim's keeper ended before it started the victim")]
    KeeperEnded,
    #[error("pidfd_open of {what}: {source}")]
    Pidfd {
        what: String,
        source: rustix::io::Errno,
    },
    #[error("`{cmdline}` did not finish within {limit:?}")]
    HelperTimeout { cmdline: String, limit: Duration },
    #[error("cannot {what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error("{command} ended with {cause}")]
    Helper { command: String, cause: Cause },
    /// `systemctl start` failed; `why` is systemd's own account.
    #[error("systemctl start {unit} ended with {cause}: {why}")]
    UnitStart {
        unit: String,
        cause: Cause,
        why: String,
    },
    #[error("systemctl daemon-reload failed: {0}")]
    Reload(String),
    #[error("{0} has no main process after start")]
    NoMainProcess(String),
    #[error("{0} changed its main process during start")]
    MainProcessChanged(String),
}

/// Why a process that reports ready did not.
#[derive(Debug, thiserror::Error)]
pub enum NotReady {
    #[error("did not report ready within {0:?}")]
    Timeout(Duration),
    #[error("exited before it was ready")]
    Exited,
    /// It never became its program, and says why.
    #[error("{0}")]
    Failed(crate::sys::child::ExecFailure),
}
