//! The environment contract between the sandbox init and the processes it
//! re-executes from our own binary. Roles travel in the environment, never
//! in argv, because argv is what `pkill -f` matches.

use crate::scenario::Behaviour;
use std::time::Duration;

pub const ROLE: &str = "STOPBENCH_ROLE";
pub const BEHAVIOUR: &str = "STOPBENCH_BEHAVIOUR";
pub const CLEANUP: &str = "STOPBENCH_CLEANUP_NS";
pub const EXIT_AFTER: &str = "STOPBENCH_EXIT_AFTER_NS";
pub const CHILDREN: &str = "STOPBENCH_CHILDREN";
/// The child writes one byte here once its signal handling is in place.
pub const READY_FD: libc::c_int = 3;
/// TERM-catching bystanders report `(pid, signal, sender)` here.
pub const ORACLE_FD: libc::c_int = 4;

pub fn behaviour() -> Behaviour {
    let name = std::env::var(BEHAVIOUR).unwrap_or_default();
    serde_json::from_value(serde_json::Value::String(name)).unwrap_or(Behaviour::ExitOnTerm)
}

pub fn duration(key: &str) -> Duration {
    Duration::from_nanos(
        std::env::var(key)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0),
    )
}

pub fn count(key: &str) -> u32 {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}
