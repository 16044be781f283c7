//! The victim's keeper, where the victim has no cgroup of its own (an
//! ordinary user's sandbox): a child subreaper (`PR_SET_CHILD_SUBREAPER`)
//! between init and the victim, so every orphan of the victim's tree (a
//! child forked after the stop began, a daemon that double-forked) is
//! reparented to the keeper, never to init. The victim's tree is then
//! exactly the keeper's descendants, by lineage, with no snapshot.
//!
//! The keeper is a fork of init that never execs, so it runs only
//! async-signal-safe calls. It reaps in lockstep with init: it reports each
//! zombie (`waitid` with `WNOWAIT`, so the number is still held), waits
//! for init's go-ahead, reaps, and says so. Init's watcher thread holds the
//! process table's lock across that exchange, which keeps the rule of the
//! table (a number changes holder only while init holds the lock) true for
//! the victim's number too, and lets forced reuse hand the number to its
//! holder before anyone else can see it free.
//!
//! The keeper exits when it has no child left: the whole tree is gone.
//!
//! It blocks every signal it can, so a victim's `kill -1` does not end it
//! (and with it the tree's exactness); what was sent to it stays pending
//! and is reported when it exits, as a hit on a process outside the tree.

use super::error::TrialError;
use super::inside::Inside;
use super::spawn::{self, ChildAction, ExecSpec};
use super::table::{Role, Shared};
use crate::oracle::Cause;
use crate::sys::child;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The keeper's name in /proc (`comm`), as a misfire on it shows it.
pub const KEEPER_CMDLINE: &str = "[stopbench keeper]";

const STARTED: i32 = 1;
const FAILED: i32 = 2;
const ZOMBIE: i32 = 3;
const REAPED: i32 = 4;
/// Signals pending on the keeper when it exits: `[PENDING, 0, low, high]`,
/// the set as two 32-bit halves.
const PENDING: i32 = 5;

/// One report from the keeper: `[tag, pid, si_code or errno, si_status]`.
type Report = [i32; 4];

/// What the keeper needs, prepared before the clone so it allocates nothing.
pub struct KeeperSpec<'a> {
    victim: &'a ExecSpec,
    /// PIDs to try in turn (`random_pid`); empty: the allocator's next one.
    candidates: Vec<libc::pid_t>,
    report: RawFd,
    ack: RawFd,
    /// Every fd of init's but those the keeper and the victim need, as
    /// inclusive ranges for `close_range`.
    close: Vec<(u32, u32)>,
}

/// A started keeper and its victim, before the keeper may reap.
pub struct Keeper {
    pub pid: i32,
    pub victim: i32,
    /// The victim's pidfd, opened while the keeper could not reap it.
    pub pidfd: OwnedFd,
    report: OwnedFd,
    ack: OwnedFd,
}

/// How long the keeper may take to start the victim.
const START_LIMIT: Duration = Duration::from_secs(5);
/// How long init holds its table for one reap by the keeper.
const REAP_LIMIT: Duration = Duration::from_millis(500);

/// Forks a keeper that starts `victim` (at one of `candidates` if any) and
/// waits for the victim's number. The keeper is registered under the table
/// lock, like every child of init.
pub fn start(
    inside: &Inside,
    victim: &ExecSpec,
    candidates: Vec<libc::pid_t>,
) -> Result<Keeper, TrialError> {
    use nix::fcntl::OFlag;
    let pipe = || nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(TrialError::Pipe);
    let (report_read, report_write) = pipe()?;
    let (ack_read, ack_write) = pipe()?;
    let devnull = inside.devnull.as_raw_fd();
    let mut keep: Vec<RawFd> = vec![devnull, report_write.as_raw_fd(), ack_read.as_raw_fd()];
    keep.extend(victim.fds.iter().map(|(src, _)| *src));
    let spec = KeeperSpec {
        victim,
        candidates,
        report: report_write.as_raw_fd(),
        ack: ack_read.as_raw_fd(),
        close: gaps(keep),
    };
    let pid = {
        let mut table = inside.shared.table.lock();
        let child = spawn::spawn(&ChildAction::Run(&spec), devnull, None, false)
            .map_err(TrialError::Keeper)?;
        table.register(child.pid, Role::Keeper, KEEPER_CMDLINE.into());
        child.pid
    };
    // Only the keeper holds these ends now: its exit means EOF.
    drop(report_write);
    drop(ack_read);
    let first = read_report(&report_read, Some(START_LIMIT));
    let victim_pid = match first {
        Some([STARTED, pid, _, _]) => pid,
        Some([FAILED, _, errno, _]) => {
            return Err(TrialError::Spawn {
                what: "the victim",
                cmdline: victim.cmdline(),
                source: std::io::Error::from_raw_os_error(errno),
            })
        }
        _ => return Err(TrialError::KeeperEnded),
    };
    // The keeper reaps nothing before our go-ahead: the number is the victim's.
    let pidfd = rustix::process::pidfd_open(
        rustix::process::Pid::from_raw(victim_pid).expect("positive pid"),
        rustix::process::PidfdFlags::empty(),
    )
    .map_err(|source| TrialError::Pidfd {
        what: "the victim".into(),
        source,
    })?;
    Ok(Keeper {
        pid,
        victim: victim_pid,
        pidfd,
        report: report_read,
        ack: ack_write,
    })
}

