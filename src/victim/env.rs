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
/// `hang` under a watchdog: where each ping's CLOCK_MONOTONIC µs is written.
pub const PING_FILE: &str = "STOPBENCH_PING_FILE";
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

/// The ready pipe's write end, which the spawner placed at [`READY_FD`];
/// `None` once taken (dropping it closes the fd, so it is taken at most once).
pub fn take_ready_fd() -> Option<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    use std::sync::atomic::{AtomicBool, Ordering};
    static TAKEN: AtomicBool = AtomicBool::new(false);
    if TAKEN.swap(true, Ordering::SeqCst) {
        return None;
    }
    // Not every process gets a ready pipe (a reuse holder, a daemon under
    // systemd, which reports through $NOTIFY_SOCKET): no fd, nothing to own.
    // SAFETY: F_GETFD only reads the fd's flags.
    if unsafe { libc::fcntl(READY_FD, libc::F_GETFD) } < 0 {
        return None;
    }
    // SAFETY: the fd is open, nothing else in this process owns READY_FD,
    // and the flag above hands it out once.
    Some(unsafe { std::os::fd::OwnedFd::from_raw_fd(READY_FD) })
}

/// Reports ready to the spawner (one byte) and closes the pipe.
pub fn report_ready() {
    if let Some(fd) = take_ready_fd() {
        let _ = nix::unistd::write(&fd, b"r");
    }
}
