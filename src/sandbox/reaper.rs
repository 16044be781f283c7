//! The reaper: the sandbox init is the parent (or, for orphans, the
//! adoptive parent) of every process in the sandbox, so every death passes
//! through here with its cause. This is the oracle's ground truth.

use super::procfs;
use super::spawn::{self, ChildAction};
use super::table::{Death, Entry, Role, Shared};
use super::vm_spawn;
use crate::churn::light::StackSlab;
use crate::oracle::Cause;
use crate::sys::{self, ChildEnd};
use std::os::fd::RawFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Reaps until the table is shutting down and no child is left.
pub fn run(shared: Arc<Shared>, devnull: RawFd) {
    loop {
        // Look first (WNOWAIT), reap under the lock: until then the zombie
        // holds its number, so no new process can take it while we look it up.
        let (pid, cause) = match sys::next_ended_child() {
            Ok(ChildEnd::Exited { pid, code }) => (pid, Cause::Exited(code)),
            Ok(ChildEnd::Signaled { pid, signal }) => (pid, Cause::Signaled(signal)),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => {
                if shared.table.lock().shutting_down {
                    return;
                }
                std::thread::sleep(Duration::from_millis(1));
                continue;
            }
        };
        let at = Instant::now();
        let mut table = shared.table.lock();
        let entry = table.procs.remove(&pid);
        let unknown = entry.is_none().then(|| {
            (
                procfs::stat(pid).map(|s| s.start),
                procfs::cmdline(pid),
                procfs::cgroup(pid),
            )
        });
        sys::reap(pid);
        let expected = match &unknown {
            None => table.expected.remove(&pid),
            Some((start, _, _)) => {
                let before = table.expected_exact.len();
                table
                    .expected_exact
                    .retain(|&(p, s)| !(p == pid && Some(s) == *start));
                table.expected_exact.len() != before
            }
        };
        let signaled = matches!(cause, Cause::Signaled(_)) && !expected;
        // A reaped holder is off its stack (it exec'd or exited), so the
        // stack can serve again.
        if let Some((slot, _spec)) = table.holder_slots.remove(&pid) {
            if let Some(slab) = table.holder_stacks.as_mut() {
                slab.give_back(slot);
            }
        }
        match entry {
            Some(Entry {
                role: Role::Churner,
                cmdline,
            }) => {
                table.live_churners -= 1;
                // Reaped: the churner is off its stack, which can serve again.
                if let Some(slot) = table.churner_stacks.remove(&pid) {
                    if let Some(slab) = table.stacks.as_mut() {
                        slab.give_back(slot);
                    }
                }
                if signaled {
                    table.deaths.push(Death {
                        pid,
                        role: Some(Role::Churner),
                        cmdline,
                        start: None,
                        cgroup: None,
                        cause,
                        at,
                    });
                }
            }
            Some(Entry {
                role: Role::Victim, ..
            }) => on_victim_death(&mut table, pid, cause, at, devnull),
            Some(Entry {
                role: Role::Helper,
                cmdline,
            }) => {
                table.helper_exits.insert(pid, cause);
                if signaled {
                    table.deaths.push(Death {
                        pid,
                        role: Some(Role::Helper),
                        cmdline,
                        start: None,
                        cgroup: None,
                        cause,
                        at,
                    });
                }
            }
            Some(Entry { role, cmdline }) => {
                match role {
                    Role::Bystander(i) => table.bystanders[i] = None,
                    Role::Sentinel => table.sentinel = None,
                    _ => {}
                }
                if signaled {
                    table.deaths.push(Death {
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
            None => {
                let (start, cmdline, cgroup) = unknown.unwrap_or_default();
                let cgroup: Option<Arc<str>> = cgroup.map(Into::into);
                if let Some(watch) = table.victim.as_mut() {
                    if cgroup.is_some() && watch.cgroup == cgroup {
                        watch.last_tree_death = Some(at);
                    }
                }
                if !expected {
                    table.deaths.push(Death {
                        pid,
                        role: None,
                        cmdline: cmdline.into(),
                        start,
                        cgroup,
                        cause,
                        at,
                    });
                }
            }
        }
        drop(table);
        shared.changed.notify_all();
    }
}

/// Reuse holders alive at once (a trial's holder lives until its cleanup,
/// which the lagged finalize may leave for one more trial).
const HOLDER_STACKS: usize = 8;

/// Records the victim's death and, with forced reuse, gives its number to a
/// fresh bystander before anyone else can see the number free.
fn on_victim_death(
    table: &mut super::table::Table,
    pid: i32,
    cause: Cause,
    at: Instant,
    devnull: RawFd,
) {
    let Some(watch) = table.victim.as_mut().filter(|w| w.pid == pid) else {
        return;
    };
    watch.death = Some((cause, at));
    give_number(table, pid, devnull);
}

/// With forced reuse, gives the victim's number, reaped a moment ago under
/// the table lock still held, to a fresh bystander.
pub(super) fn give_number(table: &mut super::table::Table, pid: i32, devnull: RawFd) {
    let Some(watch) = table.victim.as_mut().filter(|w| w.pid == pid) else {
        return;
    };
    let Some(spec) = watch.reuse.clone() else {
        return;
    };
    let started = Instant::now();
    let holder_stacks = table
        .holder_stacks
        .get_or_insert_with(|| StackSlab::new(HOLDER_STACKS));
    // Without copying init's page tables when a stack is free and the
    // architecture allows; otherwise a fork-like clone3 does the same job.
    let spawned = match vm_spawn::spawn_holder(&spec, devnull, pid, holder_stacks) {
        Ok((child, slot)) => {
            table.holder_slots.insert(child.pid, (slot, spec.clone()));
            Ok(child)
        }
        Err(err) if err.raw_os_error().is_some() => Err(err),
        Err(_) => spawn::spawn(&ChildAction::Exec(&spec), devnull, Some(pid), false),
    };
    match spawned {
        Ok(child) => {
            let us = started.elapsed().as_micros().min(u32::MAX as u128) as u32;
            watch.reuse_holder = Some(child.pid);
            table.reuse_us.push(us);
            let cmdline = spec_cmdline(&spec);
            table.procs.insert(
                child.pid,
                Entry {
                    role: Role::ReuseHolder,
                    cmdline,
                },
            );
        }
        Err(err) => watch.reuse_error = Some(format!("clone3 with set_tid={pid} failed: {err}")),
    }
}

fn spec_cmdline(spec: &spawn::ExecSpec) -> std::sync::Arc<str> {
    spec.cmdline().into()
}
