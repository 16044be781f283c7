//! Running trials inside the sandbox: start the victim, stop it with one
//! strategy, watch what happened, clean up, and hand the record out.
//!
//! A trial's record is finished one trial late: signals a strategy sent may
//! still be landing when it returns, so deaths are attributed to a trial
//! until the next trial's stop request. Nothing else signals in between but
//! init's own, marked, cleanup and the next victim's program while it starts;
//! what that victim broadcasts is carried over to its own trial.

mod course;
mod direct;
mod forking;
mod unit;

pub use unit::install_units;

use super::cgroup::CgroupTree;
use super::inside::Inside;
use super::keeper;
use super::procfs;
use super::spawn::{self, ChildAction, ExecSpec};
use super::table::{Death, KeeperSignal, Role};
use super::victim_tree::VictimTree;
use super::wire::{emit, Message};
use crate::churn::bystander::{self, OracleReport};
use crate::churn::crowd::{self, CrowdLink};
use crate::measure::verdict::{verdict, Observation};
use crate::measure::TrialRecord;
use crate::oracle::{
    attribute, CaughtSignal, Evidence, Misfire, SeenBy, SentinelEvidence, StrategyActs,
};
use crate::sandbox::error::{NotReady, TrialError};
use crate::scenario::{Behaviour, BystanderBehaviour, BystanderConfig, Newcomer, Scenario};
use crate::strategy::StopStrategy;
use course::Course;
use direct::DirectCourse;
use nix::fcntl::OFlag;
use nix::unistd::pipe2;
use std::collections::HashMap;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a victim or bystander may take to report ready.
const READY_LIMIT: Duration = Duration::from_secs(5);
/// How often the PIDs in use are counted (see `sample_held_pids`).
const HELD_SAMPLE_EVERY: Duration = Duration::from_millis(250);
/// How long cleanup may wait for stragglers of a trial.
const QUIESCE_LIMIT: Duration = Duration::from_secs(2);

pub struct TrialRunner<'a> {
    inside: &'a Inside,
    cgroups: Option<&'a CgroupTree>,
    scenario: &'a Scenario,
    oracle_read: OwnedFd,
    oracle_write: OwnedFd,
    /// Under forced reuse, who may take the victim's number.
    reuse: Option<Newcomers>,
    /// Who takes it in the current trial (the strategy's or the churn's).
    newcomer: Newcomer,
    pending: Option<Pending>,
    /// Command line of every bystander started, by PID: a bystander's handler
    /// report may be read after the bystander itself was killed and reaped.
    bystander_cmdlines: HashMap<i32, String>,
    /// Draws each trial's victim age (`exit_after` ranges).
    rng: rand::rngs::StdRng,
    /// PID 1's command line, as a misfire on init shows it.
    init_cmdline: String,
    /// The victim's command line as every record and strategy sees it,
    /// joined once rather than per trial.
    victim_cmdline: String,
    /// The victim's executable, as `/proc/PID/exe` names it.
    victim_exe: String,
    /// Signals the next trial's victim sent while it started, found while
    /// the previous trial was finalized.
    carried: Vec<Misfire>,
    /// When the PIDs in use were last counted, and how long that took.
    held_sampled: Option<(Instant, Duration)>,
    /// Init's end of each crowd keeper's pipes, by bystander index.
    crowds: HashMap<usize, CrowdLink>,
    /// One /proc scan's floor, measured once every bystander first stood
    /// (see procfs::scan_floor): median time of three, and processes seen.
    scan_floor: Option<(Duration, usize)>,
    /// Per strategy label, recorded trials and those with a misfire, as
    /// emitted: what `until_precision` is judged on.
    pub tallies: HashMap<String, (u64, u64)>,
    /// `systemd` rows whose journal one trial already carries (see
    /// unit.rs): one representative stop per row, as `journalctl -u` shows it.
    journaled: std::cell::RefCell<std::collections::HashSet<String>>,
}

struct Pending {
    record: TrialRecord,
    tree: VictimTree,
    reuse_holder: Option<i32>,
    acts: StrategyActs,
    /// When the reaper freed the victim's number.
    victim_freed: Option<Instant>,
}

impl Pending {
    fn failed(record: TrialRecord) -> Self {
        Self {
            record,
            tree: VictimTree::none(),
            reuse_holder: None,
            acts: StrategyActs::default(),
            victim_freed: None,
        }
    }
}

