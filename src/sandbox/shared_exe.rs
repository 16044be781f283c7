//! Our own binary where another user can reach it.
//!
//! A simulated victim, a same-program newcomer or a reuse holder run as
//! `user = "daemon"` execute stopbench's own binary. From a checkout under a
//! directory that user cannot traverse (a `mktemp -d` directory is 0700, and
//! so is `/root`), its exec fails with EACCES and every trial would be an
//! error. Copying the binary would cost a debug build's whole size per run;
//! a bind mount costs nothing: in the sandbox's private mount namespace a
//! small tmpfs (mode 0755) goes over [`DIR`], and the binary is bound onto a
//! file inside it. The file is the same inode, so its device and inode (what
//! `start-stop-daemon --exec` compares with `/proc/PID/exe`) are the
//! binary's own; only the path differs, and only inside the sandbox.
//!
//! The mount point is created on the host once, empty (the tmpfs over it
//! exists only in each sandbox's mount namespace, so concurrent runs do not
//! see each other's). Another user's *own* program that they cannot reach is
//! refused before the run instead (see [`unreachable_dir`]).

use nix::mount::{mount, MsFlags};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Where other users find our binary inside a sandbox.
pub const DIR: &str = "/run/stopbench";
/// The binary's path inside [`DIR`].
pub const EXE: &str = "/run/stopbench/stopbench";

/// Why the binary could not be made reachable.
#[derive(Debug, thiserror::Error)]
pub enum SharedExeError {
    #[error("cannot create `{DIR}` for the binary other users run: {0}")]
    MountPoint(std::io::Error),
    #[error("cannot mount a tmpfs over `{DIR}` in the sandbox: {0}")]
    Tmpfs(nix::Error),
    #[error("cannot create `{EXE}` in the sandbox's tmpfs: {0}")]
    Target(std::io::Error),
    #[error("cannot bind `{exe}` onto `{EXE}` in the sandbox: {source}")]
    Bind { exe: String, source: nix::Error },
}

/// In the sandbox's private mount namespace (as root): binds `exe` onto
/// [`EXE`] and returns that path.
pub fn publish(exe: &str) -> Result<String, SharedExeError> {
    match std::fs::create_dir(DIR) {
        Ok(()) => {
            std::fs::set_permissions(DIR, std::fs::Permissions::from_mode(0o755))
                .map_err(SharedExeError::MountPoint)?;
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(SharedExeError::MountPoint(e)),
    }
    mount(
        Some("tmpfs"),
        DIR,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some("mode=0755,size=64k"),
    )
    .map_err(SharedExeError::Tmpfs)?;
    std::fs::File::create(EXE).map_err(SharedExeError::Target)?;
    mount(Some(exe), EXE, None::<&str>, MsFlags::MS_BIND, None::<&str>).map_err(|source| {
        SharedExeError::Bind {
            exe: exe.to_string(),
            source,
        }
    })?;
    Ok(EXE.to_string())
}

/// The first directory on the way to `path` that the user `(uid, gid)`
/// (with no supplementary groups, as stopbench runs other users) cannot
/// search, or `None` when every one can be. Mode bits only: an ACL that
/// grants more is not seen, so this errs towards refusing.
pub fn unreachable_dir(path: &Path, uid: u32, gid: u32) -> Option<PathBuf> {
    let mut dirs: Vec<&Path> = path.ancestors().skip(1).collect();
    dirs.reverse();
    dirs.into_iter()
        .find(|dir| {
            let Ok(meta) = std::fs::metadata(dir) else {
                return true;
            };
            let mode = meta.mode();
            let bit = if meta.uid() == uid {
                0o100
            } else if meta.gid() == gid {
                0o010
            } else {
                0o001
            };
            mode & bit == 0
        })
        .map(Path::to_path_buf)
}

/// Why the scenario's own program, or a file its command line names, is
/// out of reach of the user it runs as; `None` when all are in reach.
/// Our own binary is not checked: [`publish`] makes it reachable.
pub fn refusal(scenario: &crate::scenario::Scenario) -> Option<String> {
    let victim = &scenario.victim;
    let user = victim.user.as_ref()?;
    if victim.behaviour != crate::scenario::Behaviour::Exec {
        return None;
    }
    let program = crate::victim::executable(victim, "");
    let named = victim.command.0[1..]
        .iter()
        .filter(|w| w.starts_with('/') && Path::new(w).exists())
        .map(String::as_str);
    std::iter::once(program.as_str())
        .chain(named)
        .find_map(|path| {
            let dir = unreachable_dir(Path::new(path), user.uid, user.gid)?;
            Some(format!(
                "`victim.user = \"{name}\"`: user `{name}` (uid {uid}) cannot reach `{path}`: the \
             directory `{dir}` is not searchable by that user (mode {mode:o}). Move the program \
             (and what it reads) to a directory that user can traverse, or open the way for it \
             (e.g. `chmod o+x {dir}`), or leave `victim.user` out.",
                name = user.name,
                uid = user.uid,
                dir = dir.display(),
                mode = std::fs::metadata(&dir).map_or(0, |m| m.mode() & 0o7777),
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_closed_directory_on_the_way_is_named() {
        let top = tempfile::tempdir().unwrap();
        let closed = top.path().join("closed");
        let inner = closed.join("inner");
        std::fs::create_dir_all(&inner).unwrap();
        let program = inner.join("daemon");
        std::fs::write(&program, "#!/bin/sh\n").unwrap();
        for dir in [top.path(), &inner] {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        std::fs::set_permissions(&closed, std::fs::Permissions::from_mode(0o700)).unwrap();
        let owner = std::fs::metadata(&closed).unwrap().uid();
        // Another user (not the owner, not its group) is stopped at `closed`.
        let other = owner.wrapping_add(4242);
        assert_eq!(unreachable_dir(&program, other, 4242), Some(closed.clone()));
        // The owner passes.
        let group = std::fs::metadata(&closed).unwrap().gid();
        assert_eq!(unreachable_dir(&program, owner, group), None);
        // Opened to others, it no longer stops anyone.
        std::fs::set_permissions(&closed, std::fs::Permissions::from_mode(0o711)).unwrap();
        assert_eq!(unreachable_dir(&program, other, 4242), None);
    }
}
