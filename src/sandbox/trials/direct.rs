//! Trials stopbench runs itself: it starts the victim in the sandbox (in a
//! cgroup of its own, or under a keeper), a strategy stops it, and init's
//! reaper sees every death.

use super::course::{Course, Launched, Stopped};
use super::{TrialRunner, QUIESCE_LIMIT, READY_LIMIT};
use crate::measure::CpuTime;
use crate::sandbox::cgroup::{self, VictimCgroup};
use crate::sandbox::error::{NotReady, TrialError};
use crate::sandbox::keeper;
use crate::sandbox::procfs;
use crate::sandbox::spawn::{self, ChildAction, ExecSpec};
use crate::sandbox::table::{Role, VictimWatch};
use crate::sandbox::victim_tree::{Member, VictimTree};
use crate::scenario::Behaviour;
use crate::strategy::{StopStrategy, VictimHandle};
use nix::fcntl::OFlag;
use nix::unistd::pipe2;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One trial of a strategy stopbench drives itself.
pub(super) struct DirectCourse<'s> {
    strategy: &'s dyn StopStrategy,
    /// The strategy's own timeout: how long its stop may take to end the
    /// main process before the trial gives up waiting.
    timeout: Duration,
    trial: u32,
    /// The victim's own cgroup, once made.
    cgroup: Option<VictimCgroup>,
    /// Stop again this long after the first stop (`repeat_after`).
    repeat: Option<Duration>,
}

/// The victim's main process as started.
struct Started {
    pid: i32,
    pidfd: Option<OwnedFd>,
    /// Its keeper, where it has no cgroup of its own.
    keeper: Option<i32>,
    /// The main process ended before the stop was requested.
    main_gone_before_stop: bool,
}

impl<'s> DirectCourse<'s> {
    pub fn new(
        strategy: &'s dyn StopStrategy,
        timeout: Duration,
        trial: u32,
        repeat: Option<Duration>,
    ) -> Self {
        Self {
            strategy,
            timeout,
            trial,
            cgroup: None,
            repeat,
        }
    }
}

