//! Reading the sandbox's own /proc: who is whose child, start times (to tell
//! one holder of a PID number from the next), pending signals.

use std::fs;

/// Fields of /proc/PID/stat that the oracle needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    pub state: char,
    pub ppid: i32,
    /// Start time in clock ticks since boot: with the PID it names one process.
    pub start: u64,
}

pub fn stat(pid: i32) -> Option<Stat> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // comm may hold spaces and parentheses: parse after the last ')'.
    let rest = &text[text.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    Some(Stat {
        state: fields.first()?.chars().next()?,
        ppid: fields.get(1)?.parse().ok()?,
        start: fields.get(19)?.parse().ok()?,
    })
}

/// The command line as `pkill -f` matches it (NULs shown as spaces); for a
/// zombie, whose memory is gone, the `comm` name in brackets.
pub fn cmdline(pid: i32) -> String {
    let raw = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let text: String = String::from_utf8_lossy(&raw)
        .trim_end_matches('\0')
        .replace('\0', " ");
    if text.is_empty() {
        let comm = fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        format!("[{}]", comm.trim())
    } else {
        text
    }
}

/// The process's cgroup v2 as it names it (the `0::` line of
/// /proc/PID/cgroup), also readable for a zombie; `None` where there is no
/// such line (no cgroup2 in this view) or no process. A zombie whose cgroup
/// was removed still names it.
pub fn cgroup(pid: i32) -> Option<String> {
    let text = fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    // A zombie reaped after its cgroup was removed names it with a suffix.
    text.lines()
        .find_map(|l| l.strip_prefix("0::"))
        .map(|c| c.trim_end_matches(" (deleted)").to_string())
}

/// Every PID visible in this /proc.
pub fn pids() -> Vec<i32> {
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect()
}

/// `(pid, start)` of every live descendant of `root`.
pub fn descendants(root: i32) -> Vec<(i32, u64)> {
    below(root, |_| false)
        .found
        .into_iter()
        .filter(|(_, st)| st.state != 'Z')
        .map(|(pid, st)| (pid, st.start))
        .collect()
}

/// Every process visible in this /proc with its stat, read once.
pub fn scan() -> Vec<(i32, Stat)> {
    pids()
        .into_iter()
        .filter_map(|p| Some((p, stat(p)?)))
        .collect()
}

/// The children of `pid`, those of every thread of it (a child is listed
/// under the thread that forked it, an orphan under init's main thread),
/// from /proc/PID/task/TID/children. A few short files, where a scan of
/// /proc reads every process's stat: the cost follows the family, not the
/// number of processes in the sandbox.
pub fn children(pid: i32) -> Vec<i32> {
    let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for task in tasks.flatten() {
        if let Ok(text) = fs::read_to_string(task.path().join("children")) {
            found.extend(
                text.split_ascii_whitespace()
                    .filter_map(|w| w.parse::<i32>().ok()),
            );
        }
    }
    found
}

/// Every process below `root` (its children, theirs, ...) with its stat,
/// zombies included, through the children lists. Those `leaf` names are left
/// out, and what is below them unvisited: init's churners, bystanders and
/// sentinel never fork, and a crowd's keeper answers for its crowd.
///
/// A children list read while it changes may skip an entry (the kernel
/// resumes after the entry it last returned, by position if that one was
/// reaped meanwhile); a caller that must not miss a process reads twice,
/// unless it holds what keeps `root`'s own lists still (init's table lock,
/// under which nothing reaps) and no other list was read: see
/// [`Below::nested`].
pub fn below(root: i32, leaf: impl Fn(i32) -> bool) -> Below {
    let mut found: Vec<(i32, Stat)> = Vec::new();
    let mut nested = false;
    let mut seen = std::collections::HashSet::new();
    let mut frontier = vec![root];
    while let Some(parent) = frontier.pop() {
        nested |= parent != root;
        for pid in children(parent) {
            if leaf(pid) || !seen.insert(pid) {
                continue;
            }
            let Some(st) = stat(pid) else {
                continue;
            };
            // A zombie's children went to a reaper at its exit.
            if st.state != 'Z' {
                frontier.push(pid);
            }
            found.push((pid, st));
        }
    }
    Below { found, nested }
}

/// What [`below`] found.
pub struct Below {
    /// Every process below the root, with its stat, zombies included.
    pub found: Vec<(i32, Stat)>,
    /// Whether a children list other than the root's own was read.
    pub nested: bool,
}

/// `(pid, start)` of every live descendant of `root` in a [`scan`], by a
/// parent index: one pass over the scan, whatever the family's size.
pub fn descendants_in(all: &[(i32, Stat)], root: i32) -> Vec<(i32, u64)> {
    let mut by_parent: std::collections::HashMap<i32, Vec<(i32, u64)>> =
        std::collections::HashMap::new();
    for (pid, st) in all.iter().filter(|(_, st)| st.state != 'Z') {
        by_parent.entry(st.ppid).or_default().push((*pid, st.start));
    }
    let mut found = Vec::new();
    let mut frontier = vec![root];
    while let Some(parent) = frontier.pop() {
        for &(pid, start) in by_parent.remove(&parent).iter().flatten() {
            found.push((pid, start));
            frontier.push(pid);
        }
    }
    found
}

