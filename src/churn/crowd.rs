//! Crowds: thousands of bystanders with one command line (`{ command = ...,
//! count = 5000 }`), as a real host runs hundreds to thousands of processes
//! that `pkill -f`, `killall` and `pidof` must read past.
//!
//! Held at a cost that does not grow the oracle's work per trial:
//! - One keeper per crowd, a child of init, under a name that matches no
//!   daemon (`stopbench-crowd`). It starts a first member with the crowd's
//!   command line, and that member clones the others with `CLONE_PARENT`:
//!   they are the keeper's children, copies of one small process (no exec,
//!   no page copied but on write).
//! - The keeper reaps its members and reports each one dead of a signal to
//!   the oracle pipe, as a TERM-catching member reports what it caught. So
//!   init's process table, and the children lists init walks after every
//!   trial, hold one keeper, not the crowd.
//! - Before each trial init asks the keeper to reap, report and top the
//!   crowd up again (`sync`), and waits for its answer: every death of the
//!   last trial is in the pipe before that trial is attributed.

use super::bystander;
use crate::sandbox::spawn::ExecSpec;
use crate::scenario::{BystanderBehaviour, BystanderConfig};
use crate::victim::env;
use std::os::fd::{AsFd, OwnedFd, RawFd};
use std::time::Duration;

/// The keeper's command line (see [`bystander::SENTINEL_CMDLINE`] for why
/// no strategy under test addresses it).
pub const KEEPER_CMDLINE: &str = "stopbench-crowd";
/// The keeper reads one byte per request here: [`SYNC`] or [`FILL`].
const CONTROL_FD: RawFd = 5;
/// The keeper answers each request with one byte here.
const ANSWER_FD: RawFd = 6;
/// Reap and report the dead.
const SYNC: u8 = b's';
/// Reap, report, and start members until the crowd is whole again.
const FILL: u8 = b'f';

const INDEX_KEY: &str = "STOPBENCH_CROWD";
const COUNT_KEY: &str = "STOPBENCH_CROWD_COUNT";
/// The members' command line, words separated by US (0x1f): in the
/// environment, as every role's contract is, never in the keeper's argv.
const COMMAND_KEY: &str = "STOPBENCH_CROWD_COMMAND";
const WORD_SEPARATOR: char = '\u{1f}';

/// How long a crowd may take to start: a few seconds, and a millisecond
/// per member on a busy machine.
pub fn start_limit(count: u32) -> Duration {
    Duration::from_secs(5) + Duration::from_millis(u64::from(count))
}

/// The keeper's exec: crowd `index` of `count` members running `config`.
pub fn keeper_spec(
    config: &BystanderConfig,
    index: usize,
    self_exe: &str,
    fds: [RawFd; 4],
) -> ExecSpec {
    let behaviour = match config.behaviour {
        BystanderBehaviour::IgnoreTerm => "ignore-term",
        _ => "plain",
    };
    let words: Vec<&str> = config.command.0.iter().map(String::as_str).collect();
    let env = vec![
        (env::ROLE.to_string(), "crowd-keeper".to_string()),
        (bystander::BEHAVIOUR_KEY.to_string(), behaviour.to_string()),
        (INDEX_KEY.to_string(), index.to_string()),
        (COUNT_KEY.to_string(), config.count.one().0.to_string()),
        (
            COMMAND_KEY.to_string(),
            words.join(&WORD_SEPARATOR.to_string()),
        ),
    ];
    let [ready, oracle, control, answer] = fds;
    ExecSpec::new(
        self_exe,
        &[KEEPER_CMDLINE.to_string()],
        &env,
        vec![
            (ready, env::READY_FD),
            (oracle, env::ORACLE_FD),
            (control, CONTROL_FD),
            (answer, ANSWER_FD),
        ],
    )
}

/// Init's end of a keeper's two pipes.
pub struct CrowdLink {
    pub control: OwnedFd,
    pub answer: OwnedFd,
    pub count: u32,
}

impl CrowdLink {
    /// Asks the keeper to reap and report its dead and, with `fill`, to
    /// make the crowd whole; returns once it has (or why it did not answer).
    pub fn sync(&self, fill: bool) -> Result<(), crate::sandbox::error::NotReady> {
        use crate::sandbox::error::NotReady;
        let request = [if fill { FILL } else { SYNC }];
        if nix::unistd::write(&self.control, &request) != Ok(1) {
            return Err(NotReady::Exited);
        }
        crate::sandbox::wire::wait_byte(&self.answer, start_limit(self.count))
    }
}

fn env_words() -> Vec<String> {
    std::env::var(COMMAND_KEY)
        .unwrap_or_default()
        .split(WORD_SEPARATOR)
        .map(String::from)
        .collect()
}

/// Entry point of a crowd's keeper; never returns.
pub fn keeper_main() -> ! {
    // A signal sent to the keeper is caught and reported with its sender,
    // as the sentinel's are; its members' deaths (SIGCHLD) are its business.
    for sig in (1..=libc::SIGRTMAX()).filter(|&s| s != libc::SIGCHLD) {
        bystander::catch(sig);
    }
    note_member_deaths();
    for fd in [CONTROL_FD, ANSWER_FD] {
        // SAFETY: fcntl on our own descriptors; members must not inherit them.
        unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
    }
    let index = env::count(INDEX_KEY) as usize;
    let count = env::count(COUNT_KEY);
    let words = env_words();
    let behaviour = std::env::var(bystander::BEHAVIOUR_KEY).unwrap_or_default();
    let mut live = start_members(&words, &behaviour, index, count);
    if live == 0 {
        std::process::exit(1);
    }
    env::report_ready();
    loop {
        let mut request = [0u8; 1];
        // SAFETY: a read into our own one-byte buffer.
        let n = unsafe { libc::read(CONTROL_FD, request.as_mut_ptr().cast(), 1) };
        if n < 0 && nix::errno::Errno::last() == nix::errno::Errno::EINTR {
            continue;
        }
        if n != 1 {
            // Init is gone: so is the sandbox.
            std::process::exit(0);
        }
        live = live.saturating_sub(reap_members(index));
        if request[0] == FILL && live < count {
            live += start_members(&words, &behaviour, index, count - live);
        }
        // SAFETY: a write of our own one-byte buffer.
        unsafe { libc::write(ANSWER_FD, [b'a'].as_ptr().cast(), 1) };
    }
}

