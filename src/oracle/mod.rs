//! The oracle: who died of what during a trial, and which of those deaths
//! (or caught and pending signals) were misfires of the strategy under test.
//!
//! Churners and bystanders never die of a signal on their own, and nothing in
//! the sandbox sends signals but the strategy under test, init's own cleanup
//! (which is marked) and the victim's own program. So every other signal that
//! lands on a process that is not the victim or one of its descendants is a
//! misfire, unless the evidence shows the victim sent it (a `kill -1` from
//! the daemon): those are reported apart, never charged to the strategy.

mod attribution;

pub use attribution::{
    attribute, CaughtSignal, Delivered, Evidence, Hit, SentinelEvidence, StrategyActs,
};

use serde::{Deserialize, Serialize};

/// How a process ended, from `waitid`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cause {
    Exited(i32),
    Signaled(i32),
}

impl std::fmt::Display for Cause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Cause::Exited(code) => write!(f, "exit:{code}"),
            Cause::Signaled(sig) => {
                write!(f, "signal:{}", crate::scenario::signal::signal_name(*sig))
            }
        }
    }
}

/// How the oracle learned of a misfire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SeenBy {
    /// The hit process died of the signal (`waitid`).
    Death,
    /// A TERM-catching bystander reported the signal through the oracle pipe.
    Handler,
    /// A stopped bystander had the signal pending in /proc/PID/status.
    Pending,
    /// A helper's shell reaped its child, dead of the signal (trace shim).
    Parent,
    /// A helper's `kill()` of the sandbox's init, which the kernel drops
    /// (trace shim).
    Trace,
}

/// A signal from the strategy under test that reached another process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Misfire {
    pub hit_pid: i32,
    /// `churner`, `bystander`, `reuse-holder`, `helper` or `other`.
    pub hit_role: String,
    pub hit_cmdline: String,
    pub signal: String,
    pub seen_by: SeenBy,
}
