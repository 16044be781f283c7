//! Why the sandboxed systemd did not come up, and why a unit failed
//! `systemd-analyze verify`.

/// Why the sandboxed systemd could not be had: its strategies are then
/// reported unavailable with this text.
#[derive(Debug, thiserror::Error)]
pub enum BootError {
    /// Not root, or the container root is not prepared.
    #[error("{0}")]
    Unavailable(String),
    #[error("cannot start the systemd guard: {0}")]
    Guard(#[source] std::io::Error),
    /// What the guard (a process of its own) said went wrong.
    #[error("{0}")]
    GuardSaid(String),
    #[error("the systemd guard said nothing: {0}")]
    GuardSilent(#[source] std::io::Error),
    #[error("the sandboxed systemd did not come up within 90 s")]
    Timeout,
}

/// Why a unit did not pass `systemd-analyze verify`.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// The check cannot be made here; the unit is not at fault.
    #[error("systemd-analyze is not installed (Debian: systemd)")]
    NotInstalled,
    #[error("cannot {what}: {source}")]
    Scratch {
        what: String,
        source: std::io::Error,
    },
    /// What systemd-analyze said of the unit.
    #[error("{0}")]
    Complaints(String),
}
