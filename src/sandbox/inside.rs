//! The sandbox as seen from its init: what strategies and the trial runner
//! may do. Every operation that names a process by number runs with the
//! process table locked, so the number cannot change holder mid-operation.

use super::error::TrialError;
use super::spawn::{self, ChildAction, ExecSpec, Spawned};
use super::table::{ExactProcess, Role, Shared};
use super::trace::TraceEvent;
use crate::oracle::{Cause, StrategyActs};
use nix::sys::signal::Signal;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// PATH given to helpers, as systemd gives it to Exec*= commands.
pub const HELPER_PATH: &str = crate::scenario::program::SYSTEMD_PATH;

/// How long a helper killed at its limit may take to be reaped.
const HELPER_REAP: Duration = Duration::from_secs(2);

pub struct Inside {
    pub shared: Arc<Shared>,
    pub devnull: OwnedFd,
    /// Our own binary, re-executed for victims and bystanders.
    pub exe: String,
    /// Timestamps from inside traced helpers; `None` without the shim.
    pub trace: Option<super::trace::HelperTrace>,
    /// What the current trial's strategy did: whom it signalled, which
    /// processes acted for it (see [`Inside::take_acts`]).
    pub acts: parking_lot::Mutex<StrategyActs>,
}

/// A traced helper's end and the moments its processes reported.
pub struct HelperRun {
    pub cause: Cause,
    pub events: Vec<TraceEvent>,
    /// What the helper and its children wrote to stderr (a usage error,
    /// "No such process"), kept so a failed helper is never a silent stop.
    pub stderr: String,
    /// Still running at its limit, so killed (SIGKILL): `cause` says so.
    pub overran: bool,
}

/// What signalling a number did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumberSignal {
    /// Someone held the number; `reused` when it was not the victim.
    Delivered {
        reused: bool,
    },
    NoProcess,
}

impl Inside {
    /// Spawns and registers a child in one step under the table lock, so the
    /// reaper cannot see it before it is known.
    pub fn spawn(
        &self,
        action: &ChildAction<'_>,
        role: Role,
        cmdline: Arc<str>,
        want_pidfd: bool,
    ) -> std::io::Result<Spawned> {
        let mut table = self.shared.table.lock();
        let child = spawn::spawn(action, self.devnull.as_raw_fd(), None, want_pidfd)?;
        table.register(child.pid, role, cmdline);
        Ok(child)
    }

    /// Runs a helper program to its end, as a unit's Exec*= line would run,
    /// and returns how it ended. A helper still running after `limit` is
    /// killed and reported as an error.
    pub fn run_helper(
        &self,
        argv: &[String],
        env: &[(String, String)],
        limit: Duration,
    ) -> Result<Cause, TrialError> {
        let spec = self.helper_spec(argv, env, false, None);
        let pid = self.start_helper(&spec)?;
        self.wait_helper(pid, &spec, limit)
    }

    /// A helper's exec: systemd's PATH, `env`, with `traced` the shim, and
    /// with `stderr` that fd as its standard error.
    fn helper_spec(
        &self,
        argv: &[String],
        env: &[(String, String)],
        traced: bool,
        stderr: Option<std::os::fd::RawFd>,
    ) -> ExecSpec {
        let mut full_env = vec![("PATH".to_string(), HELPER_PATH.to_string())];
        full_env.extend(env.iter().cloned());
        let mut fds: Vec<_> = stderr.map(|fd| (fd, 2)).into_iter().collect();
        if let Some(trace) = self.trace.as_ref().filter(|_| traced) {
            let (trace_env, trace_fds) = trace.helper_setup();
            full_env.extend(trace_env);
            fds.extend(trace_fds);
        }
        ExecSpec::new(&argv[0], argv, &full_env, fds)
    }

