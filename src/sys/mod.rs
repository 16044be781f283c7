//! The system calls nix and rustix do not offer safely, in one place. Each
//! is a safe function here, with the reason it is sound beside its `unsafe`
//! block; the rest of the crate calls these (or nix and rustix). `unsafe`
//! elsewhere is limited to what cannot be a safe call: code that runs in a
//! freshly cloned child before its exec, and signal handlers.

pub mod child;
pub mod raw;

use std::io;

/// `kill(pid, sig)` by number, as a shell's `kill` does; `sig` 0 probes.
/// nix's `kill` takes no real-time signal, which systemd's power-off
/// request is.
pub fn kill(pid: i32, sig: i32) -> io::Result<()> {
    // SAFETY: kill(2) takes two integers and touches none of our memory.
    if unsafe { libc::kill(pid, sig) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// CLOCK_MONOTONIC in microseconds, the clock of systemd's `*Monotonic`
/// timestamps and of the trace shim's events.
pub fn monotonic_us() -> u64 {
    let ts = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC)
        .expect("CLOCK_MONOTONIC is always readable");
    ts.tv_sec() as u64 * 1_000_000 + ts.tv_nsec() as u64 / 1_000
}

/// Ignores `sig` in the whole process (its disposition).
pub fn ignore_signal(sig: i32) {
    // SAFETY: SIG_IGN installs no handler, so no code of ours can run in a
    // signal context because of it.
    unsafe { libc::signal(sig, libc::SIG_IGN) };
}

/// Puts back the default disposition of `sig` in the whole process.
pub fn default_signal(sig: i32) {
    // SAFETY: SIG_DFL installs no handler, so no code of ours can run in a
    // signal context because of it.
    unsafe { libc::signal(sig, libc::SIG_DFL) };
}

/// Runs `handler` on `sig`.
///
/// # Safety
/// `handler` must make only async-signal-safe calls.
pub unsafe fn on_signal(sig: i32, handler: extern "C" fn(libc::c_int)) {
    // SAFETY: the caller vouches for the handler.
    unsafe { libc::signal(sig, handler as *const () as libc::sighandler_t) };
}

/// `pidfd_send_signal(fd, sig)` for any signal number: rustix's `Signal`
/// names no real-time signal, which systemd's power-off request is.
pub fn pidfd_send_raw(fd: std::os::fd::BorrowedFd<'_>, sig: i32) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: the fd is borrowed for the call, and a null siginfo is what
    // the kernel expects when it fills the sender in itself.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            fd.as_raw_fd(),
            sig,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    if ret == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// How a child ended, as `waitid` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChildEnd {
    Exited {
        pid: i32,
        code: i32,
    },
    /// Killed (or dumped core) by this signal number.
    Signaled {
        pid: i32,
        signal: i32,
    },
}

/// The next child that has ended, left a zombie (`WNOWAIT`): its number
/// stays taken until [`reap`]. Blocks until one ends. nix's `waitid` is
/// not used because it fails on a death by a real-time signal, which would
/// leave the zombie unseen forever.
pub fn next_ended_child() -> io::Result<ChildEnd> {
    // SAFETY: a zeroed siginfo_t is a valid value for waitid to fill.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: waitid writes only `info`, which lives on our stack.
    let ret = unsafe { libc::waitid(libc::P_ALL, 0, &mut info, libc::WEXITED | libc::WNOWAIT) };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: waitid succeeded for a child, so the SIGCHLD fields are set.
    let (pid, status) = unsafe { (info.si_pid(), info.si_status()) };
    Ok(if info.si_code == libc::CLD_EXITED {
        ChildEnd::Exited { pid, code: status }
    } else {
        ChildEnd::Signaled {
            pid,
            signal: status,
        }
    })
}

/// Whether any child of this process has ended and awaits its reaping: one
/// `waitid` that reaps nothing, where reading the children's stats would
/// take a file per child.
pub fn any_ended_child() -> bool {
    // SAFETY: a zeroed siginfo_t is valid for waitid to fill; WNOHANG and
    // WNOWAIT make it neither block nor reap.
    unsafe {
        let mut info: libc::siginfo_t = std::mem::zeroed();
        let ret = libc::waitid(
            libc::P_ALL,
            0,
            &mut info,
            libc::WEXITED | libc::WNOHANG | libc::WNOWAIT | libc::__WALL,
        );
        ret == 0 && info.si_pid() != 0
    }
}

/// Reaps the ended child `pid` that [`next_ended_child`] reported; returns
/// the CPU time it used, with the children it waited for (`wait4`).
pub fn reap(pid: i32) -> crate::measure::CpuTime {
    // SAFETY: a zeroed rusage is valid; wait4 fills it and the status.
    unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        let mut status = 0;
        libc::wait4(pid, &mut status, libc::__WALL, &mut usage);
        crate::measure::CpuTime::from_rusage(&usage)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A death by a real-time signal is seen, not an error that would leave
    /// its zombie unreaped (nix's waitid refuses it).
    #[test]
    fn a_child_killed_by_a_realtime_signal_is_seen_and_reaped() {
        let sig = libc::SIGRTMIN() + 3;
        let spec = crate::sandbox::spawn::ExecSpec::new(
            "/bin/sh",
            &["/bin/sh".into(), "-c".into(), format!("kill -{sig} $$")],
            &[],
            Vec::new(),
        );
        let devnull = std::fs::File::open("/dev/null").unwrap();
        let child = crate::sandbox::spawn::spawn(
            &crate::sandbox::spawn::ChildAction::Exec(&spec),
            std::os::fd::AsRawFd::as_raw_fd(&devnull),
            None,
            false,
        )
        .unwrap();
        let end = loop {
            match next_ended_child() {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => break other.unwrap(),
            }
        };
        assert_eq!(
            end,
            ChildEnd::Signaled {
                pid: child.pid,
                signal: sig
            }
        );
        reap(child.pid);
        // Reaped: this test process has no child left.
        let left = next_ended_child().unwrap_err();
        assert_eq!(left.raw_os_error(), Some(libc::ECHILD));
    }
}
