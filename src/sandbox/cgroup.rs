//! cgroup v2 for the `cgroup` strategy: a tree of stopbench's own under the
//! cgroup2 mount (`/sys/fs/cgroup`, or `/sys/fs/cgroup/unified` on a hybrid
//! layout), one child cgroup per victim. stopbench writes only to cgroups it
//! created, and removes them.

use std::fs;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Where cgroup2 is mounted, from /proc/self/mountinfo, read once: every
/// trial names its victim's cgroup relative to it.
pub fn cgroup2_mount() -> Option<PathBuf> {
    static MOUNT: std::sync::OnceLock<Option<PathBuf>> = std::sync::OnceLock::new();
    MOUNT.get_or_init(read_cgroup2_mount).clone()
}

fn read_cgroup2_mount() -> Option<PathBuf> {
    let text = fs::read_to_string("/proc/self/mountinfo").ok()?;
    text.lines().find_map(|line| {
        let (left, right) = line.split_once(" - ")?;
        if !right.starts_with("cgroup2 ") {
            return None;
        }
        left.split(' ').nth(4).map(PathBuf::from)
    })
}

/// Name prefix of stopbench's cgroups; the suffix is the owning process's PID.
pub const PREFIX: &str = "stopbench-";

/// stopbench's cgroup for one run.
pub struct CgroupTree {
    pub base: PathBuf,
}

/// A victim's own cgroup.
pub struct VictimCgroup {
    pub path: PathBuf,
    /// Open directory, for `CLONE_INTO_CGROUP`.
    pub dir: OwnedFd,
}

/// Why a cgroup could not be made or used.
#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error("no cgroup2 file system is mounted (cgroup v1 only)")]
    NoCgroup2,
    #[error("`{0}` is not a usable cgroup2 mount")]
    Unusable(PathBuf),
    #[error("cannot create cgroup `{path}`: {source}")]
    Create {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot open cgroup `{path}`: {source}")]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("this kernel has no cgroup.kill (needs Linux 5.14+)")]
    NoKill,
}

impl CgroupTree {
    /// Creates `<cgroup2>/stopbench-<owner>`, after removing empty trees left
    /// by runs whose owner is gone (a run killed with SIGKILL).
    pub fn create(owner: u32) -> Result<Self, CgroupError> {
        let mount = cgroup2_mount().ok_or(CgroupError::NoCgroup2)?;
        if !mount.join("cgroup.kill").exists() && !mount.join("cgroup.procs").exists() {
            return Err(CgroupError::Unusable(mount));
        }
        remove_stale(&mount);
        let base = mount.join(format!("{PREFIX}{owner}"));
        if let Err(source) = fs::create_dir(&base) {
            return Err(CgroupError::Create { path: base, source });
        }
        if !base.join("cgroup.kill").exists() {
            let _ = fs::remove_dir(&base);
            return Err(CgroupError::NoKill);
        }
        Ok(Self { base })
    }

    /// The victim cgroup `name`: made, or used again when a trial left it
    /// empty (a mkdir and rmdir per trial cost more than the rest of a fast
    /// trial's cgroup work).
    pub fn child(&self, name: &str) -> Result<VictimCgroup, CgroupError> {
        let path = self.base.join(name);
        match fs::create_dir(&path) {
            Err(source) if source.kind() != std::io::ErrorKind::AlreadyExists => {
                return Err(CgroupError::Create { path, source })
            }
            _ => {}
        }
        let dir = match fs::File::open(&path) {
            Ok(dir) => dir,
            Err(source) => return Err(CgroupError::Open { path, source }),
        };
        Ok(VictimCgroup {
            path,
            dir: dir.into(),
        })
    }

    /// Empties and removes every child, then the tree itself.
    pub fn remove(&self) {
        if let Ok(entries) = fs::read_dir(&self.base) {
            for entry in entries.flatten().filter(|e| e.path().is_dir()) {
                remove(&entry.path(), Duration::from_secs(2));
            }
        }
        remove(&self.base, Duration::from_secs(2));
    }
}

/// SIGKILLs everything in the cgroup (and below) in one kernel operation.
pub fn kill(path: &Path) -> std::io::Result<()> {
    fs::write(path.join("cgroup.kill"), "1")
}

