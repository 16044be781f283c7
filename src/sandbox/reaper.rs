//! The reaper: the sandbox init is the parent (or, for orphans, the
//! adoptive parent) of every process in the sandbox, so every death passes
//! through here with its cause. This is the oracle's ground truth.

use super::table::Shared;
use crate::oracle::Cause;
use crate::sys::{self, ChildEnd};
use std::os::fd::RawFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Reaps for as long as init lives (init's exit ends this thread). With
/// no child left it waits a millisecond between looks.
pub fn run(shared: Arc<Shared>, devnull: RawFd) {
    observe_first();
    loop {
        // Look first (WNOWAIT), reap under the lock: until then the zombie
        // holds its number, so no new process can take it while we look it up.
        let (pid, cause) = match sys::next_ended_child() {
            Ok(ChildEnd::Exited { pid, code }) => (pid, Cause::Exited(code)),
            Ok(ChildEnd::Signaled { pid, signal }) => (pid, Cause::Signaled(signal)),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => {
                std::thread::sleep(Duration::from_millis(1));
                continue;
            }
        };
        let at = Instant::now();
        shared.table.lock().reap(pid, cause, at, devnull);
        shared.changed.notify_all();
    }
}

/// Runs this thread under the lowest real-time priority where it may
/// (root): a death's time is when the reaper reads the clock, and on a busy
/// machine an ordinary thread woken by the death can wait behind the
/// strategy's own thread, woken by the same death, for a CPU. The reaper
/// blocks in `waitid` between deaths, so it takes no time from anyone.
fn observe_first() {
    // SAFETY: a sched_param with priority 1; pthread_self names this thread.
    unsafe {
        let param = libc::sched_param { sched_priority: 1 };
        libc::pthread_setschedparam(libc::pthread_self(), libc::SCHED_FIFO, &param);
    }
}
