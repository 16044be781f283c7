//! Reaping, the one place where a number becomes free: a zombie's death is
//! recorded, its stack slot given back and its table entries cleared, and,
//! with forced reuse, the victim's number is handed to a fresh holder, all
//! under the table lock the reaper holds.

use super::{Death, Entry, ExactProcess, Role, Table};
use crate::churn::light::StackSlab;
use crate::oracle::Cause;
use crate::sandbox::procfs;
use crate::sandbox::spawn::{self, ChildAction};
use crate::sandbox::vm_spawn;
use crate::sys;
use std::os::fd::RawFd;
use std::sync::Arc;
use std::time::Instant;

/// What is read of a zombie init did not start, before it is reaped.
#[derive(Default)]
struct Stranger {
    start: Option<u64>,
    cmdline: String,
    cgroup: Option<String>,
}

/// Reuse holders alive at once (a trial's holder lives until its cleanup,
/// which the lagged finalize may leave for one more trial).
const HOLDER_STACKS: usize = 8;

impl Table {
    /// Reaps the zombie `pid`, which the caller saw end (without reaping
    /// it) by `cause` at `at`, and records its death.
    pub fn reap(&mut self, pid: i32, cause: Cause, at: Instant, devnull: RawFd) {
        let entry = self.procs.remove(&pid);
        let stranger = entry.is_none().then(|| Stranger {
            start: procfs::stat(pid).map(|s| s.start),
            cmdline: procfs::cmdline(pid),
            cgroup: procfs::cgroup(pid),
        });
        let cpu = sys::reap(pid);
        if matches!(
            &entry,
            Some(Entry {
                role: Role::Helper,
                ..
            })
        ) {
            self.helper_cpu = self.helper_cpu + cpu;
        }
        let expected = match &stranger {
            None => self.expected.remove(&pid),
            Some(stranger) => {
                let before = self.expected_exact.len();
                let is_it = |p: &ExactProcess| p.pid == pid && Some(p.start) == stranger.start;
                self.expected_exact.retain(|p| !is_it(p));
                self.expected_exact.len() != before
            }
        };
        let signaled = matches!(cause, Cause::Signaled(_)) && !expected;
        // A reaped holder is off its stack (it exec'd or exited), so the
        // stack can serve again.
        if let Some((slot, _spec)) = self.holder_slots.remove(&pid) {
            if let Some(slab) = self.holder_stacks.as_mut() {
                slab.give_back(slot);
            }
        }
        match entry {
            Some(Entry {
                role: Role::Victim, ..
            }) => self.on_victim_death(pid, cause, at, devnull),
            Some(Entry { role, cmdline }) => {
                self.forget(pid, role, cause);
                if signaled {
                    self.deaths.push(Death {
                        pid,
                        role: Some(role),
                        cmdline,
                        start: None,
                        cgroup: None,
                        cause,
                        at,
                    });
                }
            }
            // A daemon's main process named by its pidfile: an orphan of
            // the start process, reaped here, yet the victim's main.
            None if self
                .victim
                .as_ref()
                .is_some_and(|w| w.pid == pid && w.death.is_none()) =>
            {
                if let Some(watch) = self.victim.as_mut() {
                    watch.last_tree_death = Some(at);
                }
                self.on_victim_death(pid, cause, at, devnull)
            }
            None => self.on_stranger_death(pid, stranger.unwrap_or_default(), cause, at, expected),
        }
    }

    /// Clears what the table held for a reaped process of init's own.
    fn forget(&mut self, pid: i32, role: Role, cause: Cause) {
        match role {
            Role::Churner => {
                self.live_churners -= 1;
                // Reaped: the churner is off its stack, which can serve again.
                if let Some(slot) = self.churner_stacks.remove(&pid) {
                    if let Some(slab) = self.stacks.as_mut() {
                        slab.give_back(slot);
                    }
                }
            }
            Role::Helper => {
                self.helper_exits.insert(pid, cause);
            }
            Role::Bystander(i) | Role::Crowd(i) => self.bystanders[i] = None,
            Role::Sentinel => self.sentinel = None,
            Role::Victim | Role::ReuseHolder | Role::Keeper => {}
        }
    }

    /// A process init did not start (a descendant of the victim or of a
    /// helper, reparented to init): the tree's last death, or a possible
    /// misfire.
    fn on_stranger_death(
        &mut self,
        pid: i32,
        stranger: Stranger,
        cause: Cause,
        at: Instant,
        expected: bool,
    ) {
        let cgroup: Option<Arc<str>> = stranger.cgroup.map(Into::into);
        if let Some(watch) = self.victim.as_mut() {
            if cgroup.is_some() && watch.cgroup == cgroup {
                watch.last_tree_death = Some(at);
            }
        }
        if !expected {
            self.deaths.push(Death {
                pid,
                role: None,
                cmdline: stranger.cmdline.into(),
                start: stranger.start,
                cgroup,
                cause,
                at,
            });
        }
    }

    /// Records the victim's death and, with forced reuse, gives its number
    /// to a fresh bystander before anyone else can see the number free.
    fn on_victim_death(&mut self, pid: i32, cause: Cause, at: Instant, devnull: RawFd) {
        let Some(watch) = self.victim.as_mut().filter(|w| w.pid == pid) else {
            return;
        };
        watch.death = Some((cause, at));
        self.give_number(pid, devnull);
    }

    /// With forced reuse, gives the victim's number `pid`, freed a moment
    /// ago under the table lock still held, to a fresh bystander.
    pub fn give_number(&mut self, pid: i32, devnull: RawFd) {
        let Some(watch) = self.victim.as_mut().filter(|w| w.pid == pid) else {
            return;
        };
        let Some(spec) = watch.reuse.clone() else {
            return;
        };
        let started = Instant::now();
        let holder_stacks = self
            .holder_stacks
            .get_or_insert_with(|| StackSlab::new(HOLDER_STACKS));
        // Without copying init's page tables when a stack is free and the
        // architecture allows; otherwise a fork-like clone3 does the same job.
        let spawned = match vm_spawn::spawn_holder(&spec, devnull, pid, holder_stacks) {
            Ok((child, slot)) => {
                self.holder_slots.insert(child.pid, (slot, spec.clone()));
                Ok(child)
            }
            Err(err) if err.raw_os_error().is_some() => Err(err),
            Err(_) => spawn::spawn(&ChildAction::Exec(&spec), devnull, Some(pid), false),
        };
        match spawned {
            Ok(child) => {
                let us = started.elapsed().as_micros().min(u32::MAX as u128) as u32;
                watch.reuse_holder = Some(child.pid);
                self.reuse_us.push(us);
                self.register(child.pid, Role::ReuseHolder, spec.cmdline().into());
            }
            Err(err) => {
                watch.reuse_error = Some(format!("clone3 with set_tid={pid} failed: {err}"))
            }
        }
    }
}