/// One scan of this /proc as `pgrep -f` makes it: list the directory and
/// read every process's command line, in the system calls a C program
/// makes (the loop `procscan` of scripts/floors/floors.c is its twin):
/// the floor under any tool that finds processes by name. Returns its time
/// and the processes it saw; `None` where /proc cannot be opened.
pub fn scan_floor() -> Option<(std::time::Duration, usize)> {
    let started = std::time::Instant::now();
    // SAFETY: plain system calls on descriptors opened and closed here,
    // into buffers owned here; getdents64 records are read within the
    // length the kernel returned.
    unsafe {
        let dir = libc::open(
            c"/proc".as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
        );
        if dir < 0 {
            return None;
        }
        let mut entries = vec![0u8; 32 * 1024];
        let mut cmdline = [0u8; 4096];
        let mut path = [0u8; 32];
        let mut seen = 0;
        loop {
            let n = libc::syscall(
                libc::SYS_getdents64,
                dir,
                entries.as_mut_ptr(),
                entries.len(),
            );
            if n <= 0 {
                break;
            }
            let mut at = 0usize;
            while at < n as usize {
                // struct linux_dirent64: ino (8), off (8), reclen (2), type (1), name.
                let reclen = u16::from_ne_bytes([entries[at + 16], entries[at + 17]]) as usize;
                let name = std::ffi::CStr::from_ptr(entries.as_ptr().add(at + 19).cast());
                at += reclen;
                let name = name.to_bytes();
                if name.is_empty() || !name.iter().all(u8::is_ascii_digit) || name.len() > 20 {
                    continue;
                }
                path[..name.len()].copy_from_slice(name);
                path[name.len()..name.len() + 9].copy_from_slice(b"/cmdline\0");
                let fd = libc::openat(dir, path.as_ptr().cast(), libc::O_RDONLY | libc::O_CLOEXEC);
                if fd >= 0 {
                    libc::read(fd, cmdline.as_mut_ptr().cast(), cmdline.len());
                    libc::close(fd);
                    seen += 1;
                }
            }
        }
        libc::close(dir);
        Some((started.elapsed(), seen))
    }
}

/// Those of `procs` still alive and not about to die of a pending SIGKILL.
pub fn leaked(procs: &[(i32, u64)]) -> Vec<(i32, u64)> {
    procs
        .iter()
        .copied()
        .filter(|&(p, s)| alive(p, s) && !dying(p))
        .collect()
}

/// Whether `(pid, start)` still names a live (non-zombie) process.
pub fn alive(pid: i32, start: u64) -> bool {
    matches!(stat(pid), Some(st) if st.start == start && st.state != 'Z')
}

/// Whether `(pid, start)` still exists, as a live process or a zombie not yet reaped.
pub fn exists(pid: i32, start: u64) -> bool {
    matches!(stat(pid), Some(st) if st.start == start)
}

/// Whether a live process has SIGKILL pending: it will be gone in a moment,
/// whatever it does, so it is no longer a survivor.
pub fn dying(pid: i32) -> bool {
    pending_signals(pid).contains(&libc::SIGKILL)
}

/// Whether a signal is pending for `pid` that it does not block: one it
/// has yet to take (die of, or run its handler for).
pub fn deliverable(pid: i32) -> bool {
    let Ok(text) = fs::read_to_string(format!("/proc/{pid}/status")) else {
        return false;
    };
    let (mut pending, mut blocked) = (0u64, 0u64);
    for line in text.lines() {
        let mask = |hex: &str| u64::from_str_radix(hex.trim(), 16).unwrap_or(0);
        if let Some(hex) = line
            .strip_prefix("SigPnd:")
            .or_else(|| line.strip_prefix("ShdPnd:"))
        {
            pending |= mask(hex);
        } else if let Some(hex) = line.strip_prefix("SigBlk:") {
            blocked = mask(hex);
        }
    }
    pending & !blocked != 0
}

/// Signals pending for a (stopped) process: the union of `SigPnd` and `ShdPnd`.
pub fn pending_signals(pid: i32) -> Vec<i32> {
    let Ok(text) = fs::read_to_string(format!("/proc/{pid}/status")) else {
        return Vec::new();
    };
    let mut mask = 0u64;
    for line in text.lines() {
        if let Some(hex) = line
            .strip_prefix("SigPnd:")
            .or_else(|| line.strip_prefix("ShdPnd:"))
        {
            mask |= u64::from_str_radix(hex.trim(), 16).unwrap_or(0);
        }
    }
    (1..=64)
        .filter(|sig| mask & (1u64 << (sig - 1)) != 0)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_own_stat_and_cmdline() {
        let me = std::process::id() as i32;
        let st = stat(me).unwrap();
        // The process's main thread may be sleeping while this test thread runs.
        assert!(matches!(st.state, 'R' | 'S'), "{}", st.state);
        assert!(alive(me, st.start));
        assert!(!alive(me, st.start + 1));
        assert!(!cmdline(me).is_empty());
        assert!(pids().contains(&me));
    }

    /// A child that exited is a zombie until waited for: it is among our
    /// zombies, not among our live descendants, and gone once reaped.
    #[test]
    fn an_unreaped_child_is_a_zombie_not_a_descendant() {
        let me = std::process::id() as i32;
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id() as i32;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while stat(pid).is_some_and(|s| s.state != 'Z') {
            assert!(std::time::Instant::now() < deadline, "child never exited");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let all = scan();
        let zombie = |p: &i32| stat(*p).is_some_and(|st| st.state == 'Z');
        assert!(children(me).iter().any(|&p| p == pid && zombie(&p)));
        assert!(!descendants_in(&all, me).iter().any(|&(p, _)| p == pid));
        child.wait().unwrap();
        assert!(!children(me).contains(&pid));
    }
}