impl Keeper {
    /// Lets the keeper reap, with a thread that records the tree's deaths
    /// in the table as the reaper would: the victim's death (and, with
    /// forced reuse, its number handed to the holder), and the last death
    /// of another process of the tree. Call once `table.victim` is set.
    pub fn watch(self, shared: Arc<Shared>, devnull: RawFd) -> OwnedFd {
        let Keeper {
            pid: self_pid,
            victim,
            pidfd,
            report,
            ack,
        } = self;
        // The go-ahead for the keeper's first reap.
        let _ = rustix::io::write(&ack, &[1]);
        let keeper = self_pid;
        std::thread::spawn(move || {
            while let Some(message) = read_report(&report, None) {
                let [ZOMBIE, pid, code, status] = message else {
                    if let [PENDING, _, low, high] = message {
                        let mask = u64::from(low as u32) | (u64::from(high as u32) << 32);
                        let signals = (1..=64).filter(|s| mask & (1 << (s - 1)) != 0);
                        shared.table.lock().record_keeper_signals(keeper, signals);
                    }
                    continue;
                };
                let at = Instant::now();
                let cause = if code == libc::CLD_EXITED {
                    Cause::Exited(status)
                } else {
                    Cause::Signaled(status)
                };
                let mut table = shared.table.lock();
                // The main process: the one started, or the daemon its
                // pidfile named (see Table::repoint_victim).
                let main = table
                    .victim()
                    .filter(|w| w.launched == victim)
                    .map(|w| w.pid);
                table.record_keeper_reap(victim, pid, cause, at);
                let _ = rustix::io::write(&ack, &[1]);
                // Bounded: a keeper SIGSTOPped by a victim's `kill -STOP -1`
                // between the two must not hold init's table forever (its
                // late REAPED is skipped by the loop above).
                let reaped = read_report(&report, Some(REAP_LIMIT));
                if Some(pid) == main && matches!(reaped, Some([REAPED, ..])) {
                    table.give_number(pid, devnull);
                }
                drop(table);
                shared.changed.notify_all();
            }
        });
        pidfd
    }
}

/// Reads one report; `None` at EOF, on error or after `limit`.
fn read_report(fd: &OwnedFd, limit: Option<Duration>) -> Option<Report> {
    use rustix::event::{poll, PollFd, PollFlags, Timespec};
    if let Some(limit) = limit {
        let timeout = Timespec {
            tv_sec: limit.as_secs() as i64,
            tv_nsec: limit.subsec_nanos() as i64,
        };
        let mut fds = [PollFd::new(fd, PollFlags::IN)];
        loop {
            match poll(&mut fds, Some(&timeout)) {
                Err(rustix::io::Errno::INTR) => continue,
                Ok(0) | Err(_) => return None,
                Ok(_) => break,
            }
        }
    }
    let mut bytes = [0u8; 16];
    let mut got = 0;
    while got < bytes.len() {
        match rustix::io::read(fd.as_fd(), &mut bytes[got..]) {
            Ok(0) => return None,
            Ok(n) => got += n,
            Err(rustix::io::Errno::INTR) => continue,
            Err(_) => return None,
        }
    }
    let word = |i: usize| i32::from_ne_bytes(bytes[i * 4..i * 4 + 4].try_into().unwrap());
    Some([word(0), word(1), word(2), word(3)])
}

/// The inclusive fd ranges from 3 up that hold none of `keep`.
fn gaps(mut keep: Vec<RawFd>) -> Vec<(u32, u32)> {
    keep.retain(|&fd| fd >= 3);
    keep.sort_unstable();
    keep.dedup();
    let mut ranges = Vec::new();
    let mut next = 3u32;
    for fd in keep {
        let fd = fd as u32;
        if fd > next {
            ranges.push((next, fd - 1));
        }
        next = fd + 1;
    }
    ranges.push((next, u32::MAX));
    ranges
}

impl spawn::ForkMain for KeeperSpec<'_> {
    unsafe fn run(&self, devnull: RawFd) -> ! {
        // SAFETY: the caller's contract is keeper_main's.
        unsafe { keeper_main(self, devnull) }
    }
}