impl<'a> TrialRunner<'a> {
    pub fn new(
        inside: &'a Inside,
        scenario: &'a Scenario,
        cgroups: Option<&'a CgroupTree>,
    ) -> std::io::Result<Self> {
        let (oracle_read, oracle_write) = pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK)?;
        let newcomer_ids = scenario.churn.newcomer_user.as_ref().map(|u| u.ids());
        let reuse = scenario.churn.forced_reuse.then(|| Newcomers {
            stand_in: Arc::new(
                bystander::reuse_holder_spec(&scenario.churn.reuse_command.0, &inside.exe)
                    .run_as(newcomer_ids),
            ),
            // Another instance of the daemon is the daemon's program (name,
            // executable) by the time anyone can look: its exec is awaited.
            same_program: Arc::new(
                crate::victim::same_program_spec(&scenario.victim, &inside.exe)
                    .run_as(newcomer_ids)
                    .waiting_for_exec(),
            ),
        });
        Ok(Self {
            inside,
            cgroups,
            scenario,
            oracle_read,
            oracle_write,
            reuse,
            newcomer: scenario.churn.newcomer,
            pending: None,
            bystander_cmdlines: HashMap::new(),
            rng: rand::SeedableRng::seed_from_u64(scenario.seed ^ 0xA9E),
            init_cmdline: procfs::cmdline(1),
            victim_cmdline: scenario.victim.command.joined(),
            victim_exe: crate::victim::executable(&scenario.victim, &inside.exe),
            carried: Vec::new(),
            held_sampled: None,
            crowds: HashMap::new(),
            scan_floor: None,
            tallies: HashMap::new(),
            journaled: Default::default(),
        })
    }

    /// Runs one trial of a strategy stopbench drives itself; its record is
    /// emitted when the next one starts (or at `finish`).
    pub fn run(
        &mut self,
        trial: u32,
        round: u32,
        strategy: &dyn StopStrategy,
        label: &str,
    ) -> bool {
        // A /proc scan reads every task's directory: with thousands of
        // processes it costs more than a trial. For a mean, one sample per
        // quarter second is plenty, however fast trials go, and the samples
        // are spaced so that they take at most 2% of the time.
        let due =
            |(at, cost): (Instant, Duration)| at.elapsed() >= HELD_SAMPLE_EVERY.max(cost * 50);
        if self.held_sampled.is_none_or(due) {
            let at = Instant::now();
            self.sample_held_pids();
            self.held_sampled = Some((at, at.elapsed()));
        }
        let config = self.scenario.strategies.iter().find(|s| s.label() == label);
        let timeout = config.map_or(Duration::from_secs(2), |s| s.timeout.0);
        let repeat = config.and_then(|s| s.repeat_after).map(|d| d.0);
        self.newcomer = config
            .and_then(|s| s.newcomer)
            .unwrap_or(self.scenario.churn.newcomer);
        let mut course = DirectCourse::new(strategy, timeout, trial, repeat);
        self.run_trial(trial, round, label, &mut course)
    }

    /// The one skeleton of every trial, whoever runs the victim (see
    /// course.rs). Returns `false` when the host has gone away.
    fn run_trial(&mut self, trial: u32, round: u32, label: &str, course: &mut dyn Course) -> bool {
        let mut record = self.blank_record(trial, round, label);
        let bystanders = self.ensure_bystanders();
        if bystanders.is_ok() && self.scan_floor.is_none() {
            self.scan_floor = measure_scan_floor();
        }
        let launched = match bystanders.and_then(|()| course.start(self)) {
            Ok(launched) => launched,
            Err(err) => {
                record.error = Some(err.to_string());
                course.abandon(self);
                let alive = self.finalize(None);
                self.inside.shared.table.lock().end_victim_watch();
                self.pending = Some(Pending::failed(record));
                return alive;
            }
        };
        record.victim_pid = launched.tree.main;
        record.victim_gone_before_stop = launched.gone_before_stop;
        // The previous trial's window closes here: what happens from now on
        // is this one's.
        let host_alive = self.finalize(Some(&launched.tree));

        self.inside.reset_acts();
        let stopped = course.stop(self, &launched);
        let verdict = verdict(&Observation {
            requested: Some(stopped.requested),
            completed: Some(stopped.completed),
            main_end: stopped.main_end,
            gone_before_stop: launched.gone_before_stop,
            early_exit_expected: self.scenario.victim.behaviour == Behaviour::ExitEarly,
            tree_gone: stopped.tree_gone,
            leaks: stopped.leaked.len() as u32,
            final_phase_at: stopped.final_phase_at,
            strategy_error: stopped.strategy_error.clone(),
            eperm: stopped.eperm,
        });
        record.outcome = verdict.outcome;
        record.latency = verdict.death;
        record.strategy_time = verdict.completion;
        record.error = verdict.error;
        record.victim_end = stopped.victim_end;
        record.leaks = stopped.leaked.len() as u32;
        record.leaked = stopped.leaked.iter().map(|m| m.cmdline.clone()).collect();
        record.pid_reused = stopped.pid_reused;
        record.race_window = stopped.race_window;
        record.exposure = stopped.exposure.map(|e| e.gap);
        record.exposure_follow = stopped.exposure.map(|e| e.follow);
        record.note = stopped.note.clone();
        record.helpers = (!stopped.helpers.is_empty()).then(|| stopped.helpers.join("; "));
        record.systemd_exit = stopped.systemd_exit;
        record.cpu = stopped.cpu;

        course.clean_up(self, &launched, &stopped.leaked);
        self.inside.quiesce(&[], QUIESCE_LIMIT);
        self.inside.settle_targets(QUIESCE_LIMIT);
        self.inside.settle(QUIESCE_LIMIT);
        let watch = self.inside.shared.table.lock().end_victim_watch();
        if let Some(err) = watch.as_ref().and_then(|w| w.reuse_error.clone()) {
            record
                .error
                .get_or_insert(format!("forced reuse failed: {err}"));
        }
        let reuse_holder = stopped.reuse_holder.or(watch.and_then(|w| w.reuse_holder));
        self.pending = Some(Pending {
            record,
            tree: launched.tree,
            reuse_holder,
            acts: self.inside.take_acts(),
            victim_freed: stopped.main_end.map(|(_, at)| at),
        });
        host_alive
    }

    fn blank_record(&self, trial: u32, round: u32, label: &str) -> TrialRecord {
        TrialRecord::new(trial, round, label, &self.victim_cmdline)
    }

    /// One /proc scan's floor in this sandbox, with every bystander up.
    pub fn scan_floor(&self) -> Option<(Duration, usize)> {
        self.scan_floor
    }

    /// Finalizes the last trial after a short settle time.
    pub fn finish(&mut self) -> bool {
        std::thread::sleep(Duration::from_millis(20));
        // The crowds' dead of the last trial, reported before it is attributed.
        for link in self.crowds.values() {
            let _ = link.sync(false);
        }
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
        let mut deaths = self.inside.shared.table.lock().take_deaths();
        let (mut caught, crowd_deaths) = self.drain_oracle();
        deaths.extend(crowd_deaths);
        caught.extend(self.stopped_bystander_signals());
        let keeper_signals = self.inside.shared.table.lock().take_keeper_signals();
        caught.extend(
            keeper_signals
                .into_iter()
                .map(|KeeperSignal { keeper, signal }| CaughtSignal {
                    pid: keeper,
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
                .or(self.inside.shared.table.lock().sentinel()),
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
            victim_freed: pending.victim_freed,
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
        self.emit_recorded(pending.record)
    }

    /// Sends a finished trial's record to the host, unless it is a warm-up
    /// trial: those come first and are not recorded, and the rounds and
    /// trials recorded are numbered from zero after them. Returns `false`
    /// when the host has gone away.
    fn emit_recorded(&mut self, mut record: TrialRecord) -> bool {
        let warmup = self.scenario.warmup.0;
        if record.round < warmup {
            return true;
        }
        record.round -= warmup;
        record.trial -= warmup * self.scenario.strategies.len() as u32;
        let tally = self.tallies.entry(record.strategy.clone()).or_default();
        tally.0 += 1;
        tally.1 += u64::from(!record.misfires.is_empty());
        emit(&Message::Trial { record })
    }

    /// The oracle pipe since the last drain: the signals bystanders and the
    /// sentinel caught, with their senders, and the crowd members their
    /// keepers found dead of a signal.
    fn drain_oracle(&self) -> (Vec<CaughtSignal>, Vec<Death>) {
        let bytes = super::wire::read_available(self.oracle_read.as_fd());
        let (mut caught, mut deaths) = (Vec::new(), Vec::new());
        let crowd_cmdline = |index: usize| self.scenario.churn.bystanders[index].command.joined();
        for report in bystander::decode_reports(&bytes) {
            match report {
                OracleReport::Caught {
                    pid,
                    signal,
                    sender,
                    crowd,
                } => {
                    // By command line: a sentinel hit and replaced meanwhile still counts.
                    let cmdline = match crowd {
                        Some(index) => Some(crowd_cmdline(index)),
                        None => self.bystander_cmdlines.get(&pid).cloned(),
                    };
                    let role = match cmdline.as_deref() {
                        Some(bystander::SENTINEL_CMDLINE) => Role::Sentinel.name(),
                        Some(crowd::KEEPER_CMDLINE) => Role::Crowd(0).name(),
                        _ => "bystander",
                    };
                    caught.push(CaughtSignal {
                        pid,
                        cmdline: cmdline.unwrap_or_else(|| format!("[pid {pid}]")),
                        role,
                        signal,
                        seen_by: SeenBy::Handler,
                        sender: Some(sender),
                    });
                }
                OracleReport::Died { pid, signal, crowd } => deaths.push(Death {
                    pid,
                    role: Some(Role::Bystander(crowd)),
                    cmdline: crowd_cmdline(crowd).into(),
                    start: None,
                    cgroup: None,
                    cause: crate::oracle::Cause::Signaled(signal),
                    at: Instant::now(),
                }),
            }
        }
        (caught, deaths)
    }

    /// Signals pending on SIGSTOPped bystanders; those hit are retired (and
    /// started afresh for the next trial) so a signal is never counted twice.
    fn stopped_bystander_signals(&self) -> Vec<CaughtSignal> {
        let mut caught = Vec::new();
        let slots = self.inside.shared.table.lock().live_bystanders();
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
    fn ensure_bystanders(&mut self) -> Result<(), TrialError> {
        let (inside, scenario) = (self.inside, self.scenario);
        if inside.shared.table.lock().sentinel().is_none() {
            let spec = self
                .ready_spec(|ready, oracle| bystander::sentinel_spec(&inside.exe, ready, oracle))?;
            self.start_ready(spec, Role::Sentinel, READY_LIMIT)?;
        }
        for (index, config) in scenario.churn.bystanders.iter().enumerate() {
            if config.is_crowd() {
                self.ensure_crowd(index, config)?;
                continue;
            }
            if inside.shared.table.lock().bystander(index).is_some() {
                continue;
            }
            let spec = self.ready_spec(|ready, oracle| {
                bystander::exec_spec(config, &inside.exe, ready, oracle)
            })?;
            let pid = self.start_ready(spec, Role::Bystander(index), READY_LIMIT)?;
            if config.behaviour == BystanderBehaviour::Stopped {
                self.stop_process(pid)?;
            }
        }
        Ok(())
    }

    /// Starts crowd `index` where its keeper is not alive; otherwise has
    /// the keeper report its dead and make it whole again.
    fn ensure_crowd(&mut self, index: usize, config: &BystanderConfig) -> Result<(), TrialError> {
        let keeper = self.inside.shared.table.lock().bystander(index);
        if let (Some(link), Some(keeper)) = (self.crowds.get(&index), keeper) {
            let Err(why) = link.sync(true) else {
                return Ok(());
            };
            // A keeper that does not answer (stopped, say) is replaced, with
            // its crowd, before the next trial.
            self.inside.kill_own(keeper);
            self.crowds.remove(&index);
            return Err(TrialError::NotReady {
                what: Role::Crowd(index).name(),
                cmdline: crowd::KEEPER_CMDLINE.into(),
                why,
            });
        }
        self.crowds.remove(&index);
        let (control_read, control) = pipe2(OFlag::O_CLOEXEC).map_err(TrialError::Pipe)?;
        let (answer, answer_write) = pipe2(OFlag::O_CLOEXEC).map_err(TrialError::Pipe)?;
        let (inside, count) = (self.inside, config.count.one().0);
        let spec = self.ready_spec(|ready, oracle| {
            let fds = [
                ready,
                oracle,
                control_read.as_raw_fd(),
                answer_write.as_raw_fd(),
            ];
            crowd::keeper_spec(config, index, &inside.exe, fds)
        })?;
        self.start_ready(spec, Role::Crowd(index), crowd::start_limit(count))?;
        drop((control_read, answer_write));
        self.crowds.insert(
            index,
            CrowdLink {
                control,
                answer,
                count,
            },
        );
        Ok(())
    }

    /// A bystander-like exec with a fresh ready pipe and the oracle pipe.
    fn ready_spec(
        &self,
        spec: impl FnOnce(std::os::fd::RawFd, std::os::fd::RawFd) -> ExecSpec,
    ) -> Result<(ExecSpec, OwnedFd, OwnedFd), TrialError> {
        let (ready_read, ready_write) = pipe2(OFlag::O_CLOEXEC).map_err(TrialError::Pipe)?;
        let spec = spec(ready_write.as_raw_fd(), self.oracle_write.as_raw_fd());
        Ok((spec, ready_read, ready_write))
    }

    /// Spawns a process that reports ready, registers it under the same lock
    /// (so the reaper cannot see it die unregistered), and waits for it.
    fn start_ready(
        &mut self,
        (spec, ready_read, ready_write): (ExecSpec, OwnedFd, OwnedFd),
        role: Role,
        limit: Duration,
    ) -> Result<i32, TrialError> {
        let pid = {
            let mut table = self.inside.shared.table.lock();
            let child = spawn::spawn(
                &ChildAction::Exec(&spec),
                self.inside.devnull.as_raw_fd(),
                None,
                false,
            )
            .map_err(|source| TrialError::Spawn {
                what: role.name(),
                cmdline: spec.cmdline(),
                source,
            })?;
            table.register(child.pid, role, spec.cmdline().into());
            child.pid
        };
        // Only the child holds the write end now, so its exit means EOF.
        drop(ready_write);
        self.bystander_cmdlines.insert(pid, spec.cmdline());
        super::wire::wait_byte(&ready_read, limit).map_err(|why| TrialError::NotReady {
            what: role.name(),
            cmdline: spec.cmdline(),
            why,
        })?;
        Ok(pid)
    }

    /// Counts the sandbox's tasks in the allocator's cycle (threads hold
    /// numbers too), churners included: a freed number sits among the
    /// numbers not in use when it is freed, and the churners born just
    /// before hold the stretch right behind the allocator, so the allocator
    /// reaches it within (cycle - in use) allocations (see model::risk).
    fn sample_held_pids(&self) {
        let tasks = crate::model::host::live_pids().unwrap_or(0);
        self.inside.shared.table.lock().sample_held(tasks);
    }

    /// SIGSTOPs a process init started (the seed's `kill -STOP`) and waits until it is stopped.
    fn stop_process(&self, pid: i32) -> Result<(), TrialError> {
        self.inside
            .shared
            .table
            .lock()
            .signal_own(pid, libc::SIGSTOP);
        self.wait_stopped(pid)
    }

    fn wait_stopped(&self, pid: i32) -> Result<(), TrialError> {
        let deadline = Instant::now() + READY_LIMIT;
        while Instant::now() < deadline {
            if procfs::stat(pid).is_some_and(|s| s.state == 'T') {
                return Ok(());
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        Err(TrialError::NotStopped(pid))
    }
}

/// The median of three scans (see procfs::scan_floor).
fn measure_scan_floor() -> Option<(Duration, usize)> {
    let mut scans: Vec<(Duration, usize)> = (0..3).filter_map(|_| procfs::scan_floor()).collect();
    scans.sort_unstable();
    scans.get(scans.len() / 2).copied()
}

/// Waits for the one-byte ready signal of a freshly started process.
fn wait_ready(read: &OwnedFd) -> Result<(), NotReady> {
    super::wire::wait_byte(read, READY_LIMIT)
}

impl TrialRunner<'_> {
    /// Under forced reuse, what the current trial's newcomer runs.
    fn newcomer_spec(&self) -> Option<Arc<ExecSpec>> {
        self.reuse.as_ref().map(|r| match self.newcomer {
            Newcomer::StandIn => r.stand_in.clone(),
            Newcomer::SameProgram => r.same_program.clone(),
        })
    }
}

/// The two processes that can take the victim's number under forced reuse.
struct Newcomers {
    stand_in: Arc<ExecSpec>,
    same_program: Arc<ExecSpec>,
}