impl Course for DirectCourse<'_> {
    fn start(&mut self, runner: &mut TrialRunner<'_>) -> Result<Launched, TrialError> {
        // Every victim is born in a cgroup of its own where stopbench can make
        // one (root): its whole tree, by lineage, is then what the kernel keeps
        // there. The cgroup strategy cannot do without one.
        self.cgroup = match (runner.cgroups, self.strategy.needs_cgroup()) {
            // A ring of cgroups: the pending trial (finalized during this
            // one) never shares this one's, and one that needed killing in
            // cleanup is removed and made afresh (see `clean_up`).
            (Some(tree), _) => Some(tree.child(&format!("victim-{}", self.trial % 4))?),
            (None, true) => return Err(TrialError::NoCgroupTree),
            (None, false) => None,
        };
        let cgroup_name: Option<Arc<str>> = self
            .cgroup
            .as_ref()
            .and_then(|c| cgroup::proc_name(&c.path))
            .map(Into::into);
        let fd = self.cgroup.as_ref().map(|c| c.dir.as_raw_fd());
        let prefix = self.strategy.victim_prefix();
        let victim = runner.start_victim(fd, cgroup_name.clone(), prefix.as_deref())?;
        let tree = VictimTree {
            main: victim.pid,
            snapshot: if cgroup_name.is_some() {
                Vec::new()
            } else {
                procfs::descendants(victim.pid)
            },
            cgroup: cgroup_name,
            dir: self.cgroup.as_ref().map(|c| c.path.clone()),
            keeper: victim.keeper,
        };
        // A forking daemon's main process exits at start-up while its tree
        // lives on: gone only when nothing of the tree is left.
        let gone_before_stop = victim.main_gone_before_stop && tree.members().is_empty();
        Ok(Launched {
            tree,
            pidfd: victim.pidfd,
            gone_before_stop,
        })
    }

    fn abandon(&mut self, _runner: &TrialRunner<'_>) {
        if let Some(c) = self.cgroup.take() {
            cgroup::remove(&c.path, QUIESCE_LIMIT);
        }
    }

    fn stop(&mut self, runner: &TrialRunner<'_>, launched: &Launched) -> Stopped {
        let tree = &launched.tree;
        let handle = VictimHandle {
            pid: tree.main,
            pidfd: launched.pidfd.as_ref(),
            cmdline: &runner.victim_cmdline,
            program: &runner.scenario.victim.command.0[0],
            cgroup: tree.dir.as_deref(),
            exe: &runner.victim_exe,
            pidfile: runner
                .scenario
                .victim
                .pidfile
                .as_ref()
                .map(|p| p.0.as_path()),
            user: runner.scenario.victim.user.as_ref().map(|u| u.ids()),
        };
        let inside = runner.inside;
        // Helpers of earlier trials are not this stop's.
        inside.shared.table.lock().take_helper_cpu();
        let own_cpu = CpuTime::this_thread();
        let requested = Instant::now();
        let mut report = self.strategy.stop(inside, &handle, requested);
        let mut stopped = Stopped::between(requested, Instant::now());
        let mut cpu = CpuTime::this_thread().since(own_cpu);
        let main_end = inside.wait_victim_death(Instant::now() + self.timeout);
        if let Some(after) = self.repeat {
            // The late stop, on the old number: what it does is the trial's.
            std::thread::sleep(after);
            let own_cpu = CpuTime::this_thread();
            let again = self.strategy.stop(inside, &handle, Instant::now());
            cpu = cpu + CpuTime::this_thread().since(own_cpu);
            report.absorb_repeat(again);
        }
        // A helper's shell can die (e.g. of its own pkill) while the pkill it
        // ran is still signalling: the stop is complete only when the helpers'
        // whole trees are gone.
        let mut keep: Vec<(i32, u64)> = tree.members().iter().map(|m| (m.pid, m.start)).collect();
        // A surviving main process under a keeper is no child of init's.
        keep.extend(procfs::stat(tree.main).map(|st| (tree.main, st.start)));
        inside.quiesce(&keep, QUIESCE_LIMIT);
        // The helpers are gone and reaped (quiesce waited for their trees).
        stopped.cpu = Some(cpu + inside.shared.table.lock().take_helper_cpu());
        stopped.leaked = tree.members();
        if stopped.leaked.is_empty() {
            stopped.tree_gone = runner.tree_gone(tree, main_end.map(|(_, at)| at));
        }
        stopped.main_end = main_end;
        stopped.victim_end = main_end.map(|(cause, _)| cause);
        stopped.final_phase_at = report.final_phase_at;
        stopped.strategy_error = report.error;
        stopped.eperm = report.eperm;
        stopped.pid_reused = report.pid_reused;
        stopped.race_window = report.windows.iter().max().copied();
        stopped.exposure = report.exposure;
        stopped.note = report.note;
        stopped.helpers = report.helpers;
        stopped
    }

    fn clean_up(&mut self, runner: &TrialRunner<'_>, launched: &Launched, leaked: &[Member]) {
        let (inside, tree) = (runner.inside, &launched.tree);
        // Cleanup by init itself: its own child by number (it cannot be
        // recycled before init reaps it), the rest of the tree by its cgroup
        // (no number at all) or, without one, through pidfds.
        let main_alive = {
            let table = inside.shared.table.lock();
            table.victim().is_some() && table.victim_death().is_none()
        };
        if main_alive {
            match (tree.keeper, &launched.pidfd) {
                // Not init's child: through the pidfd held since its birth.
                (Some(_), Some(fd)) => {
                    let _ = rustix::process::pidfd_send_signal(fd, rustix::process::Signal::KILL);
                }
                _ => inside.kill_own(tree.main),
            }
            inside.wait_victim_death(Instant::now() + QUIESCE_LIMIT);
        }
        match &tree.dir {
            // Left empty by the stop: used again. Anything left is killed
            // and the cgroup removed, so no later victim is born beside it.
            // A cgroup that ever got a `cgroup.kill` is never used again:
            // on this machine's kernel (6.18) a child cloned into it with
            // CLONE_INTO_CGROUP is killed at birth (measured: every victim
            // born in a reused, once-killed cgroup died before it was ready).
            Some(dir)
                if !self.strategy.needs_cgroup()
                    && leaked.is_empty()
                    && !cgroup::populated(dir) => {}
            Some(dir) => cgroup::remove(dir, QUIESCE_LIMIT),
            None => {
                for m in leaked {
                    inside.kill_member(tree, m);
                }
                if let Some(keeper) = tree.keeper {
                    runner.end_keeper(tree, keeper);
                }
            }
        }
    }
}