/// The keeper itself, in the child of init's clone. Only async-signal-safe
/// calls: init is multithreaded, and this fork of it never execs.
///
/// # Safety
/// Call only in a freshly cloned child, once.
unsafe fn keeper_main(spec: &KeeperSpec<'_>, devnull: RawFd) -> ! {
    // SAFETY: a fork-like child of init's, once (the caller's contract), so
    // it owns its errno and its fds, and runs alone: libc's
    // async-signal-safe calls only, on values of its own stack or on the
    // spec, which the fork copied.
    unsafe {
        // Its own session, like every process init starts: a victim's `kill 0`
        // never reaches it.
        libc::setsid();
        let mut all: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::sigprocmask(libc::SIG_BLOCK, &all, std::ptr::null_mut());
        for fd in 0..3 {
            libc::dup2(devnull, fd);
        }
        for &(low, high) in &spec.close {
            libc::syscall(libc::SYS_close_range, low, high, 0);
        }
        libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    }
    let victim = match start_victim(spec, devnull) {
        Ok(pid) => pid,
        Err(errno) => {
            send(spec, [FAILED, 0, errno, 0]);
            child::exit(1)
        }
    };
    // The victim has its copies; ours would keep its ready pipe open.
    for (src, _) in &spec.victim.fds {
        // SAFETY: the keeper's copy of the victim's fd, which it owns.
        unsafe { libc::close(*src) };
    }
    send(spec, [STARTED, victim, 0, 0]);
    if !wait_ack(spec) {
        // Init is gone or gave up: nothing to keep.
        child::exit(1)
    }
    keep(spec)
}

/// Starts the victim: at the first free number of `candidates`, or
/// anywhere. The errno of the last failure otherwise.
fn start_victim(spec: &KeeperSpec<'_>, devnull: RawFd) -> Result<i32, i32> {
    let action = ChildAction::Exec(spec.victim);
    let errno = |e: std::io::Error| e.raw_os_error().unwrap_or(libc::EIO);
    if spec.candidates.is_empty() {
        return spawn::spawn(&action, devnull, None, false)
            .map(|c| c.pid)
            .map_err(errno);
    }
    let mut victim = Err(libc::EINVAL);
    for &pid in &spec.candidates {
        victim = spawn::spawn(&action, devnull, Some(pid), false)
            .map(|c| c.pid)
            .map_err(errno);
        if victim != Err(libc::EEXIST) {
            break;
        }
    }
    victim
}

/// Reaps the victim's tree in lockstep with init until no child is left,
/// then reports what was sent to the keeper itself, and exits.
fn keep(spec: &KeeperSpec<'_>) -> ! {
    loop {
        // SAFETY: a zeroed siginfo_t is valid for waitid to fill, on our stack.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: waitid writes only `info`.
        if unsafe { libc::waitid(libc::P_ALL, 0, &mut info, libc::WEXITED | libc::WNOWAIT) } < 0 {
            if nix::errno::Errno::last() == nix::errno::Errno::EINTR {
                continue;
            }
            // No child left: the victim's whole tree is gone. What was sent
            // to the keeper itself meanwhile is still pending.
            let mask = pending_mask();
            send(
                spec,
                [PENDING, 0, mask as u32 as i32, (mask >> 32) as u32 as i32],
            );
            child::exit(0)
        }
        // SAFETY: waitid succeeded for a child, so the SIGCHLD fields are set.
        let (pid, status) = unsafe { (info.si_pid(), info.si_status()) };
        send(spec, [ZOMBIE, pid, info.si_code, status]);
        // Without init's go-ahead (init gone) it still reaps: the tree ends.
        wait_ack(spec);
        crate::sys::reap(pid);
        send(spec, [REAPED, pid, 0, 0]);
    }
}

/// The signals pending on the keeper (it blocks them all), as a bit mask;
/// SIGCHLD is its own children's deaths, not a signal sent to it.
fn pending_mask() -> u64 {
    // SAFETY: a zeroed sigset_t is a valid (empty) set, on our stack.
    let mut pending: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: sigpending writes the set.
    unsafe { libc::sigpending(&mut pending) };
    let mut mask = 0u64;
    for sig in 1..=64 {
        // SAFETY: sigismember reads the set.
        if sig != libc::SIGCHLD && unsafe { libc::sigismember(&pending, sig) } == 1 {
            mask |= 1 << (sig - 1);
        }
    }
    mask
}

/// One report to init, whole (below PIPE_BUF).
fn send(spec: &KeeperSpec<'_>, report: Report) {
    let bytes: *const Report = &report;
    // SAFETY: writes the report, which lives on our stack, to init's pipe.
    unsafe { libc::write(spec.report, bytes.cast(), std::mem::size_of::<Report>()) };
}

/// Init's go-ahead; `false` when init is gone.
fn wait_ack(spec: &KeeperSpec<'_>) -> bool {
    let mut byte = 0u8;
    loop {
        // SAFETY: reads one byte into `byte`, on our stack.
        let n = unsafe { libc::read(spec.ack, (&mut byte as *mut u8).cast(), 1) };
        if n >= 0 || nix::errno::Errno::last() != nix::errno::Errno::EINTR {
            return n == 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::gaps;

    #[test]
    fn gaps_leave_exactly_the_kept_fds_open() {
        assert_eq!(gaps(vec![]), vec![(3, u32::MAX)]);
        assert_eq!(
            gaps(vec![0, 5, 3, 9, 5]),
            vec![(4, 4), (6, 8), (10, u32::MAX)]
        );
    }
}
