//! The victim as its whole process tree, by lineage: the main process and
//! every process descended from it at birth, including children forked after
//! the stop began and daemons that double-forked or were reparented.
//!
//! Exact in both sandboxes:
//! - Where the victim has a cgroup of its own (the root sandbox makes one
//!   per trial; a real systemd makes one per unit), a process belongs to the
//!   tree iff the kernel placed it in that cgroup, which every descendant
//!   inherits at fork, and a zombie still names its cgroup when init reaps it.
//! - Without one (an ordinary user cannot create cgroups), the victim's
//!   parent is a keeper, a child subreaper (see keeper.rs): every orphan of
//!   the tree is reparented to it, so the tree is the keeper's descendants.
//!   The keeper reaps them; init never sees their deaths.
//!
//! A snapshot of the descendants when the stop began is kept as a last
//! resort, for a keeper that a misfire killed.

use super::{cgroup, procfs};
use std::path::PathBuf;
use std::sync::Arc;

pub struct VictimTree {
    pub main: i32,
    /// The victim's own cgroup, as /proc/PID/cgroup names it.
    pub cgroup: Option<Arc<str>>,
    /// That cgroup's directory, where this process can read it.
    pub dir: Option<PathBuf>,
    /// Without a cgroup: the victim's keeper, whose descendants the tree is.
    pub keeper: Option<i32>,
    /// Without a cgroup: `(pid, start)` of the descendants when the stop began.
    pub snapshot: Vec<(i32, u64)>,
}

/// A live process of the tree other than the main process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub pid: i32,
    pub start: u64,
    pub cmdline: String,
}

impl VictimTree {
    /// A tree with no process known yet (the victim never started).
    pub fn none() -> Self {
        Self {
            main: 0,
            cgroup: None,
            dir: None,
            keeper: None,
            snapshot: Vec::new(),
        }
    }

    /// Whether a process that init reaped, not started by init, belonged to
    /// the tree: by its zombie's cgroup, or by the snapshot (with a keeper,
    /// init reaps none of the tree while the keeper lives).
    pub fn holds(&self, pid: i32, start: Option<u64>, cgroup: Option<&str>) -> bool {
        match &self.cgroup {
            Some(own) => cgroup.is_some_and(|c| within(c, own)),
            None => self
                .snapshot
                .iter()
                .any(|&(p, s)| p == pid && Some(s) == start),
        }
    }

    /// The tree's live processes but the main one, leaving out those about
    /// to die of a pending SIGKILL.
    pub fn members(&self) -> Vec<Member> {
        let pids: Vec<i32> = match (&self.dir, &self.cgroup, self.keeper) {
            (Some(dir), _, _) => cgroup::procs_below(dir),
            (None, Some(own), _) => procfs::pids()
                .into_iter()
                .filter(|&p| procfs::cgroup(p).is_some_and(|c| within(&c, own)))
                .collect(),
            (None, None, Some(keeper)) => procfs::descendants(keeper)
                .into_iter()
                .map(|(p, _)| p)
                .collect(),
            (None, None, None) => self.snapshot.iter().map(|&(p, _)| p).collect(),
        };
        pids.into_iter()
            .filter(|&p| p != self.main)
            .filter_map(|pid| {
                let st = procfs::stat(pid)?;
                let in_snapshot = self.cgroup.is_some()
                    || self.keeper.is_some()
                    || self
                        .snapshot
                        .iter()
                        .any(|&(p, s)| p == pid && s == st.start);
                (st.state != 'Z' && in_snapshot && !procfs::dying(pid)).then(|| Member {
                    pid,
                    start: st.start,
                    cmdline: procfs::cmdline(pid),
                })
            })
            .collect()
    }
}

impl VictimTree {
    /// Whether a signal's sender (`si_pid`) was of this tree: its main
    /// process, or a live process of its cgroup (a `/bin/kill` it ran may
    /// be gone already; then only the main process is known for sure).
    pub fn sent(&self, sender: i32) -> bool {
        sender == self.main
            || self
                .cgroup
                .as_deref()
                .is_some_and(|own| procfs::cgroup(sender).is_some_and(|c| within(&c, own)))
            || self
                .keeper
                .is_some_and(|k| sender != k && descends_from(sender, k))
    }

    /// Whether the live process `pid` is still the member `start` named:
    /// checked with a pidfd already held, so the number cannot change
    /// holder afterwards. With a cgroup its membership is the proof, which a
    /// newcomer on the same number and clock tick cannot have.
    pub fn still_holds(&self, pid: i32, start: u64) -> bool {
        let same = procfs::alive(pid, start);
        match (&self.cgroup, self.keeper) {
            (Some(own), _) => same && procfs::cgroup(pid).is_some_and(|c| within(&c, own)),
            (None, Some(keeper)) => same && descends_from(pid, keeper),
            (None, None) => same,
        }
    }
}

/// Whether `ancestor` is among `pid`'s ancestors, by the parent links of
/// /proc (a process of the keeper's tree can never leave it while the
/// keeper lives: orphans go to the nearest subreaper, the keeper at worst).
fn descends_from(pid: i32, ancestor: i32) -> bool {
    let mut at = pid;
    // A chain longer than the PID space is a loop in a racy read.
    for _ in 0..4_194_304 {
        match procfs::stat(at) {
            Some(st) if st.ppid == ancestor => return true,
            Some(st) if st.ppid > 1 => at = st.ppid,
            _ => return false,
        }
    }
    false
}

/// Whether cgroup `path` is `own` or below it.
fn within(path: &str, own: &str) -> bool {
    path == own
        || path
            .strip_prefix(own)
            .is_some_and(|rest| rest.starts_with('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(cgroup: Option<&str>) -> VictimTree {
        VictimTree {
            main: 10,
            cgroup: cgroup.map(Into::into),
            dir: None,
            keeper: None,
            snapshot: vec![(15, 7)],
        }
    }

    #[test]
    fn membership_by_cgroup_or_by_snapshot() {
        let exact = tree(Some("/stopbench-1/trial-3"));
        assert!(exact.holds(99, Some(1), Some("/stopbench-1/trial-3")));
        assert!(exact.holds(99, Some(1), Some("/stopbench-1/trial-3/sub")));
        assert!(!exact.holds(99, Some(1), Some("/stopbench-1/trial-33")));
        assert!(!exact.holds(15, Some(7), Some("/stopbench-1")));
        assert!(!exact.holds(15, Some(7), None));
        let snapshot = tree(None);
        assert!(snapshot.holds(15, Some(7), None));
        assert!(!snapshot.holds(15, Some(8), None));
        assert!(!snapshot.holds(16, Some(7), Some("/x")));
    }
}
