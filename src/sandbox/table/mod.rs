//! The process table: what the sandbox init knows about every process it
//! started, and every death the reaper saw. One mutex guards it; holding that
//! mutex also freezes PID numbers, because a number is only freed when the
//! reaper reaps it, and the reaper reaps only while holding the mutex.

mod reap;

use super::spawn::ExecSpec;
use crate::churn::light::{StackSlab, StackSlot};
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
    /// The keeper of a crowd of bystanders (index into the scenario's
    /// bystander list; see churn/crowd.rs): its members are its children.
    Crowd(usize),
}

impl Role {
    /// Processes of these roles run stopbench's own code, which never
    /// forks, or (a crowd's keeper) answer for what is below them. A reuse
    /// holder may run the daemon's own program, which may fork.
    pub fn is_leaf(self) -> bool {
        matches!(
            self,
            Role::Churner | Role::Bystander(_) | Role::Sentinel | Role::Crowd(_)
        )
    }

    pub fn name(self) -> &'static str {
        match self {
            Role::Churner => "churner",
            Role::Bystander(_) => "bystander",
            Role::ReuseHolder => "reuse-holder",
            Role::Victim => "victim",
            Role::Helper => "helper",
            Role::Sentinel => "sentinel",
            Role::Keeper => "keeper",
            Role::Crowd(_) => "crowd-keeper",
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
    /// The victim's main process: the process started, or the daemon its
    /// pidfile names once the start process has exited (see
    /// [`Table::repoint_victim`]).
    pub pid: i32,
    /// The process stopbench started (a forking daemon's start process).
    pub launched: i32,
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

/// A signal found pending on a victim's keeper when it exited: the keeper
/// blocks every signal, so this is how a signal sent to it is seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeeperSignal {
    pub keeper: i32,
    pub signal: i32,
}

/// One exact process: its number and its start time (in clock ticks since
/// boot, as /proc gives it). A number alone names whoever holds it now;
/// the pair names one process for its whole life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ExactProcess {
    pub pid: i32,
    pub start: u64,
}

impl ExactProcess {
    /// Whether this process still exists (alive or a zombie).
    pub fn exists(self) -> bool {
        super::procfs::exists(self.pid, self.start)
    }
}

/// What init knows about the processes of the sandbox. Its fields are
/// private: every change goes through a method that keeps the rules below,
/// and the reaping that frees numbers and stacks lives in `reap.rs`.
///
/// - A process init starts is registered under the lock held since its
///   clone, so the reaper never sees a death it does not know.
/// - A number changes holder only under the lock: the reaper reaps under it
///   and forced reuse hands the victim's number on under it.
/// - A `CLONE_VM` child's stack slot stays reserved until that child is
///   reaped; only the reaping gives it back.
/// - A kill init makes itself is marked before it is sent, so its death is
///   no misfire: by number for init's own children (init reaps them, so the
///   number cannot change holder first), by [`ExactProcess`] for others.
#[derive(Default)]
pub struct Table {
    procs: HashMap<i32, Entry>,
    live_churners: u32,
    /// Stacks of light churners, and which churner holds which slot.
    stacks: Option<StackSlab>,
    churner_stacks: HashMap<i32, StackSlot>,
    /// Stacks of reuse holders made with `CLONE_VM` (see vm_spawn), and
    /// which holder holds which, with the spec it reads until its exec.
    holder_stacks: Option<StackSlab>,
    holder_slots: HashMap<i32, (StackSlot, Arc<ExecSpec>)>,
    /// PID of the live bystander for each configured bystander, if any.
    bystanders: Vec<Option<i32>>,
    /// PID of the live sentinel, if any.
    sentinel: Option<i32>,
    /// Possible misfires since the last trial was finalized.
    deaths: Vec<Death>,
    /// Exit causes of helpers, taken by whoever waits for them.
    helper_exits: HashMap<i32, Cause>,
    /// CPU time of the helpers reaped since it was last taken.
    helper_cpu: crate::measure::CpuTime,
    victim: Option<VictimWatch>,
    /// Processes init started and is killing itself (cleanup).
    expected: HashSet<i32>,
    /// Processes init did not start but kills in cleanup; their parent may
    /// reap them, so only the start time makes the match exact.
    expected_exact: Vec<ExactProcess>,
    /// Forced reuse: microseconds from the victim's reaping to the holder's spawn.
    reuse_us: Vec<u32>,
    keeper_signals: Vec<KeeperSignal>,
    /// PIDs in use in the sandbox but churners', sampled at each trial's
    /// start: the numbers the allocator skips on every cycle.
    held_samples: Vec<u32>,
}

impl Table {
    fn with_bystanders(bystanders: usize) -> Self {
        Self {
            bystanders: vec![None; bystanders],
            ..Self::default()
        }
    }