/// PIDs in the cgroup itself.
pub fn procs(path: &Path) -> Vec<i32> {
    fs::read_to_string(path.join("cgroup.procs"))
        .map(|t| t.lines().filter_map(|l| l.trim().parse().ok()).collect())
        .unwrap_or_default()
}

/// PIDs in the cgroup and every cgroup below it. An empty cgroup is known
/// from one line of `cgroup.events`, and one with no cgroup below it from
/// `cgroup.stat`, without listing its directory of interface files.
pub fn procs_below(path: &Path) -> Vec<i32> {
    // Only a file that says so makes it empty: one that cannot be read
    // proves nothing, and the members are read as they are.
    let events = fs::read_to_string(path.join("cgroup.events"));
    if events.is_ok_and(|t| t.lines().any(|l| l == "populated 0")) {
        return Vec::new();
    }
    let mut pids = procs(path);
    if !has_descendants(path) {
        return pids;
    }
    if let Ok(entries) = fs::read_dir(path) {
        // The entry's own type (no stat of each interface file).
        let is_dir = |e: &fs::DirEntry| e.file_type().is_ok_and(|t| t.is_dir());
        for e in entries.flatten().filter(is_dir) {
            pids.extend(procs_below(&e.path()));
        }
    }
    pids
}

/// The cgroup's path as /proc/PID/cgroup names it: relative to the cgroup2
/// mount (this process's cgroup namespace is the host's).
pub fn proc_name(path: &Path) -> Option<String> {
    let rel = path.strip_prefix(cgroup2_mount()?).ok()?;
    Some(format!("/{}", rel.display()))
}

/// Whether any cgroup lives below this one (`nr_descendants` of
/// `cgroup.stat`); `true` when that cannot be read.
fn has_descendants(path: &Path) -> bool {
    fs::read_to_string(path.join("cgroup.stat")).map_or(true, |t| {
        t.lines()
            .find_map(|l| l.strip_prefix("nr_descendants "))
            .is_none_or(|n| n.trim() != "0")
    })
}

/// Whether any process is left in the cgroup or below it.
pub fn populated(path: &Path) -> bool {
    fs::read_to_string(path.join("cgroup.events"))
        .map(|t| t.lines().any(|l| l == "populated 1"))
        .unwrap_or(false)
}

/// Kills what is left, waits for it to be gone, removes the directory.
pub fn remove(path: &Path, limit: Duration) {
    if !path.exists() {
        return;
    }
    let deadline = Instant::now() + limit;
    while populated(path) && Instant::now() < deadline {
        let _ = kill(path);
        std::thread::sleep(Duration::from_millis(2));
    }
    while fs::remove_dir(path).is_err() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Empties a cgroup tree with `cgroup.kill` and removes it, deepest first.
pub fn remove_tree(path: &Path, limit: Duration) {
    let deadline = Instant::now() + limit;
    let _ = kill(path);
    while populated(path) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
        let _ = kill(path);
    }
    fn dirs(dir: &Path) {
        if let Ok(entries) = fs::read_dir(dir) {
            for e in entries.flatten().filter(|e| e.path().is_dir()) {
                dirs(&e.path());
            }
        }
        let _ = fs::remove_dir(dir);
    }
    dirs(path);
}

/// Removes `stopbench-<pid>` trees whose owner no longer runs.
fn remove_stale(mount: &Path) {
    let Ok(entries) = fs::read_dir(mount) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(owner) = name
            .strip_prefix(PREFIX)
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if !Path::new(&format!("/proc/{owner}")).exists() {
            CgroupTree { base: entry.path() }.remove();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_cgroup2_mount_if_any() {
        // Read independently: /proc/mounts (not mountinfo), and the file
        // system's magic number from statfs.
        let mounts = fs::read_to_string("/proc/mounts").unwrap();
        let listed: Vec<&str> = mounts
            .lines()
            .filter_map(|l| {
                let mut words = l.split(' ');
                let target = words.nth(1)?;
                (words.next()? == "cgroup2").then_some(target)
            })
            .collect();
        match cgroup2_mount() {
            Some(mount) => {
                assert!(listed.contains(&mount.to_str().unwrap()), "{listed:?}");
                let fs = rustix::fs::statfs(&mount).unwrap();
                assert_eq!(fs.f_type as u64, 0x6367_7270, "not cgroup2");
            }
            None => assert!(listed.is_empty(), "missed {listed:?}"),
        }
    }
}