/// Set by SIGCHLD: a member has ended since the flag was last cleared.
static ENDED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

extern "C" fn on_sigchld(_: libc::c_int) {
    ENDED.store(true, std::sync::atomic::Ordering::SeqCst);
}

/// Has SIGCHLD set [`ENDED`]: a `waitpid` walks every child of the keeper
/// (thousands) even when none has ended, so it runs only when one has.
fn note_member_deaths() {
    // SAFETY: a zeroed sigaction is valid; the handler only stores an atomic.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_sigchld as *const () as usize;
        action.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut action.sa_mask);
        libc::sigaction(libc::SIGCHLD, &action, std::ptr::null_mut());
    }
}

/// Reaps every member that has ended, reporting those a signal killed;
/// returns how many ended.
fn reap_members(index: usize) -> u32 {
    use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
    // Cleared before the walk: a member that ends during it sets the flag
    // again, and is reaped at the next request if not in this one.
    if !ENDED.swap(false, std::sync::atomic::Ordering::SeqCst) {
        return 0;
    }
    let mut ended = 0;
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Signaled(pid, signal, _)) => {
                bystander::report_death(pid.as_raw(), signal as i32, index);
                ended += 1;
            }
            Ok(WaitStatus::Exited(..)) => ended += 1,
            Ok(WaitStatus::StillAlive) | Err(_) => return ended,
            Ok(_) => {}
        }
    }
}

/// Starts `count` members: one exec of the crowd's command line, which
/// clones the rest. Returns how many it made.
fn start_members(words: &[String], behaviour: &str, index: usize, count: u32) -> u32 {
    use std::os::unix::process::CommandExt;
    let Ok((read, write)) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC) else {
        return 0;
    };
    let Some((program, args)) = words.split_first() else {
        return 0;
    };
    let write_fd = std::os::fd::AsRawFd::as_raw_fd(&write);
    let mut command = std::process::Command::new("/proc/self/exe");
    command
        .arg0(program)
        .args(args)
        .env_clear()
        .env(env::ROLE, "crowd-member")
        .env(bystander::BEHAVIOUR_KEY, behaviour)
        .env(INDEX_KEY, index.to_string())
        .env(COUNT_KEY, count.to_string());
    // SAFETY: dup2 is async-signal-safe; the child owns its descriptors.
    unsafe {
        command.pre_exec(move || {
            // dup2 onto itself would keep the close-on-exec flag.
            let moved = if write_fd == env::READY_FD {
                libc::fcntl(write_fd, libc::F_SETFD, 0)
            } else {
                libc::dup2(write_fd, env::READY_FD)
            };
            if moved < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    // Reaped by `reap_members` with the rest, never waited for here.
    if command.spawn().is_err() {
        return 0;
    }
    drop(write);
    if crate::sandbox::wire::wait_byte(&read, start_limit(count)).is_err() {
        return 0;
    }
    // The first member wrote one byte (above), then how many it made.
    let mut made = [0u8; 4];
    match nix::unistd::read(read.as_fd(), &mut made) {
        Ok(4) => u32::from_ne_bytes(made),
        _ => 0,
    }
}

/// Entry point of a crowd's first member; never returns. It clones the
/// others as its keeper's children, then idles like a bystander.
pub fn member_main() -> ! {
    bystander::join_crowd(env::count(INDEX_KEY) as usize);
    if std::env::var(bystander::BEHAVIOUR_KEY).as_deref() == Ok("ignore-term") {
        bystander::catch(libc::SIGTERM);
    }
    let count = env::count(COUNT_KEY).max(1);
    let mut made = 1u32;
    for _ in 1..count {
        // SAFETY: this process is single-threaded, so a fork-like clone
        // copies all of it; the child only closes a descriptor and waits
        // for signals. CLONE_PARENT makes it the keeper's child.
        let pid = unsafe {
            libc::syscall(
                libc::SYS_clone,
                (libc::CLONE_PARENT | libc::SIGCHLD) as libc::c_ulong,
                0usize,
                0usize,
                0usize,
                0usize,
            )
        };
        if pid == 0 {
            // SAFETY: closing our own copy of the ready descriptor.
            unsafe { libc::close(env::READY_FD) };
            idle();
        }
        if pid < 0 {
            break;
        }
        made += 1;
    }
    // SAFETY: writes of our own buffers to the ready pipe, then its close.
    unsafe {
        libc::write(env::READY_FD, [b'r'].as_ptr().cast(), 1);
        libc::write(env::READY_FD, made.to_ne_bytes().as_ptr().cast(), 4);
        libc::close(env::READY_FD);
    }
    idle()
}

fn idle() -> ! {
    loop {
        // SAFETY: pause takes no arguments.
        unsafe { libc::pause() };
    }
}