    /// [`run_helper`](Self::run_helper) with the trace shim loaded into the
    /// helper and everything it starts, for strategies whose race window is
    /// made of moments inside their helpers (`ps` exiting, `kill()` returning).
    /// Without the shim the events are empty.
    pub fn run_traced_helper(
        &self,
        argv: &[String],
        env: &[(String, String)],
        limit: Duration,
    ) -> Result<HelperRun, TrialError> {
        let run = self.run_traced_step(argv, env, limit, None)?;
        if run.overran {
            return Err(TrialError::HelperTimeout {
                cmdline: argv.join(" "),
                limit,
            });
        }
        Ok(run)
    }

    /// [`run_traced_helper`](Self::run_traced_helper) for a stop command
    /// held to a time limit as systemd holds `ExecStop=` to
    /// `TimeoutStopSec=`: one still running at `limit` is killed, and that
    /// is data (`overran`), not an error. `user`: `(uid, gid)` it runs as.
    pub fn run_traced_step(
        &self,
        argv: &[String],
        env: &[(String, String)],
        limit: Duration,
        user: Option<(u32, u32)>,
    ) -> Result<HelperRun, TrialError> {
        // Non-blocking: the helper's whole tree has exited when its stderr is
        // read, but churners forked meanwhile may hold copies of the write end.
        let (read, write) =
            nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC | nix::fcntl::OFlag::O_NONBLOCK)
                .map_err(TrialError::Pipe)?;
        let spec = self
            .helper_spec(argv, env, true, Some(write.as_raw_fd()))
            .run_as(user);
        let started = self.start_helper(&spec);
        drop(write);
        let (cause, overran) = match started {
            Err(e) => (Err(e), false),
            Ok(pid) => match self.wait_helper(pid, &spec, limit) {
                Ok(cause) => (Ok(cause), false),
                // Killed by wait_helper; its exit is taken so none is left behind.
                Err(TrialError::HelperTimeout { .. }) => {
                    let cause = self
                        .wait_helper(pid, &spec, HELPER_REAP)
                        .unwrap_or(Cause::Signaled(libc::SIGKILL));
                    (Ok(cause), true)
                }
                Err(e) => (Err(e), false),
            },
        };
        // Drained even on error, so no event reaches the next helper's run.
        let events = self.trace.as_ref().map(|t| t.drain()).unwrap_or_default();
        self.note_trace(&events);
        let stderr = super::wire::read_available(std::os::fd::AsFd::as_fd(&read));
        Ok(HelperRun {
            cause: cause?,
            events,
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
            overran,
        })
    }

    /// When the reaper reaped the current victim (its number became free).
    pub fn victim_death_at(&self) -> Option<Instant> {
        self.shared.table.lock().victim_death().map(|(_, at)| at)
    }

    /// Runs a helper and returns how it ended and what it wrote to stdout.
    pub fn run_helper_output(
        &self,
        argv: &[String],
        limit: Duration,
    ) -> Result<(Cause, String), TrialError> {
        self.run_helper_capturing(argv, limit, &[1])
    }

    /// [`Self::run_helper_output`] with stderr too: for a diagnosis, where
    /// the helper's complaint is the point.
    pub fn run_helper_said(
        &self,
        argv: &[String],
        limit: Duration,
    ) -> Result<(Cause, String), TrialError> {
        self.run_helper_capturing(argv, limit, &[1, 2])
    }

    fn run_helper_capturing(
        &self,
        argv: &[String],
        limit: Duration,
        targets: &[RawFd],
    ) -> Result<(Cause, String), TrialError> {
        use std::io::Read;
        let (read, write) =
            nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(TrialError::Pipe)?;
        let env = vec![("PATH".to_string(), HELPER_PATH.to_string())];
        let fds = targets.iter().map(|&t| (write.as_raw_fd(), t)).collect();
        let spec = ExecSpec::new(&argv[0], argv, &env, fds);
        let pid = self.start_helper(&spec)?;
        drop(write);
        // Churners started meanwhile hold copies of the write end until they
        // exit, so read what the helper wrote, then stop at its exit.
        let reader = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = std::fs::File::from(read).read_to_string(&mut text);
            text
        });
        let cause = self.wait_helper(pid, &spec, limit)?;
        Ok((cause, reader.join().unwrap_or_default()))
    }

    fn start_helper(&self, spec: &ExecSpec) -> Result<i32, TrialError> {
        let pid = self
            .spawn(
                &ChildAction::Exec(spec),
                Role::Helper,
                spec.cmdline().into(),
                false,
            )
            .map(|c| c.pid)
            .map_err(|source| TrialError::Spawn {
                what: "helper",
                cmdline: spec.cmdline(),
                source,
            })?;
        self.acts.lock().senders.insert(pid);
        Ok(pid)
    }

    /// Starts a fresh record of what the strategy does (at its stop request).
    pub fn reset_acts(&self) {
        let mut acts = self.acts.lock();
        *acts = StrategyActs::default();
        // Init (or the agent beside a real systemd) signals for in-process
        // strategies; PID 1 is also the real systemd itself.
        acts.senders.extend([1, std::process::id() as i32]);
    }

    /// What the strategy did since [`reset_acts`](Self::reset_acts).
    pub fn take_acts(&self) -> StrategyActs {
        std::mem::take(&mut *self.acts.lock())
    }

    /// Adds what traced helpers reported to the strategy's acts: every
    /// process of theirs acted for it, each `kill()` addressed a number, and
    /// a child their shell reaped dead of a signal was hit.
    fn note_trace(&self, events: &[TraceEvent]) {
        use super::trace::TraceKind;
        let mut acts = self.acts.lock();
        for e in events {
            acts.senders.insert(e.pid);
            match e.kind {
                TraceKind::Kill {
                    target,
                    signal,
                    delivered,
                } if signal != 0 => {
                    acts.targets.insert(target);
                    if delivered {
                        acts.delivered.push(crate::oracle::Delivered {
                            target,
                            signal,
                            entered: Some(e.entered),
                        });
                    }
                    if target == 1 && delivered {
                        acts.init_hits.push(signal);
                    }
                }
                TraceKind::Reap { child, signal } => {
                    let program = events
                        .iter()
                        .find(|s| s.pid == child && s.kind == TraceKind::Start)
                        .map_or_else(|| format!("[pid {child}]"), |s| s.comm.clone());
                    acts.helper_children_killed.push((child, program, signal));
                }
                _ => {}
            }
        }
    }

    /// Waits for a helper's exit as the reaper saw it; kills it after `limit`.
    fn wait_helper(&self, pid: i32, spec: &ExecSpec, limit: Duration) -> Result<Cause, TrialError> {
        let deadline = Instant::now() + limit;
        let mut table = self.shared.table.lock();
        loop {
            if let Some(cause) = table.take_helper_exit(pid) {
                return Ok(cause);
            }
            if self
                .shared
                .changed
                .wait_until(&mut table, deadline)
                .timed_out()
            {
                table.signal_own(pid, libc::SIGKILL);
                return Err(TrialError::HelperTimeout {
                    cmdline: spec.cmdline(),
                    limit,
                });
            }
        }
    }

    /// Waits until the victim is dead (as the reaper saw it) or `until`.
    pub fn wait_victim_death(&self, until: Instant) -> Option<(Cause, Instant)> {
        let mut table = self.shared.table.lock();
        loop {
            if let Some(death) = table.victim_death() {
                return Some(death);
            }
            if self
                .shared
                .changed
                .wait_until(&mut table, until)
                .timed_out()
            {
                return table.victim_death();
            }
        }
    }

    /// `kill(pid, sig)` by number, the way a shell script does it; `None`
    /// sends signal 0 (the liveness probe). Holding the table lock keeps the
    /// reaper (and forced reuse) from changing the number's holder meanwhile.
    pub fn signal_number(&self, pid: i32, sig: Option<Signal>) -> NumberSignal {
        if sig.is_some() {
            self.acts.lock().targets.insert(pid);
        }
        let table = self.shared.table.lock();
        let entered = Instant::now();
        let ret = crate::sys::kill(pid, sig.map_or(0, |s| s as i32));
        if let (Ok(()), Some(sig)) = (&ret, sig) {
            self.acts.lock().delivered.push(crate::oracle::Delivered {
                target: pid,
                signal: sig as i32,
                entered: Some(entered),
            });
        }
        if ret.is_ok() {
            NumberSignal::Delivered {
                reused: !table.victim_holds(pid),
            }
        } else {
            NumberSignal::NoProcess
        }
    }

    /// Whether the victim's number is now held by another process.
    pub fn number_reused(&self, pid: i32) -> bool {
        let table = self.shared.table.lock();
        !table.victim_holds(pid) && crate::sys::kill(pid, 0).is_ok()
    }

    /// Kills a process init started and has not yet reaped (so the number is
    /// still its own); its death is marked as expected, not a misfire.
    pub fn kill_own(&self, pid: i32) {
        self.shared.table.lock().signal_own(pid, libc::SIGKILL);
    }

    /// Kills a leaked member of the victim's tree, through a pidfd opened
    /// before it is checked to be that member still.
    pub fn kill_member(
        &self,
        tree: &super::victim_tree::VictimTree,
        m: &super::victim_tree::Member,
    ) {
        self.kill_checked(m.pid, m.start, |pid, start| tree.still_holds(pid, start));
    }

    /// Kills `(pid, start)` if that exact process is alive, through a pidfd so
    /// the number cannot be recycled between check and kill.
    pub fn kill_exact(&self, pid: i32, start: u64) {
        self.kill_checked(pid, start, super::procfs::alive);
    }

    fn kill_checked(&self, pid: i32, start: u64, check: impl Fn(i32, u64) -> bool) {
        let Ok(fd) = rustix::process::pidfd_open(
            rustix::process::Pid::from_raw(pid).expect("positive pid"),
            rustix::process::PidfdFlags::empty(),
        ) else {
            return;
        };
        if check(pid, start) {
            let mut table = self.shared.table.lock();
            table.expect_exact_kill(ExactProcess { pid, start });
            let _ = rustix::process::pidfd_send_signal(&fd, rustix::process::Signal::KILL);
        }
    }

    /// Waits (up to `limit`) until every child of ours that has died or is
    /// dying now has been reaped: a zombie, or one of our known processes
    /// but churners with a SIGKILL pending (a bystander pkill just killed).
    /// Its death then belongs to this trial's window, and a bystander is
    /// started afresh for the next trial instead of being hit while dying.
    pub fn settle(&self, limit: Duration) {
        let me = std::process::id() as i32;
        let waiting: Vec<(i32, u64)> = {
            // Init's children only (churners included: one a stray signal
            // killed is a hit); a crowd's members are its keeper's. Their
            // stats are read only when one of them awaits its reaping.
            let children: Vec<(i32, super::procfs::Stat)> = if crate::sys::any_ended_child() {
                (super::procfs::children(me).into_iter())
                    .filter_map(|p| Some((p, super::procfs::stat(p)?)))
                    .collect()
            } else {
                Vec::new()
            };
            let mut waiting: Vec<(i32, u64)> = children
                .iter()
                .filter(|(_, st)| st.state == 'Z')
                .map(|(p, st)| (*p, st.start))
                .collect();
            let table = self.shared.table.lock();
            for (pid, role) in table.own_processes() {
                if role != Role::Churner && super::procfs::dying(pid) {
                    if let Some(st) = super::procfs::stat(pid) {
                        waiting.push((pid, st.start));
                    }
                }
            }
            waiting
        };
        let deadline = Instant::now() + limit;
        while waiting.iter().any(|&(p, s)| super::procfs::exists(p, s)) && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_micros(200));
        }
    }

    /// Waits (up to `limit`) until every process the strategy delivered a
    /// signal to has taken it: gone, dead, stopped, or with nothing
    /// deliverable pending. A bystander a TERM is killing is then dead, so
    /// [`settle`](Self::settle) waits for its reaping and the next trial
    /// starts it afresh (else the next trial would find it still there,
    /// dying, and start none). A crowd member is reaped by its keeper, not
    /// by init, and reported when the keeper is next asked: its death (or
    /// the report of a signal it caught) belongs to this trial, however
    /// slowly a few hundred hit processes die. The cost follows the signals
    /// sent, not the processes in the sandbox.
    pub fn settle_targets(&self, limit: Duration) {
        let targets: std::collections::HashSet<i32> = {
            let acts = self.acts.lock();
            (acts.delivered.iter())
                .map(|d| d.target)
                .filter(|&t| t > 1)
                .collect()
        };
        let taken = |pid: i32| match super::procfs::stat(pid) {
            None => true,
            Some(st) => {
                matches!(st.state, 'Z' | 'X' | 'T' | 't') || !super::procfs::deliverable(pid)
            }
        };
        let deadline = Instant::now() + limit;
        while !targets.iter().all(|&t| taken(t)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_micros(200));
        }
    }

    /// Waits until no process outside the table is left but the given ones
    /// (e.g. a `pkill` whose shell it killed), so nothing from one trial
    /// reaches into the next, and until our reaper has seen every such
    /// process that died: a zombie's death belongs to the trial that caused
    /// it, not to the next one. Stragglers after `limit` are killed.
    pub fn quiesce(&self, keep: &[(i32, u64)], limit: Duration) -> usize {
        let deadline = Instant::now() + limit;
        // A children list may skip an entry while it changes: "nothing
        // left" is believed at once from init's own lists, read under the
        // table lock (nothing is reaped meanwhile, see procfs::below), and
        // otherwise when two walks in a row find nothing.
        let mut clean_walks = 0;
        loop {
            let (strays, nested) = self.strays(keep);
            match strays {
                None if !nested || clean_walks == 1 => return 0,
                None => {
                    clean_walks += 1;
                    continue;
                }
                Some(_) => clean_walks = 0,
            }
            let strays = strays.unwrap_or_default();
            if Instant::now() >= deadline {
                for (pid, start) in &strays {
                    self.kill_exact(*pid, *start);
                }
                return strays.len();
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// The processes below init that are none of its own, but `keep`;
    /// `None` when there are none and no dead one awaits our reaper. With
    /// whether the walk read lists other than init's own.
    fn strays(&self, keep: &[(i32, u64)]) -> (Option<Vec<(i32, u64)>>, bool) {
        // Only our own descendants: beside a real systemd, the machine's
        // other processes are none of our business.
        let me = std::process::id() as i32;
        let table = self.shared.table.lock();
        let below = super::procfs::below(me, |p| table.is_leaf(p));
        // The walk is not atomic: a process reaped (and dropped from the
        // table) after the walk saw it is gone, not a stray. Under the lock
        // the reaper cannot reap, so existence is exact here.
        let outside = |p: &i32, s: &u64| !table.is_own(*p) && super::procfs::exists(*p, *s);
        let strays: Vec<(i32, u64)> = (below.found.iter())
            .filter(|(_, st)| st.state != 'Z')
            .map(|(p, st)| (*p, st.start))
            .filter(|(p, s)| !keep.iter().any(|(k, ks)| k == p && ks == s))
            .filter(|(p, s)| outside(p, s))
            .collect();
        let unreaped = (below.found.iter())
            .any(|(p, st)| st.state == 'Z' && st.ppid == me && outside(p, &st.start));
        (
            (!strays.is_empty() || unreaped).then_some(strays),
            below.nested,
        )
    }
}
