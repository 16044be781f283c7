//! The reaper: the sandbox init is the parent (or, for orphans, the
//! adoptive parent) of every process in the sandbox, so every death passes
//! through here with its cause. This is the oracle's ground truth.

use super::procfs;
use super::spawn::{self, ChildAction};
use super::table::{Death, Entry, Role, Shared, Table};
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
        reap(&mut shared.table.lock(), pid, cause, at, devnull);
        shared.changed.notify_all();
    }
}

/// What is read of a zombie init did not start, before it is reaped.
#[derive(Default)]
struct Stranger {
    start: Option<u64>,
    cmdline: String,
    cgroup: Option<String>,
}

/// Reaps the zombie `pid` under the table lock and records its death.
fn reap(table: &mut Table, pid: i32, cause: Cause, at: Instant, devnull: RawFd) {
    let entry = table.procs.remove(&pid);
    let stranger = entry.is_none().then(|| Stranger {
        start: procfs::stat(pid).map(|s| s.start),
        cmdline: procfs::cmdline(pid),
        cgroup: procfs::cgroup(pid),
    });
    sys::reap(pid);
    let expected = match &stranger {
        None => table.expected.remove(&pid),
        Some(stranger) => {
            let before = table.expected_exact.len();
            table
                .expected_exact
                .retain(|&(p, s)| !(p == pid && Some(s) == stranger.start));
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
            role: Role::Victim, ..
        }) => on_victim_death(table, pid, cause, at, devnull),
        Some(Entry { role, cmdline }) => {
            forget(table, pid, role, cause);
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
        None => on_stranger_death(
            table,
            pid,
            stranger.unwrap_or_default(),
            cause,
            at,
            expected,
        ),
    }
}

/// Clears what the table held for a reaped process of init's own.
fn forget(table: &mut Table, pid: i32, role: Role, cause: Cause) {
    match role {
        Role::Churner => {
            table.live_churners -= 1;
            // Reaped: the churner is off its stack, which can serve again.
            if let Some(slot) = table.churner_stacks.remove(&pid) {
                if let Some(slab) = table.stacks.as_mut() {
                    slab.give_back(slot);
                }
            }
        }
        Role::Helper => {
            table.helper_exits.insert(pid, cause);
        }
        Role::Bystander(i) => table.bystanders[i] = None,
        Role::Sentinel => table.sentinel = None,
        Role::Victim | Role::ReuseHolder | Role::Keeper => {}
    }
}

/// A process init did not start (a descendant of the victim or of a helper,
/// reparented to init): the tree's last death, or a possible misfire.
fn on_stranger_death(
    table: &mut Table,
    pid: i32,
    stranger: Stranger,
    cause: Cause,
    at: Instant,
    expected: bool,
) {
    let cgroup: Option<Arc<str>> = stranger.cgroup.map(Into::into);
    if let Some(watch) = table.victim.as_mut() {
        if cgroup.is_some() && watch.cgroup == cgroup {
            watch.last_tree_death = Some(at);
        }
    }
    if !expected {
        table.deaths.push(Death {
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

/// Reuse holders alive at once (a trial's holder lives until its cleanup,
/// which the lagged finalize may leave for one more trial).
const HOLDER_STACKS: usize = 8;

/// Records the victim's death and, with forced reuse, gives its number to a
/// fresh bystander before anyone else can see the number free.
fn on_victim_death(table: &mut Table, pid: i32, cause: Cause, at: Instant, devnull: RawFd) {
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
            table.register(child.pid, Role::ReuseHolder, cmdline);
        }
        Err(err) => watch.reuse_error = Some(format!("clone3 with set_tid={pid} failed: {err}")),
    }
}

fn spec_cmdline(spec: &spawn::ExecSpec) -> std::sync::Arc<str> {
    spec.cmdline().into()
}
