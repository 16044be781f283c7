//! Exit codes, as documented in `stopbench --help`.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCode {
    /// The run completed.
    Success = 0,
    /// The run could not be done (sandbox refused, output not writable).
    Failure = 1,
    /// The scenario or the arguments are wrong.
    Usage = 2,
    /// `compare --fail-on` found a significant regression.
    Regression = 3,
    /// The run was interrupted; what was measured is on disk.
    Interrupted = 130,
}

/// An error that carries the exit code it should end the process with.
#[derive(Debug, thiserror::Error)]
#[error("{1}")]
pub struct Failure(pub ExitCode, pub String);