impl TrialRunner<'_> {
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
        while table.is_own(keeper) {
            if self
                .inside
                .shared
                .changed
                .wait_until(&mut table, until)
                .timed_out()
            {
                return !table.is_own(keeper);
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
                if !crate::sys::any_ended_child() {
                    return false;
                }
                let children = procfs::children(me);
                let table = self.inside.shared.table.lock();
                children.into_iter().any(|p| {
                    !table.is_leaf(p)
                        && procfs::stat(p).is_some_and(|st| st.state == 'Z')
                        && tree.holds(p, None, procfs::cgroup(p).as_deref())
                })
            };
            while unreaped() {
                if Instant::now() >= deadline {
                    return None;
                }
                std::thread::sleep(Duration::from_micros(200));
            }
        }
        let table = self.inside.shared.table.lock();
        let last = table.victim().and_then(|w| w.last_tree_death);
        Some(last.map_or(main_died, |l| l.max(main_died)))
    }

    fn start_victim(
        &mut self,
        cgroup: Option<std::os::fd::RawFd>,
        cgroup_name: Option<Arc<str>>,
        prefix: Option<&[String]>,
    ) -> Result<Started, TrialError> {
        let config = &self.scenario.victim;
        // The last victim's pidfile, stale or not, is no part of this trial.
        if let Some(pidfile) = &config.pidfile {
            let _ = std::fs::remove_file(&pidfile.0);
        }
        let (ready_read, ready_write) = pipe2(OFlag::O_CLOEXEC).map_err(TrialError::Pipe)?;
        let exit_after = config.exit_after.sample(&mut self.rng);
        let spec = match prefix {
            Some(words) => crate::victim::under(words, config),
            None => crate::victim::exec_spec(
                config,
                &self.inside.exe,
                Some(ready_write.as_raw_fd()),
                exit_after,
            ),
        };
        // Without a cgroup of its own, the victim's parent is a keeper that
        // inherits its orphans (see keeper.rs): the tree stays exact.
        if cgroup.is_none() {
            let candidates = if config.random_pid {
                self.random_pids().map_err(|e| TrialError::Spawn {
                    what: "the victim",
                    cmdline: spec.cmdline(),
                    source: std::io::Error::other(e),
                })?
            } else {
                Vec::new()
            };
            let keeper = keeper::start(self.inside, &spec, candidates)?;
            let (pid, keeper_pid) = (keeper.victim, keeper.pid);
            let watch = self.watch(pid, None);
            self.inside.shared.table.lock().watch_victim(watch);
            let pidfd = keeper.watch(self.inside.shared.clone(), self.inside.devnull.as_raw_fd());
            drop(ready_write);
            return self.victim_started(pid, Some(pidfd), Some(keeper_pid), ready_read, exit_after);
        }
        let child = {
            let mut table = self.inside.shared.table.lock();
            let child = if config.random_pid {
                self.spawn_at_random_pid(&spec, cgroup)
            } else {
                crate::sandbox::vm_spawn::spawn_exec(
                    &spec,
                    self.inside.devnull.as_raw_fd(),
                    true,
                    cgroup,
                )
            }
            .map_err(|source| TrialError::Spawn {
                what: "the victim",
                cmdline: spec.cmdline(),
                source,
            })?;
            table.register(child.pid, Role::Victim, spec.cmdline().into());
            table.watch_victim(self.watch(child.pid, cgroup_name));
            child
        };
        drop(ready_write);
        self.victim_started(child.pid, child.pidfd, None, ready_read, exit_after)
    }

    fn watch(&self, pid: i32, cgroup: Option<Arc<str>>) -> VictimWatch {
        VictimWatch {
            pid,
            launched: pid,
            death: None,
            cgroup,
            last_tree_death: None,
            reuse: self.newcomer_spec(),
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
    ) -> Result<Started, TrialError> {
        let config = &self.scenario.victim;
        if config.behaviour != Behaviour::Exec {
            super::wait_ready(&ready_read).map_err(|why| self.victim_failed(why))?;
        } else {
            std::thread::sleep(config.startup.0);
            // A real program never writes the pipe; a failed exec did.
            if let Err(why @ NotReady::Failed(_)) =
                crate::sandbox::wire::wait_byte(&ready_read, Duration::ZERO)
            {
                return Err(self.victim_failed(why));
            }
        }
        // A forking daemon: its start process has exited, and the daemon
        // it left is the number in its pidfile, the main process from now on.
        let (mut pid, mut pidfd) = (pid, pidfd);
        if let (Behaviour::Exec, Some(pidfile)) = (config.behaviour, &config.pidfile) {
            let cgroup = self
                .inside
                .shared
                .table
                .lock()
                .victim()
                .and_then(|w| w.cgroup.clone());
            let found = super::forking::find_main(
                &self.inside.shared,
                &pidfile.0,
                cgroup.as_deref(),
                keeper,
                READY_LIMIT,
            )?;
            if let Some(daemon) = found {
                (pid, pidfd) = (daemon.pid, Some(daemon.pidfd));
            }
        }
        // A real program that wrote its own pidfile (a forking daemon names
        // its child there) keeps it.
        let own = config.behaviour == Behaviour::Exec;
        if let Some(pidfile) = config.pidfile.as_ref().filter(|p| !(own && p.0.exists())) {
            write_pidfile(&pidfile.0, pid)?;
        }
        match config.behaviour {
            Behaviour::Stopped => self.stop_victim(pid, pidfd.as_ref())?,
            Behaviour::ExitEarly => {
                let limit = Instant::now() + exit_after + READY_LIMIT;
                if self.inside.wait_victim_death(limit).is_none() {
                    return Err(TrialError::StayedUp);
                }
                std::thread::sleep(config.stale_for.0);
            }
            _ => {}
        }
        let main_gone_before_stop = self.inside.shared.table.lock().victim_death().is_some();
        Ok(Started {
            pid,
            pidfd,
            keeper,
            main_gone_before_stop,
        })
    }

    /// Why the victim did not start, with its program and user when it
    /// never became that program.
    fn victim_failed(&self, why: NotReady) -> TrialError {
        let config = &self.scenario.victim;
        match why {
            NotReady::Failed(failure) => TrialError::VictimExec {
                program: crate::victim::executable(config, &self.inside.exe),
                user: config
                    .user
                    .as_ref()
                    .map(|u| format!(" run as user `{}` (uid {})", u.name, u.uid))
                    .unwrap_or_default(),
                failure,
            },
            other => TrialError::VictimNotReady(other),
        }
    }

    /// `random_pid` under a keeper: free numbers of the allocator's cycle,
    /// drawn here, for the keeper to try in turn.
    fn random_pids(&mut self) -> Result<Vec<i32>, crate::model::host::HostError> {
        use rand::Rng;
        let pid_max = crate::model::host::pid_max()?;
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

    /// SIGSTOPs the victim (the seed's `kill -STOP`), through its pidfd
    /// where it has one (under a keeper it is not init's child).
    fn stop_victim(&self, pid: i32, pidfd: Option<&OwnedFd>) -> Result<(), TrialError> {
        match pidfd {
            Some(fd) => {
                let _ = rustix::process::pidfd_send_signal(fd, rustix::process::Signal::STOP);
                self.wait_stopped(pid)
            }
            None => self.stop_process(pid),
        }
    }
}

/// Writes the victim's pidfile as a starter does (`start-stop-daemon
/// --make-pidfile`): the number and a newline, replaced whole.
fn write_pidfile(path: &std::path::Path, pid: i32) -> Result<(), TrialError> {
    let io = |source| TrialError::Io {
        what: format!("write the victim's pidfile {}", path.display()),
        source,
    };
    let partial = path.with_extension("pid.new");
    std::fs::write(&partial, format!("{pid}\n")).map_err(io)?;
    std::fs::rename(&partial, path).map_err(io)
}
