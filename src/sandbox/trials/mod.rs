//! Running trials inside the sandbox: start the victim, stop it with one
//! strategy, watch what happened, clean up, and hand the record out.
//!
//! A trial's record is finished one trial late: signals a strategy sent may
//! still be landing when it returns, so deaths are attributed to a trial
//! until the next trial's stop request. Nothing else signals in between but
//! init's own, marked, cleanup and the next victim's program while it starts;
//! what that victim broadcasts is carried over to its own trial.

mod unit;

pub use unit::install_units;

use super::cgroup::{self, CgroupTree};
use super::inside::Inside;
use super::keeper;
use super::procfs;
use super::spawn::{self, ChildAction, ExecSpec};
use super::table::{Entry, Role, VictimWatch};
use super::victim_tree::VictimTree;
use super::wire::{emit, Message};
use crate::churn::bystander;
use crate::measure::verdict::{verdict, Observation};
use crate::measure::{Outcome, TrialRecord};
use crate::oracle::{
    attribute, CaughtSignal, Evidence, Misfire, SeenBy, SentinelEvidence, StrategyActs,
};
use crate::scenario::{Behaviour, BystanderBehaviour, Scenario};
use crate::strategy::{StopStrategy, VictimHandle};
use nix::fcntl::OFlag;
use nix::unistd::pipe2;
use std::collections::HashMap;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a victim or bystander may take to report ready.
const READY_LIMIT: Duration = Duration::from_secs(5);
/// How long cleanup may wait for stragglers of a trial.
const QUIESCE_LIMIT: Duration = Duration::from_secs(2);

pub struct TrialRunner<'a> {
    inside: &'a Inside,
    cgroups: Option<&'a CgroupTree>,
    scenario: &'a Scenario,
    oracle_read: OwnedFd,
    oracle_write: OwnedFd,
    reuse: Option<Arc<ExecSpec>>,
    pending: Option<Pending>,
    /// Command line of every bystander started, by PID: a bystander's handler
    /// report may be read after the bystander itself was killed and reaped.
    bystander_cmdlines: HashMap<i32, String>,
    /// Draws each trial's victim age (`exit_after` ranges).
    rng: rand::rngs::StdRng,
    /// PID 1's command line, as a misfire on init shows it.
    init_cmdline: String,
    /// Signals the next trial's victim sent while it started, found while
    /// the previous trial was finalized.
    carried: Vec<Misfire>,
}

struct Pending {
    record: TrialRecord,
    tree: VictimTree,
    reuse_holder: Option<i32>,
    acts: StrategyActs,
}

impl Pending {
    fn failed(record: TrialRecord) -> Self {
        Self {
            record,
            tree: VictimTree::none(),
            reuse_holder: None,
            acts: StrategyActs::default(),
        }
    }
}

/// The victim as started for one trial.
struct Started {
    pid: i32,
    pidfd: Option<OwnedFd>,
    /// Its keeper, where it has no cgroup of its own.
    keeper: Option<i32>,
    /// The main process ended before the stop was requested.
    main_gone_before_stop: bool,
}

