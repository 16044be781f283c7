//! A real systemd for the `systemd` strategy: a minimal Debian root
//! (prepared by scripts/setup-systemd) booted with systemd-nspawn in cgroups
//! of stopbench's own, owned by a guard process that always tears it down.

pub mod error;
pub mod guard;
pub mod machine;
pub mod unit;

pub use machine::SystemdMachine;

/// Where scripts/setup-systemd caches the root (override: STOPBENCH_SYSTEMD_ROOT).
pub fn root_dir() -> std::path::PathBuf {
    std::env::var_os("STOPBENCH_SYSTEMD_ROOT")
        .map(Into::into)
        .unwrap_or_else(|| "/var/cache/stopbench/systemd-root".into())
}

/// Why the sandboxed systemd cannot be had here, if it cannot.
pub fn unavailable_reason() -> Option<String> {
    if !nix::unistd::geteuid().is_root() {
        return Some(
            "a sandboxed systemd needs root (systemd-nspawn); run stopbench as root".into(),
        );
    }
    let root = root_dir();
    if !root.join(".stopbench-complete").exists() {
        return Some(format!(
            "the sandboxed systemd is not prepared at `{}`: run scripts/setup-systemd (as root)",
            root.display()
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
