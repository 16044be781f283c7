//! What a freshly cloned child does before it becomes another program, in
//! one place for every kind of child: fork-like ones (`clone3`, see
//! sandbox/spawn.rs) and those sharing init's memory (`CLONE_VM`, see
//! sandbox/vm_spawn.rs and churn/light.rs). Raw system calls only (see
//! `raw`), so the same steps are right in both: no allocation, no lock, no
//! errno.

use super::raw::syscall4;
use std::os::fd::RawFd;

/// Every signal a scenario may name as a stop signal (see scenario::signal),
/// but SIGKILL, whose disposition cannot change.
pub const STOP_SIGNALS: [libc::c_int; 8] = [
    libc::SIGTERM,
    libc::SIGINT,
    libc::SIGQUIT,
    libc::SIGHUP,
    libc::SIGUSR1,
    libc::SIGUSR2,
    libc::SIGABRT,
    libc::SIGALRM,
];

/// What a child execs: pointers into an exec prepared before the clone
/// (sandbox::spawn::ExecSpec), so the child allocates nothing.
pub struct RawExec<'a> {
    pub exe: *const libc::c_char,
    pub argv: *const *const libc::c_char,
    pub envp: *const *const libc::c_char,
    /// `(source, target)`: each source fd becomes the child's fd `target`.
    pub fds: &'a [(RawFd, RawFd)],
    /// `(uid, gid)` to take before exec (no supplementary groups).
    pub ids: Option<(u32, u32)>,
    /// A fd of the child's (after the `fds` are in place) that learns why
    /// the child could not become its program (see [`ExecFailure`]).
    pub failure_fd: Option<RawFd>,
    /// Close `failure_fd` at exec: a real program must not inherit it.
    pub failure_fd_cloexec: bool,
}

/// What a child writes to its `failure_fd` when it cannot become its
/// program: a marker byte, then the errno (4 bytes, native order). The
/// markers are never a ready byte (`r`), so the reader tells them apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExecFailure {
    /// Dropping root for the scenario's user failed.
    SetUser(i32),
    /// `execve` failed.
    Exec(i32),
}

impl ExecFailure {
    const SET_USER: u8 = b'U';
    const EXEC: u8 = b'X';

    /// Whether `byte` starts a failure report.
    pub fn is_marker(byte: u8) -> bool {
        byte == Self::SET_USER || byte == Self::EXEC
    }

    /// The report that starts with `marker` and carries `errno`.
    pub fn from_report(marker: u8, errno: [u8; 4]) -> Option<Self> {
        let errno = i32::from_ne_bytes(errno);
        match marker {
            Self::SET_USER => Some(Self::SetUser(errno)),
            Self::EXEC => Some(Self::Exec(errno)),
            _ => None,
        }
    }

    fn report(marker: u8, ret: isize) -> [u8; 5] {
        let errno = (-ret) as i32;
        let e = errno.to_ne_bytes();
        [marker, e[0], e[1], e[2], e[3]]
    }
}

impl std::fmt::Display for ExecFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            Self::SetUser(errno) => write!(
                f,
                "could not take its user's ids: {}",
                std::io::Error::from_raw_os_error(errno)
            ),
            Self::Exec(errno) => write!(
                f,
                "could not execute its program: {}",
                std::io::Error::from_raw_os_error(errno)
            ),
        }
    }
}

/// Writes `report` to `fd`, if any, with one raw system call.
fn tell(fd: Option<RawFd>, report: [u8; 5]) {
    if let Some(fd) = fd {
        // SAFETY: write reads 5 bytes from our own stack.
        unsafe {
            syscall4(
                libc::SYS_write,
                fd as usize,
                report.as_ptr() as usize,
                report.len(),
                0,
            )
        };
    }
}

/// The kernel's `struct sigaction` as x86_64 and arm64 lay it out (not glibc's).
#[repr(C)]
struct KernelSigaction {
    handler: usize,
    flags: u64,
    restorer: usize,
    mask: u64,
}

/// Puts back the default disposition of SIGPIPE and of every stop signal.
/// Ignored dispositions survive execve (handlers do not), and init may have
/// inherited some (Rust ignores SIGPIPE; `nohup` ignores SIGHUP): a process
/// ignoring a stray signal would hide a misfire.
pub fn default_dispositions() {
    for sig in std::iter::once(libc::SIGPIPE).chain(STOP_SIGNALS) {
        default_disposition(sig);
    }
}

/// Puts back the default disposition of `sig`, with one raw system call
/// (safe in a child that shares its parent's memory).
pub fn default_disposition(sig: libc::c_int) {
    let dfl = KernelSigaction {
        handler: 0, // SIG_DFL
        flags: 0,
        restorer: 0,
        mask: 0,
    };
    // SAFETY: rt_sigaction reads a sigaction on our stack; SIG_DFL
    // installs no handler code.
    unsafe {
        syscall4(
            libc::SYS_rt_sigaction,
            sig as usize,
            &dfl as *const KernelSigaction as usize,
            0,
            8,
        )
    };
}