impl<'a> TrialRunner<'a> {
    pub fn new(
        inside: &'a Inside,
        scenario: &'a Scenario,
        cgroups: Option<&'a CgroupTree>,
    ) -> std::io::Result<Self> {
        let (oracle_read, oracle_write) = pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK)?;
        let reuse = scenario.churn.forced_reuse.then(|| {
            Arc::new(bystander::reuse_holder_spec(
                &scenario.churn.reuse_command.0,
                &inside.exe,
            ))
        });
        Ok(Self {
            inside,
            cgroups,
            scenario,
            oracle_read,
            oracle_write,
            reuse,
            pending: None,
            bystander_cmdlines: HashMap::new(),
            rng: rand::SeedableRng::seed_from_u64(scenario.seed ^ 0xA9E),
            init_cmdline: procfs::cmdline(1),
            carried: Vec::new(),
        })
    }

    /// Runs one trial; its record is emitted when the next one starts (or at `finish`).
    pub fn run(
        &mut self,
        trial: u32,
        round: u32,
        strategy: &dyn StopStrategy,
        label: &str,
    ) -> bool {
        let mut record = self.blank_record(trial, round, label);
        // A /proc scan reads every task's directory; for a mean, every 8th
        // trial is plenty.
        if trial % 8 == 0 {
            self.sample_held_pids();
        }
        // Every victim is born in a cgroup of its own where stopbench can make
        // one (root): its whole tree, by lineage, is then what the kernel keeps
        // there. The cgroup strategy cannot do without one.
        let victim_cgroup = match (self.cgroups, strategy.needs_cgroup()) {
            // A ring of cgroups: the pending trial (finalized during this
            // one) never shares this one's, and one that needed killing in
            // cleanup is removed and made afresh (see the cleanup below).
            (Some(tree), _) => tree.child(&format!("victim-{}", trial % 4)).map(Some),
            (None, true) => Err("no cgroup tree for the cgroup strategy".to_string()),
            (None, false) => Ok(None),
        };
        let cgroup_name: Option<Arc<str>> = victim_cgroup
            .as_ref()
            .ok()
            .and_then(|c| c.as_ref())
            .and_then(|c| cgroup::proc_name(&c.path))
            .map(Into::into);
        let started = self.ensure_bystanders().and_then(|_| {
            let fd = victim_cgroup
                .as_ref()
                .map_err(Clone::clone)?
                .as_ref()
                .map(|c| c.dir.as_raw_fd());
            self.start_victim(fd, cgroup_name.clone())
        });
        let victim = match started {
            Ok(v) => v,
            Err(err) => {
                record.error = Some(err);
                if let Ok(Some(c)) = &victim_cgroup {
                    cgroup::remove(&c.path, QUIESCE_LIMIT);
                }
                let alive = self.finalize(None);
                self.inside.shared.table.lock().victim = None;
                self.pending = Some(Pending::failed(record));
                return alive;
            }
        };
        let dir = victim_cgroup
            .as_ref()
            .ok()
            .and_then(|c| c.as_ref())
            .map(|c| c.path.clone());
        let tree = VictimTree {
            main: victim.pid,
            snapshot: if cgroup_name.is_some() {
                Vec::new()
            } else {
                procfs::descendants(victim.pid)
            },
            cgroup: cgroup_name,
            dir,
            keeper: victim.keeper,
        };
        // A forking daemon's main process exits at start-up while its tree
        // lives on: gone only when nothing of the tree is left.
        let gone_before_stop = victim.main_gone_before_stop && tree.members().is_empty();
        record.victim_pid = victim.pid;
        record.victim_gone_before_stop = gone_before_stop;
        let host_alive = self.finalize(Some(&tree));

        let handle = VictimHandle {
            pid: victim.pid,
            pidfd: victim.pidfd.as_ref(),
            cmdline: &record.victim_cmdline,
            program: &self.scenario.victim.command.0[0],
            cgroup: tree.dir.as_deref(),
        };
        self.inside.reset_acts();
        let requested = Instant::now();
        let report = strategy.stop(self.inside, &handle, requested);
        let completed = Instant::now();
        let timeout = self
            .scenario
            .strategies
            .iter()
            .find(|s| s.label() == label)
            .map_or(Duration::from_secs(2), |s| s.timeout.0);
        let main_end = self.inside.wait_victim_death(Instant::now() + timeout);
        // A helper's shell can die (e.g. of its own pkill) while the pkill it
        // ran is still signalling: the stop is complete only when the helpers'
        // whole trees are gone.
        let mut keep: Vec<(i32, u64)> = tree.members().iter().map(|m| (m.pid, m.start)).collect();
        // A surviving main process under a keeper is no child of init's.
        keep.extend(procfs::stat(victim.pid).map(|st| (victim.pid, st.start)));
        self.inside.quiesce(&keep, QUIESCE_LIMIT);
        let leaked = tree.members();
        let tree_gone = if leaked.is_empty() {
            self.tree_gone(&tree, main_end.map(|(_, at)| at))
        } else {
            None
        };
        let verdict = verdict(&Observation {
            requested: Some(requested),
            completed: Some(completed),
            main_end,
            gone_before_stop,
            early_exit_expected: self.scenario.victim.behaviour == Behaviour::ExitEarly,
            tree_gone,
            leaks: leaked.len() as u32,
            final_phase_at: report.final_phase_at,
            strategy_error: report.error.clone(),
            eperm: report.eperm,
        });
        record.outcome = verdict.outcome;
        record.latency = verdict.death;
        record.strategy_time = verdict.completion;
        record.error = verdict.error;
        record.pid_reused = report.pid_reused;
        record.race_window = report.windows.iter().max().copied();
        record.exposure = report.exposure.map(|e| e.gap);
        record.exposure_follow = report.exposure.map(|e| e.follow);
        record.victim_end = main_end.map(|(cause, _)| cause);
        record.leaks = leaked.len() as u32;
        record.leaked = leaked.iter().map(|m| m.cmdline.clone()).collect();
        if let Some(note) = report.note {
            record.note = Some(note);
        }

        // Cleanup by init itself: its own child by number (it cannot be
        // recycled before init reaps it), the rest of the tree by its cgroup
        // (no number at all) or, without one, through pidfds.
        if main_end.is_none() {
            match (victim.keeper, &victim.pidfd) {
                // Not init's child: through the pidfd held since its birth.
                (Some(_), Some(fd)) => {
                    let _ = rustix::process::pidfd_send_signal(fd, rustix::process::Signal::KILL);
                }
                _ => self.inside.kill_own(victim.pid),
            }
            self.inside
                .wait_victim_death(Instant::now() + QUIESCE_LIMIT);
        }
        match &tree.dir {
            // Left empty by the stop: used again. Anything left is killed
            // and the cgroup removed, so no later victim is born beside it.
            // A cgroup that ever got a `cgroup.kill` is never used again:
            // on this machine's kernel (6.18) a child cloned into it with
            // CLONE_INTO_CGROUP is killed at birth (measured: every victim
            // born in a reused, once-killed cgroup died before it was ready).
            Some(dir)
                if !strategy.needs_cgroup() && leaked.is_empty() && !cgroup::populated(dir) => {}
            Some(dir) => cgroup::remove(dir, QUIESCE_LIMIT),
            None => {
                for m in &leaked {
                    self.inside.kill_member(&tree, m);
                }
                if let Some(keeper) = tree.keeper {
                    self.end_keeper(&tree, keeper);
                }
            }
        }
        self.inside.quiesce(&[], QUIESCE_LIMIT);
        self.inside.settle(QUIESCE_LIMIT);
        let reuse_holder = {
            let mut table = self.inside.shared.table.lock();
            let watch = table.victim.take();
            if let Some(err) = watch.as_ref().and_then(|w| w.reuse_error.clone()) {
                record
                    .error
                    .get_or_insert(format!("forced reuse failed: {err}"));
            }
            watch.and_then(|w| w.reuse_holder)
        };
        self.pending = Some(Pending {
            record,
            tree,
            reuse_holder,
            acts: self.inside.take_acts(),
        });
        host_alive
    }

    /// Waits until the keeper exits, which it does when the tree is gone;
    /// what is left after the limit (a member that forked meanwhile) is
    /// killed through pidfds, and the keeper with it.
    fn end_keeper(&self, tree: &VictimTree, keeper: i32) {
        if self.keeper_gone(keeper, Instant::now() + QUIESCE_LIMIT) {
            return;
        }
        for m in tree.members() {
            self.inside.kill_member(tree, &m);
        }
        if !self.keeper_gone(keeper, Instant::now() + QUIESCE_LIMIT) {
            self.inside.kill_own(keeper);
        }
    }

    /// Whether the keeper was reaped by `until`.
    fn keeper_gone(&self, keeper: i32, until: Instant) -> bool {
        let mut table = self.inside.shared.table.lock();
        while table.procs.contains_key(&keeper) {
            if self
                .inside
                .shared
                .changed
                .wait_until(&mut table, until)
                .timed_out()
            {
                return !table.procs.contains_key(&keeper);
            }
        }
        true
    }

    /// When the last process of the victim's tree died, once no process of
    /// it is left: the main process's death, or a later orphan's as init
    /// reaped it (a process reaped by a parent in the tree died before that
    /// parent). Without a cgroup, the main process's death.
    fn tree_gone(&self, tree: &VictimTree, main_died: Option<Instant>) -> Option<Instant> {
        let main_died = main_died?;
        if let Some(keeper) = tree.keeper {
            // The keeper exits when its last child, the tree's last
            // process, has been reaped.
            if !self.keeper_gone(keeper, Instant::now() + QUIESCE_LIMIT) {
                return None;
            }
        }
        if let Some(dir) = &tree.dir {
            let deadline = Instant::now() + QUIESCE_LIMIT;
            while cgroup::populated(dir) {
                if Instant::now() >= deadline {
                    return None;
                }
                std::thread::sleep(Duration::from_micros(500));
            }
            // Left the cgroup, but a zombie until our reaper takes it: its
            // death is not known before then.
            let me = std::process::id() as i32;
            let unreaped = || {
                procfs::zombies_of(&procfs::scan(), me)
                    .iter()
                    .any(|&(p, _)| tree.holds(p, None, procfs::cgroup(p).as_deref()))
            };
            while unreaped() {
                if Instant::now() >= deadline {
                    return None;
                }
                std::thread::sleep(Duration::from_micros(200));
            }
        }
        let table = self.inside.shared.table.lock();
        let last = table.victim.as_ref().and_then(|w| w.last_tree_death);
        Some(last.map_or(main_died, |l| l.max(main_died)))
    }

    fn blank_record(&self, trial: u32, round: u32, label: &str) -> TrialRecord {
        TrialRecord {
            trial,
            round,
            strategy: label.to_string(),
            victim_pid: 0,
            victim_cmdline: self.scenario.victim.command.joined(),
            outcome: Outcome::Error,
            latency: None,
            strategy_time: Duration::ZERO,
            victim_end: None,
            victim_gone_before_stop: false,
            pid_reused: None,
            misfires: Vec::new(),
            victim_signals: Vec::new(),
            leaks: 0,
            leaked: Vec::new(),
            error: None,
            note: None,
            systemd_exit: None,
            race_window: None,
            exposure: None,
            exposure_follow: None,
        }
    }

    /// Finalizes the last trial after a short settle time.
    pub fn finish(&mut self) -> bool {
        std::thread::sleep(Duration::from_millis(20));
        self.finalize(None)
    }

    /// Attributes everything seen since the pending trial's stop request and
    /// emits its record. `next` is the next trial's victim, already started:
    /// what it broadcast while it started is its own trial's.
    /// Returns `false` when the host has gone away.
    fn finalize(&mut self, next: Option<&VictimTree>) -> bool {
        let Some(mut pending) = self.pending.take() else {
            return true;
        };
        // Deaths first: a process that reported a caught signal and then
        // died wrote its report before its death was seen, so the reports
        // drained after hold it.
        let deaths = std::mem::take(&mut self.inside.shared.table.lock().deaths);
        let mut caught = self.drain_handler_reports();
        caught.extend(self.stopped_bystander_signals());
        let keeper_signals = std::mem::take(&mut self.inside.shared.table.lock().keeper_signals);
        caught.extend(
            keeper_signals
                .into_iter()
                .map(|(pid, signal)| CaughtSignal {
                    pid,
                    cmdline: keeper::KEEPER_CMDLINE.to_string(),
                    role: Role::Keeper.name(),
                    signal,
                    seen_by: SeenBy::Pending,
                    sender: None,
                }),
        );
        let sentinel = SentinelEvidence {
            pid: deaths
                .iter()
                .find(|d| d.role == Some(Role::Sentinel))
                .map(|d| d.pid)
                .or(self.inside.shared.table.lock().sentinel),
            died_of: deaths.iter().find_map(|d| match (d.role, d.cause) {
                (Some(Role::Sentinel), crate::oracle::Cause::Signaled(sig)) => Some(sig),
                _ => None,
            }),
        };
        let hits = attribute(&Evidence {
            deaths: &deaths,
            caught: &caught,
            tree: &pending.tree,
            strategy: &pending.acts,
            sentinel: &sentinel,
            init_cmdline: &self.init_cmdline,
        });
        // A broadcast belongs to the victim that made it, as the sentinel
        // saw its sender: the next trial's victim may already have sent one
        // while it started, and the previous one's may still be landing.
        // Deaths carry no sender: they go with their signal's broadcast, and
        // stay with this trial when both victims broadcast that signal.
        let (mut theirs, mut ours) = (Vec::new(), Vec::new());
        for c in caught.iter().filter(|c| c.role == Role::Sentinel.name()) {
            let by_next =
                matches!((next, c.sender), (Some(tree), Some(sender)) if tree.sent(sender));
            let name = crate::scenario::signal::signal_name(c.signal);
            if by_next {
                theirs.push(name)
            } else {
                ours.push(name)
            }
        }
        let record = &mut pending.record;
        record.victim_signals = std::mem::take(&mut self.carried);
        for hit in hits {
            let sig = &hit.misfire.signal;
            let next_victims = hit.by_victim && theirs.contains(sig) && !ours.contains(sig);
            if next_victims {
                self.carried.push(hit.misfire);
            } else if hit.by_victim {
                record.victim_signals.push(hit.misfire);
            } else {
                record.misfires.push(hit.misfire);
            }
        }
        if let Some(holder) = pending.reuse_holder {
            self.inside.kill_own(holder);
        }
        emit(&Message::Trial {
            record: pending.record,
        })
    }

    /// The handler reports since the last drain: the bystanders' and the
    /// sentinel's caught signals, with their senders.
    fn drain_handler_reports(&self) -> Vec<CaughtSignal> {
        let bytes = super::wire::read_available(self.oracle_read.as_fd());
        let mut caught = Vec::new();
        for report in bystander::decode_reports(&bytes) {
            // By command line: a sentinel hit and replaced meanwhile still counts.
            let cmdline = self.bystander_cmdlines.get(&report.pid).cloned();
            let role = if cmdline.as_deref() == Some(bystander::SENTINEL_CMDLINE) {
                Role::Sentinel.name()
            } else {
                "bystander"
            };
            caught.push(CaughtSignal {
                pid: report.pid,
                cmdline: cmdline.unwrap_or_else(|| format!("[pid {}]", report.pid)),
                role,
                signal: report.signal,
                seen_by: SeenBy::Handler,
                sender: Some(report.sender),
            });
        }
        caught
    }

    /// Signals pending on SIGSTOPped bystanders; those hit are retired (and
    /// started afresh for the next trial) so a signal is never counted twice.
    fn stopped_bystander_signals(&self) -> Vec<CaughtSignal> {
        let mut caught = Vec::new();
        let slots: Vec<(usize, i32)> = {
            let table = self.inside.shared.table.lock();
            table
                .bystanders
                .iter()
                .enumerate()
                .filter_map(|(i, p)| Some((i, (*p)?)))
                .collect()
        };
        for (index, pid) in slots {
            if self.scenario.churn.bystanders[index].behaviour != BystanderBehaviour::Stopped {
                continue;
            }
            let pending = procfs::pending_signals(pid);
            if pending.is_empty() {
                continue;
            }
            let cmdline = self.scenario.churn.bystanders[index].command.joined();
            for signal in pending {
                caught.push(CaughtSignal {
                    pid,
                    cmdline: cmdline.clone(),
                    role: "bystander",
                    signal,
                    seen_by: SeenBy::Pending,
                    sender: None,
                });
            }
            self.inside.kill_own(pid);
        }
        caught
    }

    /// Starts the sentinel and every configured bystander that is not alive
    /// (first trial, or hit).
    fn ensure_bystanders(&mut self) -> Result<(), String> {
        let (inside, scenario) = (self.inside, self.scenario);
        if inside.shared.table.lock().sentinel.is_none() {
            let spec = self
                .ready_spec(|ready, oracle| bystander::sentinel_spec(&inside.exe, ready, oracle))?;
            self.start_ready(spec, Role::Sentinel, |table, pid| {
                table.sentinel = Some(pid)
            })?;
        }
        for (index, config) in scenario.churn.bystanders.iter().enumerate() {
            if inside.shared.table.lock().bystanders[index].is_some() {
                continue;
            }
            let spec = self.ready_spec(|ready, oracle| {
                bystander::exec_spec(config, &inside.exe, ready, oracle)
            })?;
            let pid = self.start_ready(spec, Role::Bystander(index), |table, pid| {
                table.bystanders[index] = Some(pid)
            })?;
            if config.behaviour == BystanderBehaviour::Stopped {
                self.stop_process(pid)?;
            }
        }
        Ok(())
    }

    /// A bystander-like exec with a fresh ready pipe and the oracle pipe.
    fn ready_spec(
        &self,
        spec: impl FnOnce(std::os::fd::RawFd, std::os::fd::RawFd) -> ExecSpec,
    ) -> Result<(ExecSpec, OwnedFd, OwnedFd), String> {
        let (ready_read, ready_write) =
            pipe2(OFlag::O_CLOEXEC).map_err(|e| format!("pipe: {e}"))?;
        let spec = spec(ready_write.as_raw_fd(), self.oracle_write.as_raw_fd());
        Ok((spec, ready_read, ready_write))
    }

    /// Spawns a process that reports ready, registers it under the same lock
    /// (so the reaper cannot see it die unregistered), and waits for it.
    fn start_ready(
        &mut self,
        (spec, ready_read, ready_write): (ExecSpec, OwnedFd, OwnedFd),
        role: Role,
        register: impl FnOnce(&mut super::table::Table, i32),
    ) -> Result<i32, String> {
        let pid = {
            let mut table = self.inside.shared.table.lock();
            let child = spawn::spawn(
                &ChildAction::Exec(&spec),
                self.inside.devnull.as_raw_fd(),
                None,
                false,
            )
            .map_err(|e| format!("cannot start {} `{}`: {e}", role.name(), spec.cmdline()))?;
            table.procs.insert(
                child.pid,
                Entry {
                    role,
                    cmdline: spec.cmdline().into(),
                },
            );
            register(&mut table, child.pid);
            child.pid
        };
        // Only the child holds the write end now, so its exit means EOF.
        drop(ready_write);
        self.bystander_cmdlines.insert(pid, spec.cmdline());
        wait_ready(&ready_read).map_err(|e| format!("{} `{}` {e}", role.name(), spec.cmdline()))?;
        Ok(pid)
    }

    fn start_victim(
        &mut self,
        cgroup: Option<std::os::fd::RawFd>,
        cgroup_name: Option<Arc<str>>,
    ) -> Result<Started, String> {
        let config = &self.scenario.victim;
        let simulated = config.behaviour != Behaviour::Exec;
        let (ready_read, ready_write) =
            pipe2(OFlag::O_CLOEXEC).map_err(|e| format!("pipe: {e}"))?;
        let exit_after = config.exit_after.sample(&mut self.rng);
        let spec = crate::victim::exec_spec(
            config,
            &self.inside.exe,
            simulated.then(|| ready_write.as_raw_fd()),
            exit_after,
        );
        // Without a cgroup of its own, the victim's parent is a keeper that
        // inherits its orphans (see keeper.rs): the tree stays exact.
        if cgroup.is_none() {
            let candidates = if config.random_pid {
                self.random_pids()
                    .map_err(|e| format!("cannot start the victim `{}`: {e}", spec.cmdline()))?
            } else {
                Vec::new()
            };
            let keeper = keeper::start(self.inside, &spec, candidates)?;
            let (pid, keeper_pid) = (keeper.victim, keeper.pid);
            self.inside.shared.table.lock().victim = Some(self.watch(pid, None));
            let pidfd = keeper.watch(self.inside.shared.clone(), self.inside.devnull.as_raw_fd());
            drop(ready_write);
            return self.victim_started(pid, Some(pidfd), Some(keeper_pid), ready_read, exit_after);
        }
        let child = {
            let mut table = self.inside.shared.table.lock();
            let child = if config.random_pid {
                self.spawn_at_random_pid(&spec, cgroup)
            } else {
                spawn::spawn_into(
                    &ChildAction::Exec(&spec),
                    self.inside.devnull.as_raw_fd(),
                    None,
                    true,
                    cgroup,
                )
            }
            .map_err(|e| format!("cannot start the victim `{}`: {e}", spec.cmdline()))?;
            table.procs.insert(
                child.pid,
                Entry {
                    role: Role::Victim,
                    cmdline: spec.cmdline().into(),
                },
            );
            table.victim = Some(self.watch(child.pid, cgroup_name));
            child
        };
        drop(ready_write);
        self.victim_started(child.pid, child.pidfd, None, ready_read, exit_after)
    }

    fn watch(&self, pid: i32, cgroup: Option<Arc<str>>) -> VictimWatch {
        VictimWatch {
            pid,
            death: None,
            cgroup,
            last_tree_death: None,
            reuse: self.reuse.clone(),
            reuse_holder: None,
            reuse_error: None,
        }
    }

    /// Waits until the started victim is what its behaviour asks for at the
    /// stop: ready, SIGSTOPped, or dead on its own.
    fn victim_started(
        &self,
        pid: i32,
        pidfd: Option<OwnedFd>,
        keeper: Option<i32>,
        ready_read: OwnedFd,
        exit_after: Duration,
    ) -> Result<Started, String> {
        let config = &self.scenario.victim;
        if config.behaviour != Behaviour::Exec {
            wait_ready(&ready_read).map_err(|e| format!("victim {e}"))?;
        } else {
            std::thread::sleep(config.startup.0);
        }
        match config.behaviour {
            Behaviour::Stopped => self.stop_victim(pid, pidfd.as_ref())?,
            Behaviour::ExitEarly => {
                let limit = Instant::now() + exit_after + READY_LIMIT;
                if self.inside.wait_victim_death(limit).is_none() {
                    return Err("the exit-early victim did not exit on its own".into());
                }
                std::thread::sleep(config.stale_for.0);
            }
            _ => {}
        }
        let main_gone_before_stop = self
            .inside
            .shared
            .table
            .lock()
            .victim
            .as_ref()
            .is_some_and(|w| w.death.is_some());
        Ok(Started {
            pid,
            pidfd,
            keeper,
            main_gone_before_stop,
        })
    }

    /// `random_pid` under a keeper: free numbers of the allocator's cycle,
    /// drawn here, for the keeper to try in turn.
    fn random_pids(&mut self) -> Result<Vec<i32>, String> {
        use rand::Rng;
        let pid_max = crate::model::host::pid_max().map_err(|e| e.to_string())?;
        let low = crate::model::risk::RESERVED as i32;
        Ok((0..64)
            .map(|_| self.rng.random_range(low..pid_max as i32))
            .collect())
    }

    /// Spawns the victim under a uniformly drawn free number of the
    /// allocator's cycle (`random_pid`); a number in use is drawn again.
    fn spawn_at_random_pid(
        &mut self,
        spec: &ExecSpec,
        cgroup: Option<std::os::fd::RawFd>,
    ) -> std::io::Result<spawn::Spawned> {
        use rand::Rng;
        let pid_max = crate::model::host::pid_max().map_err(std::io::Error::other)?;
        let low = crate::model::risk::RESERVED as i32;
        let mut last = std::io::Error::other("no free PID number found in 64 draws");
        for _ in 0..64 {
            let pid = self.rng.random_range(low..pid_max as i32);
            match spawn::spawn_into(
                &ChildAction::Exec(spec),
                self.inside.devnull.as_raw_fd(),
                Some(pid),
                true,
                cgroup,
            ) {
                Ok(child) => return Ok(child),
                Err(e) if e.raw_os_error() == Some(libc::EEXIST) => last = e,
                Err(e) => {
                    return Err(std::io::Error::other(format!(
                        "random_pid needs clone3 set_tid (CAP_SYS_ADMIN in the sandbox): {e}"
                    )))
                }
            }
        }
        Err(last)
    }

    /// Counts the sandbox's tasks in the allocator's cycle (threads hold
    /// numbers too), churners included: a freed number sits among the
    /// numbers not in use when it is freed, and the churners born just
    /// before hold the stretch right behind the allocator, so the allocator
    /// reaches it within (cycle - in use) allocations (see model::risk).
    fn sample_held_pids(&self) {
        let tasks = crate::model::host::live_pids().unwrap_or(0);
        self.inside.shared.table.lock().held_samples.push(tasks);
    }

    /// SIGSTOPs the victim (the seed's `kill -STOP`), through its pidfd
    /// where it has one (under a keeper it is not init's child).
    fn stop_victim(&self, pid: i32, pidfd: Option<&OwnedFd>) -> Result<(), String> {
        match pidfd {
            Some(fd) => {
                let _ = rustix::process::pidfd_send_signal(fd, rustix::process::Signal::STOP);
                self.wait_stopped(pid)
            }
            None => self.stop_process(pid),
        }
    }

    /// SIGSTOPs a process init started (the seed's `kill -STOP`) and waits until it is stopped.
    fn stop_process(&self, pid: i32) -> Result<(), String> {
        {
            let table = self.inside.shared.table.lock();
            if table.procs.contains_key(&pid) {
                unsafe { libc::kill(pid, libc::SIGSTOP) };
            }
        }
        self.wait_stopped(pid)
    }

    fn wait_stopped(&self, pid: i32) -> Result<(), String> {
        let deadline = Instant::now() + READY_LIMIT;
        while Instant::now() < deadline {
            if procfs::stat(pid).is_some_and(|s| s.state == 'T') {
                return Ok(());
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        Err(format!("process {pid} did not stop after SIGSTOP"))
    }
}

/// Waits for the one-byte ready signal of a freshly started process.
fn wait_ready(read: &OwnedFd) -> Result<(), String> {
    use rustix::event::{poll, PollFd, PollFlags, Timespec};
    let timeout = Timespec {
        tv_sec: READY_LIMIT.as_secs() as i64,
        tv_nsec: 0,
    };
    let mut fds = [PollFd::new(read, PollFlags::IN)];
    loop {
        match poll(&mut fds, Some(&timeout)) {
            Err(rustix::io::Errno::INTR) => continue,
            Ok(0) => return Err(format!("did not report ready within {READY_LIMIT:?}")),
            _ => break,
        }
    }
    let mut byte = [0u8; 1];
    match nix::unistd::read(read.as_fd(), &mut byte) {
        Ok(1) => Ok(()),
        _ => Err("exited before it was ready".into()),
    }
}
