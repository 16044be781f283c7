//! Roles: the same binary runs as the CLI, the sandbox helper, a simulated
//! victim or a bystander. The role travels in the environment because the
//! command line belongs to the scenario (it is what `pkill -f` matches).

use crate::victim::env::ROLE;

/// Runs the role named in the environment, if any; returns its exit code.
pub fn dispatch() -> Option<i32> {
    let role = std::env::var(ROLE).ok()?;
    match role.as_str() {
        "sandbox" => Some(crate::sandbox::init::helper_main()),
        "victim" => crate::victim::daemon::main(),
        "bystander" => crate::churn::bystander::main(),
        "systemd-guard" => Some(crate::systemd::guard::main()),
        _ => None,
    }
}