    /// Registers a child init just started, under the lock held since the
    /// clone, so the reaper never sees a death it does not know. A bystander
    /// or the sentinel takes its place until it is reaped.
    pub fn register(&mut self, pid: i32, role: Role, cmdline: Arc<str>) {
        self.procs.insert(pid, Entry { role, cmdline });
        match role {
            Role::Churner => self.live_churners += 1,
            Role::Bystander(index) | Role::Crowd(index) => self.bystanders[index] = Some(pid),
            Role::Sentinel => self.sentinel = Some(pid),
            _ => {}
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

    /// Marks a kill of a process init did not start, just before it is
    /// sent. Marks whose process is gone without reaching our reaper (its
    /// parent reaped it) are dropped; a zombie's mark stays until the reaper
    /// sees it.
    pub fn expect_exact_kill(&mut self, who: ExactProcess) {
        self.expected_exact.retain(|p| p.exists());
        self.expected_exact.push(who);
    }

    /// Whether `pid` is a process init started and has not reaped.
    pub fn is_own(&self, pid: i32) -> bool {
        self.procs.contains_key(&pid)
    }

    /// The role of a process init started and has not reaped.
    pub fn role(&self, pid: i32) -> Option<Role> {
        self.procs.get(&pid).map(|e| e.role)
    }

    /// Whether `pid` is one of init's processes that never fork (churners,
    /// bystanders, the sentinel): nothing below it to look for.
    pub fn is_leaf(&self, pid: i32) -> bool {
        self.role(pid).is_some_and(Role::is_leaf)
    }

    /// Init's unreaped processes and their roles.
    pub fn own_processes(&self) -> impl Iterator<Item = (i32, Role)> + '_ {
        self.procs.iter().map(|(&pid, entry)| (pid, entry.role))
    }

    pub fn live_churners(&self) -> u32 {
        self.live_churners
    }

    /// Reserves one stack per light churner that may be alive at once.
    pub fn reserve_churner_stacks(&mut self, slots: usize) {
        self.stacks = Some(StackSlab::new(slots));
    }

    /// Starts a light churner on a free stack and registers it; the stack
    /// stays its own until the reaper reaps it. `None` when no stack is free
    /// or none was reserved; `Unsupported` where the platform has no light
    /// churners.
    pub fn start_light_churner(
        &mut self,
        lifetime: std::time::Duration,
        cmdline: &Arc<str>,
    ) -> Option<std::io::Result<i32>> {
        let slab = self.stacks.as_mut()?;
        let slot = slab.take()?;
        match crate::churn::light::spawn(slab, &slot, lifetime) {
            Ok(pid) => {
                self.register(pid, Role::Churner, cmdline.clone());
                self.churner_stacks.insert(pid, slot);
                Some(Ok(pid))
            }
            Err(e) => {
                // Nothing runs on the stack: the clone failed.
                slab.give_back(slot);
                Some(Err(e))
            }
        }
    }

    /// The live bystander for configured bystander `index`, if any.
    pub fn bystander(&self, index: usize) -> Option<i32> {
        self.bystanders[index]
    }

    /// Every live bystander, by its index in the scenario.
    pub fn live_bystanders(&self) -> Vec<(usize, i32)> {
        let live = self.bystanders.iter().enumerate();
        live.filter_map(|(i, p)| Some((i, (*p)?))).collect()
    }

    pub fn sentinel(&self) -> Option<i32> {
        self.sentinel
    }

    /// Watches the current trial's victim until [`Table::end_victim_watch`].
    pub fn watch_victim(&mut self, watch: VictimWatch) {
        self.victim = Some(watch);
    }

    pub fn end_victim_watch(&mut self) -> Option<VictimWatch> {
        self.victim.take()
    }

    pub fn victim(&self) -> Option<&VictimWatch> {
        self.victim.as_ref()
    }

    /// How and when the watched victim's main process ended, once reaped.
    pub fn victim_death(&self) -> Option<(Cause, Instant)> {
        self.victim.as_ref().and_then(|w| w.death)
    }

    /// Whether `pid` is the watched victim and not yet reaped: its number
    /// is still its own.
    pub fn victim_holds(&self, pid: i32) -> bool {
        self.victim
            .as_ref()
            .is_some_and(|w| w.pid == pid && w.death.is_none())
    }

    /// The victim's main process is now `pid`, a process of its tree (the
    /// daemon a forking start process named in its pidfile, as systemd's
    /// `Type=forking` takes `PIDFile=`): its death is the main process's.
    pub fn repoint_victim(&mut self, pid: i32) {
        if let Some(watch) = self.victim.as_mut() {
            watch.pid = pid;
            watch.death = None;
        }
    }

    /// A death in the tree of `victim` (the process started) that its
    /// keeper (not init) reaps: the main process's, or another member's.
    pub fn record_keeper_reap(&mut self, victim: i32, pid: i32, cause: Cause, at: Instant) {
        if let Some(watch) = self.victim.as_mut().filter(|w| w.launched == victim) {
            if pid == watch.pid {
                watch.death = Some((cause, at));
            } else {
                watch.last_tree_death = Some(at);
            }
        }
    }

    pub fn record_keeper_signals(&mut self, keeper: i32, signals: impl Iterator<Item = i32>) {
        let found = signals.map(|signal| KeeperSignal { keeper, signal });
        self.keeper_signals.extend(found);
    }

    pub fn take_keeper_signals(&mut self) -> Vec<KeeperSignal> {
        std::mem::take(&mut self.keeper_signals)
    }

    /// The possible misfires seen since the last call.
    pub fn take_deaths(&mut self) -> Vec<Death> {
        std::mem::take(&mut self.deaths)
    }

    /// How helper `pid` ended, once reaped; taken once.
    /// The CPU time of the helpers reaped since the last call.
    pub fn take_helper_cpu(&mut self) -> crate::measure::CpuTime {
        std::mem::take(&mut self.helper_cpu)
    }

    pub fn take_helper_exit(&mut self, pid: i32) -> Option<Cause> {
        self.helper_exits.remove(&pid)
    }

    pub fn sample_held(&mut self, tasks: u32) {
        self.held_samples.push(tasks);
    }

    pub fn take_held_samples(&mut self) -> Vec<u32> {
        std::mem::take(&mut self.held_samples)
    }

    pub fn take_reuse_us(&mut self) -> Vec<u32> {
        std::mem::take(&mut self.reuse_us)
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
        Arc::new(Shared {
            table: Mutex::new(Table::with_bystanders(bystanders)),
            changed: Condvar::new(),
        })
    }
}