/// Unblocks every signal in the calling thread: a child must die of a stray
/// signal like any process, even when the thread that cloned it blocks
/// signals (the agent beside a real systemd does, see sandbox::init).
pub fn unblock_all() {
    let empty = 0u64;
    // SAFETY: rt_sigprocmask reads an empty 8-byte set on our stack.
    unsafe {
        syscall4(
            libc::SYS_rt_sigprocmask,
            libc::SIG_SETMASK as usize,
            &empty as *const u64 as usize,
            0,
            8,
        )
    };
}

/// Sleeps for `nanos`, resumed after interruptions.
pub fn sleep_nanos(nanos: u64) {
    let mut ts = libc::timespec {
        tv_sec: (nanos / 1_000_000_000) as libc::time_t,
        tv_nsec: (nanos % 1_000_000_000) as libc::c_long,
    };
    loop {
        let mut rem = ts;
        // SAFETY: nanosleep reads `ts` and writes `rem`, both on our stack.
        let ret = unsafe {
            syscall4(
                libc::SYS_nanosleep,
                &ts as *const libc::timespec as usize,
                &mut rem as *mut libc::timespec as usize,
                0,
                0,
            )
        };
        if ret != -(libc::EINTR as isize) {
            return;
        }
        ts = rem;
    }
}

/// Ends the calling process at once, with no atexit handler or flush.
pub fn exit(code: i32) -> ! {
    // SAFETY: exit_group takes an integer and does not return.
    unsafe { syscall4(libc::SYS_exit_group, code as usize, 0, 0, 0) };
    unreachable!("exit_group returned")
}

/// Becomes `exec`: default dispositions, a session (and process group) of
/// its own, stdio on `devnull`, the exec's fds in place, every signal
/// unblocked last (no handler of the parent's may run on a shared stack),
/// then execve; exit 127 if it fails, as a shell does.
///
/// A session of its own, as systemd gives every process it starts: a
/// `kill 0` or `kill -PGID` from the program then reaches only its own
/// group, never init's churners or, across the PID namespace, whoever
/// started stopbench.
///
/// # Safety
/// Only in a freshly cloned child: it replaces fds 0-2 and the exec's
/// targets, which other code of this process may own. `exec`'s pointers
/// must be valid NUL-terminated strings and arrays.
pub unsafe fn exec(exec: &RawExec<'_>, devnull: RawFd) -> ! {
    default_dispositions();
    // SAFETY: setsid, dup3 and fcntl take integers; execve
    // reads the strings the caller vouches for. The fds they replace are
    // this child's to replace (the caller's contract).
    unsafe {
        syscall4(libc::SYS_setsid, 0, 0, 0, 0);
        for fd in 0..3 {
            syscall4(libc::SYS_dup3, devnull as usize, fd, 0, 0);
        }
        // Two passes, so that a source numbered like another target is not
        // clobbered before it is copied.
        let mut tmp = [-1isize; 8];
        for (i, (src, _)) in exec.fds.iter().enumerate().take(tmp.len()) {
            tmp[i] = syscall4(
                libc::SYS_fcntl,
                *src as usize,
                libc::F_DUPFD_CLOEXEC as usize,
                100,
                0,
            );
        }
        for (i, (_, dst)) in exec.fds.iter().enumerate().take(tmp.len()) {
            syscall4(libc::SYS_dup3, tmp[i] as usize, *dst as usize, 0, 0);
        }
        if let (Some(fd), true) = (exec.failure_fd, exec.failure_fd_cloexec) {
            syscall4(
                libc::SYS_fcntl,
                fd as usize,
                libc::F_SETFD as usize,
                libc::FD_CLOEXEC as usize,
                0,
            );
        }
        // Another user's, as systemd's `User=`: groups first, while we may
        // still change them. A child that cannot drop root does not run.
        if let Some((uid, gid)) = exec.ids {
            let mut ret = syscall4(libc::SYS_setgroups, 0, 0, 0, 0);
            if ret == 0 {
                ret = syscall4(
                    libc::SYS_setresgid,
                    gid as usize,
                    gid as usize,
                    gid as usize,
                    0,
                );
            }
            if ret == 0 {
                ret = syscall4(
                    libc::SYS_setresuid,
                    uid as usize,
                    uid as usize,
                    uid as usize,
                    0,
                );
            }
            if ret != 0 {
                tell(
                    exec.failure_fd,
                    ExecFailure::report(ExecFailure::SET_USER, ret),
                );
                exit(126);
            }
        }
        unblock_all();
        let ret = syscall4(
            libc::SYS_execve,
            exec.exe as usize,
            exec.argv as usize,
            exec.envp as usize,
            0,
        );
        tell(exec.failure_fd, ExecFailure::report(ExecFailure::EXEC, ret));
    }
    exit(127)
}
