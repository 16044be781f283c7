//! The victim: the daemon under test, started once per trial.

pub mod daemon;
pub mod env;

use crate::sandbox::spawn::ExecSpec;
use crate::scenario::{Behaviour, VictimConfig};
use std::os::fd::RawFd;

/// Builds the exec of one victim. Simulated behaviours re-execute our own
/// binary (`self_exe`) under the scenario's argv; `exec` runs the real program.
/// `exit_after` is this trial's draw from the scenario's range.
pub fn exec_spec(
    config: &VictimConfig,
    self_exe: &str,
    ready_fd: Option<RawFd>,
    exit_after: std::time::Duration,
) -> ExecSpec {
    let argv = &config.command.0;
    if config.behaviour == Behaviour::Exec {
        let env = vec![(
            "PATH".to_string(),
            crate::sandbox::inside::HELPER_PATH.to_string(),
        )];
        // Resolved as systemd resolves it (checked when the scenario was
        // read); argv stays as written, which is what `pkill -f` sees.
        let exe = crate::scenario::program::resolve(&argv[0])
            .map(|p| p.display().to_string())
            .unwrap_or_else(|_| argv[0].clone());
        return ExecSpec::new(&exe, argv, &env, Vec::new());
    }
    let env = vec![
        (env::ROLE.to_string(), "victim".to_string()),
        (
            env::BEHAVIOUR.to_string(),
            config.behaviour.name().to_string(),
        ),
        (
            env::CLEANUP.to_string(),
            config.cleanup.0.as_nanos().to_string(),
        ),
        (
            env::EXIT_AFTER.to_string(),
            exit_after.as_nanos().to_string(),
        ),
        (env::CHILDREN.to_string(), config.children.0.to_string()),
    ];
    let fds = ready_fd
        .map(|fd| vec![(fd, env::READY_FD)])
        .unwrap_or_default();
    ExecSpec::new(self_exe, argv, &env, fds)
}
