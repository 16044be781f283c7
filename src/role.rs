//! Roles: the same binary runs as the CLI, the sandbox helper, a simulated
//! victim or a bystander. The role travels in the environment because the
//! command line belongs to the scenario (it is what `pkill -f` matches).

use crate::victim::env::ROLE;

/// Runs the role named in the environment, if any; returns its exit code.
pub fn dispatch() -> Option<i32> {
    let role = std::env::var(ROLE).ok()?;
    match role.as_str() {
        "sandbox" => Some(crate::sandbox::init::helper_main()),
        "victim" => {
            name_after_argv0();
            crate::victim::daemon::main()
        }
        "bystander" => {
            name_after_argv0();
            crate::churn::bystander::main()
        }
        "crowd-keeper" => crate::churn::crowd::keeper_main(),
        "crowd-member" => {
            name_after_argv0();
            crate::churn::crowd::member_main()
        }
        "systemd-guard" => Some(crate::systemd::guard::main()),
        _ => None,
    }
}

/// Takes the base name of argv[0] as the process name (`/proc/PID/comm`),
/// as the program the scenario names would have: tools that match by name
/// (`killall`, `start-stop-daemon --name`) then see the daemon, not
/// stopbench. The kernel keeps 15 bytes of it.
fn name_after_argv0() {
    let Some(arg0) = std::env::args_os().next() else {
        return;
    };
    let path = std::path::Path::new(&arg0);
    let Some(base) = path.file_name() else {
        return;
    };
    use std::os::unix::ffi::OsStrExt;
    if let Ok(name) = std::ffi::CString::new(base.as_bytes()) {
        let _ = nix::sys::prctl::set_name(&name);
    }
}
