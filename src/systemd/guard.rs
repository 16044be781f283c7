//! The guard: the process that owns a sandboxed systemd's lifetime. It boots
//! systemd-nspawn inside cgroups it creates, tells the host the container's
//! leader PID, then waits for its stdin to close, which happens when
//! stopbench finishes or dies (even by SIGKILL, which the guard, not being
//! in the way of the kill, survives). Then it powers the container off and
//! removes every process, cgroup and /run entry it made. If nspawn itself
//! dies, the container's systemd keeps running, so the guard, not nspawn,
//! must do this.

use super::error::BootError;
use crate::sandbox::cgroup;
use std::io::{BufRead, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const ROOT: &str = "STOPBENCH_SD_ROOT";
pub const NAME: &str = "STOPBENCH_SD_NAME";
pub const EXE: &str = "STOPBENCH_SD_EXE";
/// Host paths to show in the container, one per line (see
/// `SandboxConfig::visible`).
pub const VISIBLE: &str = "STOPBENCH_SD_VISIBLE";
const NSPAWN_RUN: &str = "/run/systemd/nspawn";

struct Cgroups {
    unified: PathBuf,
    named: Option<PathBuf>,
}

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// Entry point of the guard role; returns the exit code.
pub fn main() -> i32 {
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGPIPE] {
        crate::sys::ignore_signal(sig);
    }
    let (Some(root), Some(name), Some(exe)) = (
        std::env::var_os(ROOT),
        std::env::var(NAME).ok(),
        std::env::var_os(EXE),
    ) else {
        say("error the guard was started without its settings");
        return 2;
    };
    let cgroups = match make_cgroups(&name) {
        Ok(c) => c,
        Err(e) => {
            say(&format!("error {e}"));
            return 1;
        }
    };
    let mut nspawn = None;
    let leader = boot(&root, &name, &exe, &cgroups, &mut nspawn);
    match &leader {
        Ok((pid, _)) => say(&format!("leader {pid}")),
        Err(e) => say(&format!("error {e}")),
    }
    if leader.is_ok() {
        // Block until the host closes stdin: finished, or gone.
        let mut sink = [0u8; 64];
        let mut stdin = std::io::stdin().lock();
        while matches!(stdin.read(&mut sink), Ok(n) if n > 0) {}
    }
    teardown(
        leader.ok().map(|(_, fd)| fd),
        nspawn,
        &cgroups,
        &name,
        &root,
    );
    0
}

fn make_cgroups(name: &str) -> Result<Cgroups, String> {
    let mount = cgroup::cgroup2_mount().ok_or("no cgroup2 file system is mounted")?;
    let unified = mount.join(name);
    std::fs::create_dir(&unified)
        .map_err(|e| format!("cannot create cgroup `{}`: {e}", unified.display()))?;
    // On a hybrid layout systemd also wants the v1 name=systemd hierarchy.
    let named_mount = Path::new("/sys/fs/cgroup/systemd");
    let named = (named_mount.join("cgroup.procs").exists()
        && unified.parent() != Some(Path::new("/sys/fs/cgroup")))
    .then(|| named_mount.join(name));
    if let Some(n) = &named {
        std::fs::create_dir(n)
            .map_err(|e| format!("cannot create cgroup `{}`: {e}", n.display()))?;
    }
    Ok(Cgroups { unified, named })
}

fn boot(
    root: &std::ffi::OsStr,
    name: &str,
    exe: &std::ffi::OsStr,
    cgroups: &Cgroups,
    nspawn: &mut Option<Child>,
) -> Result<(i32, OwnedFd), String> {
    let child = spawn_nspawn(root, name, exe, cgroups)?;
    let nspawn_pid = child.id() as i32;
    *nspawn = Some(child);
    let deadline = Instant::now() + Duration::from_secs(20);
    let leader = find_leader(nspawn_pid, nspawn, deadline)?;
    // A pidfd, checked against the parent, so teardown can never signal a recycled number.
    let fd = rustix::process::Pid::from_raw(leader)
        .ok_or_else(|| format!("the container's leader has no valid PID ({leader})"))
        .and_then(|pid| {
            rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty())
                .map_err(|e| format!("pidfd_open of the container's leader failed: {e}"))
        })?;
    // Checked again with the pidfd held: the number still names nspawn's
    // child that is its namespace's init, so the pidfd names the leader.
    if crate::sandbox::procfs::stat(leader).map(|s| s.ppid) != Some(nspawn_pid)
        || !is_namespace_init(leader)
    {
        return Err("the container's leader went away during boot".into());
    }
    wait_running(leader, deadline)?;
    Ok((leader, fd))
}

