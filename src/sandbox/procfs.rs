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
    descendants_in(&scan(), root)
}

/// Every process visible in this /proc with its stat, read once.
pub fn scan() -> Vec<(i32, Stat)> {
    pids()
        .into_iter()
        .filter_map(|p| Some((p, stat(p)?)))
        .collect()
}

/// `(pid, start)` of every live descendant of `root` in a [`scan`].
pub fn descendants_in(all: &[(i32, Stat)], root: i32) -> Vec<(i32, u64)> {
    let mut found = Vec::new();
    let mut frontier = vec![root];
    while let Some(parent) = frontier.pop() {
        for (pid, st) in all {
            if st.ppid == parent && st.state != 'Z' && !found.iter().any(|(p, _)| p == pid) {
                found.push((*pid, st.start));
                frontier.push(*pid);
            }
        }
    }
    found
}

/// `(pid, start)` of `parent`'s children in a [`scan`] that died and wait
/// to be reaped: their deaths are not known yet.
pub fn zombies_of(all: &[(i32, Stat)], parent: i32) -> Vec<(i32, u64)> {
    all.iter()
        .filter(|(_, st)| st.ppid == parent && st.state == 'Z')
        .map(|(pid, st)| (*pid, st.start))
        .collect()
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
        assert!(zombies_of(&all, me).iter().any(|&(p, _)| p == pid));
        assert!(!descendants_in(&all, me).iter().any(|&(p, _)| p == pid));
        child.wait().unwrap();
        assert!(!zombies_of(&scan(), me).iter().any(|&(p, _)| p == pid));
    }
}
