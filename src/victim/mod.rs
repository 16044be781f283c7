//! The victim: the daemon under test, started once per trial.

pub mod daemon;
pub mod env;

use crate::sandbox::spawn::ExecSpec;
use crate::scenario::{Behaviour, VictimConfig};
use std::os::fd::RawFd;

/// Builds the exec of one victim. Simulated behaviours re-execute our own
/// binary (`self_exe`) under the scenario's argv; `exec` runs the real program.
/// `exit_after` is this trial's draw from the scenario's range.
/// The file a victim runs: the real program for `exec`, else our own binary.
pub fn executable(config: &VictimConfig, self_exe: &str) -> String {
    if config.behaviour != Behaviour::Exec {
        return self_exe.to_string();
    }
    crate::scenario::program::resolve(&config.command.0[0])
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| config.command.0[0].clone())
}

/// Another instance of the victim's program, as a newcomer on its number:
/// the real program under the same command line for `exec`, else our own
/// binary under the victim's argv, idle as a bystander.
pub fn same_program_spec(config: &VictimConfig, self_exe: &str) -> ExecSpec {
    if config.behaviour == Behaviour::Exec {
        return exec_spec(config, self_exe, None, std::time::Duration::ZERO);
    }
    crate::churn::bystander::reuse_holder_spec(&config.command.0, self_exe)
}

/// The real victim's command line run under `prefix` (a supervisor such as
/// `timeout`, which execs the program by its resolved path).
pub fn under(prefix: &[String], config: &VictimConfig) -> ExecSpec {
    let mut argv = prefix.to_vec();
    argv.push(executable(config, ""));
    argv.extend(config.command.0[1..].iter().cloned());
    let env = vec![(
        "PATH".to_string(),
        crate::sandbox::inside::HELPER_PATH.to_string(),
    )];
    ExecSpec::new(&prefix[0], &argv, &env, Vec::new()).run_as(config.user.as_ref().map(|u| u.ids()))
}

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
        // The ready pipe only learns why the exec failed, if it did: a real
        // program does not report ready, and does not inherit the pipe.
        let fds = ready_fd
            .map(|fd| vec![(fd, env::READY_FD)])
            .unwrap_or_default();
        let spec = ExecSpec::new(&executable(config, self_exe), argv, &env, fds)
            .run_as(config.user.as_ref().map(|u| u.ids()));
        return match ready_fd {
            Some(_) => spec.reporting_failure_only_to(env::READY_FD),
            None => spec,
        };
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
    let spec =
        ExecSpec::new(self_exe, argv, &env, fds).run_as(config.user.as_ref().map(|u| u.ids()));
    match ready_fd {
        Some(_) => spec.reporting_failure_to(env::READY_FD),
        None => spec,
    }
}