/// systemd-nspawn booting `root`, born inside our cgroups.
fn spawn_nspawn(
    root: &std::ffi::OsStr,
    name: &str,
    exe: &std::ffi::OsStr,
    cgroups: &Cgroups,
) -> Result<Child, String> {
    let procs: Vec<PathBuf> = std::iter::once(cgroups.unified.join("cgroup.procs"))
        .chain(cgroups.named.as_ref().map(|n| n.join("cgroup.procs")))
        .collect();
    let mut command = Command::new("systemd-nspawn");
    command
        .args([
            "--boot",
            "--register=no",
            "--keep-unit",
            "--private-network",
            "--link-journal=no",
        ])
        .args(["--console=read-only", "--read-only", "--volatile=overlay"])
        .arg("-D")
        .arg(root)
        .args(["-M", name])
        .arg(format!(
            "--bind-ro={}:/usr/local/bin/stopbench",
            exe.to_string_lossy()
        ))
        .args(visible_args())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // SAFETY: the hook runs in the forked child before exec; it only writes
    // files (no lock another thread of ours could hold: the guard is
    // single-threaded when it spawns nspawn).
    unsafe {
        // Join our cgroups before exec, so the container is born inside them.
        command.pre_exec(move || {
            let pid = std::process::id().to_string();
            for p in &procs {
                std::fs::write(p, &pid)?;
            }
            Ok(())
        });
    }
    command
        .spawn()
        .map_err(|e| format!("cannot start systemd-nspawn: {e}"))
}

/// nspawn's arguments for the host paths the run shows in the container:
/// a file bound read-only, a directory as an overlay whose upper layer is
/// a temporary directory nspawn removes (`LOWER::DEST`), so a daemon can
/// write its logs and state without changing the host.
fn visible_args() -> Vec<String> {
    let listed = std::env::var(VISIBLE).unwrap_or_default();
    listed
        .lines()
        .filter(|p| p.starts_with('/') && !p.contains(':'))
        .filter_map(|p| {
            let meta = std::fs::metadata(p).ok()?;
            Some(if meta.is_dir() {
                format!("--overlay={p}::{p}")
            } else {
                format!("--bind-ro={p}")
            })
        })
        .collect()
}

