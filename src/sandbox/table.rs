//! The process table: what the sandbox init knows about every process it
//! started, and every death the reaper saw. One mutex guards it; holding that
//! mutex also freezes PID numbers, because a number is only freed when the
//! reaper reaps it, and the reaper reaps only while holding the mutex.

use super::spawn::ExecSpec;
use crate::oracle::Cause;
use parking_lot::{Condvar, Mutex};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

/// Why a process in the sandbox exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Churner,
    /// Index into the scenario's bystander list.
    Bystander(usize),
    /// The bystander that took over the victim's number (forced reuse).
    ReuseHolder,
    Victim,
    /// A program a strategy runs (`/bin/kill`, `/bin/sh -c "pkill ..."`).
    Helper,
    /// The process that catches every signal to see the victim's broadcasts
    /// (see churn::bystander::sentinel_spec).
    Sentinel,
    /// The subreaper between init and the victim where the victim has no
    /// cgroup of its own (see keeper.rs).
    Keeper,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::Churner => "churner",
            Role::Bystander(_) => "bystander",
            Role::ReuseHolder => "reuse-holder",
            Role::Victim => "victim",
            Role::Helper => "helper",
            Role::Sentinel => "sentinel",
            Role::Keeper => "keeper",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Entry {
    pub role: Role,
    pub cmdline: Arc<str>,
}

/// A death the reaper saw that may be a misfire (anything but a churner's
/// or helper's normal exit, and anything init did not kill itself).
#[derive(Debug, Clone)]
pub struct Death {
    pub pid: i32,
    /// `None`: not started by init (a descendant of the victim or of a helper).
    pub role: Option<Role>,
    pub cmdline: Arc<str>,
    /// /proc start time, read from the zombie, for processes init did not start.
    pub start: Option<u64>,
    /// The zombie's cgroup (its `0::` line in /proc/PID/cgroup), for
    /// processes init did not start: whether it belonged to the victim's tree.
    pub cgroup: Option<Arc<str>>,
    pub cause: Cause,
    pub at: Instant,
}

/// What the current trial's victim is doing, as the reaper sees it.
pub struct VictimWatch {
    pub pid: i32,
    pub death: Option<(Cause, Instant)>,
    /// The victim's own cgroup (as /proc/PID/cgroup names it), when it has one.
    pub cgroup: Option<Arc<str>>,
    /// The last death of another process of that cgroup that init reaped
    /// (an orphan of the victim's tree).
    pub last_tree_death: Option<Instant>,
    /// With forced reuse, the exec of the bystander that takes the number.
    pub reuse: Option<Arc<ExecSpec>>,
    pub reuse_holder: Option<i32>,
    pub reuse_error: Option<String>,
}

#[derive(Default)]
pub struct Table {
    pub procs: HashMap<i32, Entry>,
    pub live_churners: u32,
    /// Stacks of light churners, and which churner holds which slot.
    pub stacks: Option<crate::churn::light::StackSlab>,
    pub churner_stacks: HashMap<i32, crate::churn::light::StackSlot>,
    /// Stacks of reuse holders made with `CLONE_VM` (see vm_spawn), and
    /// which holder holds which, with the spec it reads until its exec.
    pub holder_stacks: Option<crate::churn::light::StackSlab>,
    pub holder_slots: HashMap<i32, (crate::churn::light::StackSlot, Arc<ExecSpec>)>,
    /// PID of the live bystander for each configured bystander, if any.
    pub bystanders: Vec<Option<i32>>,
    /// PID of the live sentinel, if any.
    pub sentinel: Option<i32>,
    /// Possible misfires since the last trial was finalized.
    pub deaths: Vec<Death>,
    /// Exit causes of helpers, taken by whoever waits for them.
    pub helper_exits: HashMap<i32, Cause>,
    pub victim: Option<VictimWatch>,
    /// Processes init started and is killing itself (cleanup): their deaths
    /// are no misfire. Exact by PID alone: init reaps them, so the number
    /// cannot change holder before the reaper clears the entry.
    pub expected: HashSet<i32>,
    /// `(pid, start)` of processes init did not start but kills in cleanup;
    /// their parent may reap them, so only the start time makes the match exact.
    pub expected_exact: Vec<(i32, u64)>,
    pub shutting_down: bool,
    /// Forced reuse: microseconds from the victim's reaping to the holder's spawn.
    pub reuse_us: Vec<u32>,
    /// `(keeper, signal)` for signals found pending on a victim's keeper
    /// when it exited (see keeper.rs): it blocks them all.
    pub keeper_signals: Vec<(i32, i32)>,
    /// PIDs in use in the sandbox but churners', sampled at each trial's
    /// start: the numbers the allocator skips on every cycle.
    pub held_samples: Vec<u32>,
}

impl Table {
    /// Registers a child init just started, under the lock held since the
    /// clone, so the reaper never sees a death it does not know.
    pub fn register(&mut self, pid: i32, role: Role, cmdline: Arc<str>) {
        self.procs.insert(pid, Entry { role, cmdline });
        if role == Role::Churner {
            self.live_churners += 1;
        }
    }

    /// Signals `pid` only if it is a child init started and has not yet
    /// reaped: while this table is locked its number cannot change holder,
    /// so the signal reaches that child and no other process. A SIGKILL is
    /// marked as init's own, so the death is no misfire.
    pub fn signal_own(&mut self, pid: i32, sig: i32) -> bool {
        if !self.procs.contains_key(&pid) {
            return false;
        }
        if sig == libc::SIGKILL {
            self.expected.insert(pid);
        }
        crate::sys::kill(pid, sig).is_ok()
    }
}

#[derive(Default)]
pub struct Shared {
    pub table: Mutex<Table>,
    /// Signalled after every reap.
    pub changed: Condvar,
}

impl Shared {
    pub fn new(bystanders: usize) -> Arc<Self> {
        let shared = Shared::default();
        shared.table.lock().bystanders = vec![None; bystanders];
        Arc::new(shared)
    }
}
