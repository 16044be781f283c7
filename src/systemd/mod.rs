//! A real systemd for the `systemd` strategy: a minimal Debian root
//! (prepared by scripts/setup-systemd) booted with systemd-nspawn in cgroups
//! of stopbench's own, owned by a guard process that always tears it down.

pub mod error;
pub mod guard;
pub mod machine;
pub mod unit;

pub use machine::SystemdMachine;

use crate::scenario::SystemdRoot;

/// Where scripts/setup-systemd caches each root (override of the host's:
/// STOPBENCH_SYSTEMD_ROOT; of trixie's: STOPBENCH_SYSTEMD_ROOT_TRIXIE).
pub fn root_dir(root: SystemdRoot) -> std::path::PathBuf {
    let (var, default) = match root {
        SystemdRoot::Host => (
            "STOPBENCH_SYSTEMD_ROOT",
            "/var/cache/stopbench/systemd-root",
        ),
        SystemdRoot::Trixie => (
            "STOPBENCH_SYSTEMD_ROOT_TRIXIE",
            "/var/cache/stopbench/systemd-root-trixie",
        ),
    };
    std::env::var_os(var)
        .map(Into::into)
        .unwrap_or_else(|| default.into())
}

/// How scripts/setup-systemd prepares a root.
fn setup_command(root: SystemdRoot) -> &'static str {
    match root {
        SystemdRoot::Host => "scripts/setup-systemd",
        SystemdRoot::Trixie => "scripts/setup-systemd --trixie",
    }
}

/// Why the sandboxed systemd cannot be had here, if it cannot.
pub fn unavailable_reason(wanted: SystemdRoot) -> Option<String> {
    if !nix::unistd::geteuid().is_root() {
        return Some(
            "a sandboxed systemd needs root (systemd-nspawn); run stopbench as root".into(),
        );
    }
    let root = root_dir(wanted);
    if !root.join(".stopbench-complete").exists() {
        return Some(format!(
            "the sandboxed systemd is not prepared at `{}`: run {} (as root)",
            root.display(),
            setup_command(wanted)
        ));
    }
    if which("systemd-nspawn").is_none() || which("nsenter").is_none() {
        return Some(
            "systemd-nspawn or nsenter is missing: run scripts/setup-systemd (as root)".into(),
        );
    }
    if crate::sandbox::cgroup::cgroup2_mount().is_none() {
        return Some("no cgroup2 file system is mounted".into());
    }
    None
}

pub fn which(program: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH")
        .map(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join(program))
                .find(|f| f.is_file())
        })
        .unwrap_or(None)
}