/// The container's leader: nspawn's first child is its transient "outer
/// child", which makes the container's init (parented to nspawn too) and
/// exits; the leader is the child that is PID 1 of a PID namespace of its own.
fn find_leader(
    nspawn_pid: i32,
    nspawn: &mut Option<Child>,
    deadline: Instant,
) -> Result<i32, String> {
    loop {
        let children =
            std::fs::read_to_string(format!("/proc/{nspawn_pid}/task/{nspawn_pid}/children"))
                .unwrap_or_default();
        if let Some(pid) = children
            .split_whitespace()
            .filter_map(|p| p.parse::<i32>().ok())
            .find(|&p| is_namespace_init(p))
        {
            return Ok(pid);
        }
        if Instant::now() > deadline
            || nspawn
                .as_mut()
                .is_some_and(|c| c.try_wait().ok().flatten().is_some())
        {
            return Err("systemd-nspawn did not start the container (is the root prepared? run scripts/setup-systemd)".into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits until the container's systemd runs (its private socket exists,
/// then `is-system-running --wait` says running or degraded).
fn wait_running(leader: i32, deadline: Instant) -> Result<(), String> {
    let socket = format!("/proc/{leader}/root/run/systemd/private");
    while !Path::new(&socket).exists() {
        if Instant::now() > deadline {
            return Err("the container's systemd did not come up within 20 s".into());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let state = Command::new("timeout")
        .args([
            "30",
            "nsenter",
            "-t",
            &leader.to_string(),
            "-a",
            "--",
            "systemctl",
            "is-system-running",
            "--wait",
        ])
        .output()
        .map_err(|e| format!("cannot run nsenter: {e}"))?;
    let text = String::from_utf8_lossy(&state.stdout).trim().to_string();
    if text != "running" && text != "degraded" {
        return Err(format!("the container's systemd is `{text}`, not running"));
    }
    Ok(())
}

/// Whether `pid` is PID 1 of a PID namespace nested in ours (its `NSpid:`
/// line has more than one number and ends in 1).
fn is_namespace_init(pid: i32) -> bool {
    let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return false;
    };
    status
        .lines()
        .find_map(|l| l.strip_prefix("NSpid:"))
        .is_some_and(|ids| {
            let ids: Vec<&str> = ids.split_whitespace().collect();
            ids.len() > 1 && ids.last() == Some(&"1")
        })
}

fn teardown(
    leader: Option<OwnedFd>,
    nspawn: Option<Child>,
    cgroups: &Cgroups,
    name: &str,
    root: &std::ffi::OsStr,
) {
    if let Some(fd) = &leader {
        // SIGRTMIN+4: systemd's "power off" request.
        let _ = crate::sys::pidfd_send_raw(fd.as_fd(), libc::SIGRTMIN() + 4);
    }
    if let Some(mut child) = nspawn {
        let deadline = Instant::now() + Duration::from_secs(10);
        while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill(); // our own child, by handle
        let _ = child.wait();
    }
    // Whatever is left in our cgroup: one kernel operation, no PIDs.
    cgroup::remove_tree(&cgroups.unified, Duration::from_secs(5));
    if let Some(named) = &cgroups.named {
        remove_dirs(named);
    }
    // nspawn's /run state: ours only. The image's lock file once no nspawn
    // runs (another stopbench container may share the image), then each
    // directory only if that left it empty, so nobody else's state is touched.
    let run = Path::new(NSPAWN_RUN);
    let _ = std::fs::remove_dir_all(run.join("propagate").join(name));
    if !nspawn_running() {
        if let Ok(meta) = std::fs::metadata(root) {
            use std::os::unix::fs::MetadataExt;
            let _ = std::fs::remove_file(run.join("locks").join(format!(
                "inode-{}:{}",
                meta.dev(),
                meta.ino()
            )));
        }
    }
    for dir in [run.join("propagate"), run.join("locks"), run.to_path_buf()] {
        let _ = std::fs::remove_dir(dir);
    }
}

/// Removes a (v1) cgroup directory tree, deepest first.
fn remove_dirs(dir: &Path) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten().filter(|e| e.path().is_dir()) {
            remove_dirs(&e.path());
        }
    }
    let _ = std::fs::remove_dir(dir);
}

/// Whether any systemd-nspawn runs on this machine (read-only look at /proc).
fn nspawn_running() -> bool {
    crate::sandbox::procfs::pids().into_iter().any(|p| {
        std::fs::read_to_string(format!("/proc/{p}/comm"))
            .is_ok_and(|c| c.trim() == "systemd-nspawn")
    })
}

/// Reads the guard's first line: `leader PID` or `error MESSAGE`.
pub fn read_leader(out: &mut impl BufRead) -> Result<i32, BootError> {
    let mut line = String::new();
    out.read_line(&mut line).map_err(BootError::GuardSilent)?;
    let line = line.trim();
    if let Some(pid) = line.strip_prefix("leader ") {
        return pid
            .parse()
            .map_err(|_| BootError::GuardSaid(format!("the systemd guard said `{line}`")));
    }
    let said = line
        .strip_prefix("error ")
        .unwrap_or("the systemd guard ended before the container was up");
    Err(BootError::GuardSaid(said.to_string()))
}
