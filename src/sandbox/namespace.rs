//! Building the sandbox: new PID and mount namespaces (inside a user
//! namespace when not root), a private /proc, and the namespace's own pid_max.
//!
//! `unshare(CLONE_NEWUSER)` fails in a multithreaded process, so this runs in
//! a fresh exec of our binary before any thread exists; after
//! `unshare(CLONE_NEWPID)` only the next child becomes PID 1.

use super::wire::SandboxMode;
use nix::mount::{mount, MsFlags};
use nix::sched::{unshare, CloneFlags};

/// Why the sandbox's namespaces, its /proc or its pid_max could not be made.
#[derive(Debug, thiserror::Error)]
pub enum NamespaceError {
    #[error("a systemd machine's namespaces are entered with nsenter, not unshared")]
    SystemdMachine,
    #[error("cannot create PID and mount namespaces as root: unshare failed: {0}")]
    AsRoot(nix::Error),
    #[error(
        "cannot create a user namespace as uid {uid}: unshare(CLONE_NEWUSER) failed: {source}. \
         Unprivileged user namespaces are disabled on this machine \
         (kernel.unprivileged_userns_clone=0, user.max_user_namespaces=0, or an AppArmor \
         restriction such as Ubuntu's kernel.apparmor_restrict_unprivileged_userns=1). \
         Run stopbench as root, or allow user namespaces. stopbench never runs these \
         strategies in the host's PID space."
    )]
    UserNamespace { uid: u32, source: nix::Error },
    #[error("cannot write `{path}` in the new user namespace: {source}")]
    IdMap {
        path: &'static str,
        source: std::io::Error,
    },
    #[error("cannot make mounts private in the sandbox: {0}")]
    PrivateMounts(nix::Error),
    #[error("cannot bind the sandbox's /proc and pidfile directory into {target:?}: {source}")]
    BindIntoRoot {
        target: std::path::PathBuf,
        source: nix::Error,
    },
    #[error(
        "cannot mount the sandbox's own tmpfs over {dir:?} for the victim's pidfile: {source}"
    )]
    PidfileDir {
        dir: std::path::PathBuf,
        source: nix::Error,
    },
    #[error("cannot mount a private /proc in the sandbox: {0}")]
    Proc(nix::Error),
    #[error(
        "cannot set pid_max to {value} in the sandbox ({source}): per-namespace pid_max needs \
         Linux 6.14+ (this kernel: {kernel}); numbers will come back only after a wrap of the \
         namespace's pid_max {before}"
    )]
    SetPidMax {
        value: u32,
        source: std::io::Error,
        kernel: String,
        before: String,
    },
    #[error("cannot read pid_max back: {0}")]
    ReadPidMax(crate::model::host::HostError),
    #[error("pid_max reads back {after} after writing {value}")]
    PidMaxIgnored { value: u32, after: u32 },
}

/// Enters new namespaces; explains the refusal when the kernel says no.
pub fn enter(mode: SandboxMode) -> Result<(), NamespaceError> {
    let base = CloneFlags::CLONE_NEWPID | CloneFlags::CLONE_NEWNS;
    match mode {
        SandboxMode::SystemdMachine => Err(NamespaceError::SystemdMachine),
        SandboxMode::Root => unshare(base).map_err(NamespaceError::AsRoot),
        SandboxMode::UserNamespace => {
            let uid = nix::unistd::geteuid();
            let gid = nix::unistd::getegid();
            unshare(base | CloneFlags::CLONE_NEWUSER).map_err(|source| {
                NamespaceError::UserNamespace {
                    uid: uid.as_raw(),
                    source,
                }
            })?;
            let write = |path: &'static str, text: String| {
                std::fs::write(path, text).map_err(|source| NamespaceError::IdMap { path, source })
            };
            write("/proc/self/setgroups", "deny".into())?;
            write("/proc/self/uid_map", format!("0 {uid} 1"))?;
            write("/proc/self/gid_map", format!("0 {gid} 1"))?;
            Ok(())
        }
    }
}

/// In PID 1 of the new namespace: make mounts private and mount our own /proc,
/// so `ps`, `pkill` and `kill` see only the sandbox.
pub fn mount_private_proc() -> Result<(), NamespaceError> {
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .map_err(NamespaceError::PrivateMounts)?;
    mount(
        Some("proc"),
        "/proc",
        Some("proc"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        None::<&str>,
    )
    .map_err(NamespaceError::Proc)
}

/// In the sandbox's private mount namespace: an empty tmpfs over `dir`,
/// where the victim's pidfile lives, so a pidfile (and anything a stop tool
/// writes beside it) never reaches the host.
pub fn mount_pidfile_dir(dir: &std::path::Path) -> Result<(), NamespaceError> {
    mount(
        Some("tmpfs"),
        dir,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        Some("mode=0755,size=1m"),
    )
    .map_err(|source| NamespaceError::PidfileDir {
        dir: dir.to_path_buf(),
        source,
    })
}

/// In the sandbox's private mount namespace: its /proc and the pidfile's
/// directory bound into the container root `root`, so a tool run there
/// with `chroot` (OpenRC's start-stop-daemon) sees the sandbox's processes
/// and the victim's pidfile.
pub fn bind_into_root(
    root: &std::path::Path,
    pidfile_dir: Option<&std::path::Path>,
) -> Result<(), NamespaceError> {
    let dirs = std::iter::once(std::path::Path::new("/proc")).chain(pidfile_dir);
    for dir in dirs {
        let target = root.join(dir.strip_prefix("/").unwrap_or(dir));
        mount(
            Some(dir),
            &target,
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None::<&str>,
        )
        .map_err(|source| NamespaceError::BindIntoRoot { target, source })?;
    }
    Ok(())
}

/// Sets the namespace's pid_max (Linux 6.14+). Returns the value read back,
/// or why it could not be set.
pub fn set_pid_max(value: u32) -> Result<u32, NamespaceError> {
    let path = "/proc/sys/kernel/pid_max";
    let before = crate::model::host::pid_max().ok();
    std::fs::write(path, value.to_string()).map_err(|source| NamespaceError::SetPidMax {
        value,
        source,
        kernel: kernel_release(),
        before: before.map_or("(unknown)".to_string(), |b| b.to_string()),
    })?;
    let after = crate::model::host::pid_max().map_err(NamespaceError::ReadPidMax)?;
    if after != value {
        return Err(NamespaceError::PidMaxIgnored { value, after });
    }
    Ok(after)
}

pub fn kernel_release() -> String {
    nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_else(|_| "unknown".into())
}
