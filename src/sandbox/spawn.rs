//! Process creation inside the sandbox init, which is multithreaded (reaper,
//! churn and trial threads). Children are made with raw `clone3` so that
//! forced reuse can ask for an exact PID (`set_tid`) and the victim's pidfd
//! exists from birth (`CLONE_PIDFD`), with no window in which the number could
//! be recycled. Between clone and exec the child runs only async-signal-safe
//! calls: no allocation, no locks.

use crate::sys::child::{self, RawExec};
use std::ffi::CString;
use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

/// An exec prepared before the clone, so the child allocates nothing.
pub struct ExecSpec {
    exe: CString,
    _argv: Vec<CString>,
    _envp: Vec<CString>,
    argv_ptrs: Vec<*const libc::c_char>,
    envp_ptrs: Vec<*const libc::c_char>,
    /// `(source, target)`: each source fd is made the child's fd `target`.
    pub(super) fds: Vec<(RawFd, RawFd)>,
    /// `(uid, gid)` the child takes before exec; `None`: ours.
    ids: Option<(u32, u32)>,
    /// The spawner waits until the child has exec'd (`CLONE_VFORK`).
    wait_exec: bool,
    /// The child's fd that learns why it could not become its program,
    /// and whether exec closes it.
    failure_fd: Option<(RawFd, bool)>,
}

// SAFETY: the raw pointers point into the CStrings owned by the same
// struct, which nothing mutates after `new`.
unsafe impl Send for ExecSpec {}
// SAFETY: as for Send: shared access only reads.
unsafe impl Sync for ExecSpec {}

impl ExecSpec {
    /// `exe` is what runs; `argv` is what /proc/PID/cmdline (and `pkill -f`) shows.
    pub fn new(
        exe: &str,
        argv: &[String],
        env: &[(String, String)],
        fds: Vec<(RawFd, RawFd)>,
    ) -> Self {
        let c = |s: &str| {
            CString::new(s).expect("NUL bytes were rejected when the scenario was parsed")
        };
        let exe = c(exe);
        let argv: Vec<CString> = argv.iter().map(|a| c(a)).collect();
        let envp: Vec<CString> = env.iter().map(|(k, v)| c(&format!("{k}={v}"))).collect();
        let mut argv_ptrs: Vec<_> = argv.iter().map(|a| a.as_ptr()).collect();
        argv_ptrs.push(std::ptr::null());
        let mut envp_ptrs: Vec<_> = envp.iter().map(|a| a.as_ptr()).collect();
        envp_ptrs.push(std::ptr::null());
        Self {
            exe,
            _argv: argv,
            _envp: envp,
            argv_ptrs,
            envp_ptrs,
            fds,
            ids: None,
            wait_exec: false,
            failure_fd: None,
        }
    }

    /// The same exec, with the spawner held until the child has exec'd
    /// (`CLONE_VFORK`): a newcomer that must already be its program (name,
    /// executable) when anyone can look at it.
    pub fn waiting_for_exec(mut self) -> Self {
        self.wait_exec = true;
        self
    }

    /// `CLONE_VFORK` when the spawner waits for the exec.
    pub(super) fn vfork_flag(&self) -> u64 {
        if self.wait_exec {
            libc::CLONE_VFORK as u64
        } else {
            0
        }
    }

    /// The same exec, run as the user `ids` (`(uid, gid)`), or as ours.
    pub fn run_as(mut self, ids: Option<(u32, u32)>) -> Self {
        self.ids = ids;
        self
    }

    /// The same exec, telling the child's fd `fd` (one of its `fds`
    /// targets, such as the ready pipe) why it could not become its
    /// program (sys::child::ExecFailure), so a victim that cannot start says
    /// why instead of only "exited".
    pub fn reporting_failure_to(mut self, fd: RawFd) -> Self {
        self.failure_fd = Some((fd, false));
        self
    }

    /// As [`Self::reporting_failure_to`], with `fd` closed by the exec: a
    /// real program does not inherit it, and its reader sees only a failure
    /// report or nothing.
    pub fn reporting_failure_only_to(mut self, fd: RawFd) -> Self {
        self.failure_fd = Some((fd, true));
        self
    }

    /// The pointers a child execs from (see sys::child::exec).
    pub fn raw(&self) -> RawExec<'_> {
        RawExec {
            exe: self.exe.as_ptr(),
            argv: self.argv_ptrs.as_ptr(),
            envp: self.envp_ptrs.as_ptr(),
            fds: &self.fds,
            ids: self.ids,
            failure_fd: self.failure_fd.map(|(fd, _)| fd),
            failure_fd_cloexec: self.failure_fd.is_some_and(|(_, cloexec)| cloexec),
        }
    }

    /// The argv joined by spaces, as `pkill -f` sees it.
    pub fn cmdline(&self) -> String {
        self._argv
            .iter()
            .map(|a| a.to_string_lossy())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// What the new child does.
pub enum ChildAction<'a> {
    /// Become another program (victim, bystander, strategy helper).
    Exec(&'a ExecSpec),
    /// A churner: live for this long, then `_exit(0)`.
    Sleep(Duration),
    /// Run code of init's own that never execs, such as the victim's
    /// keeper (see keeper.rs).
    Run(&'a dyn ForkMain),
}

/// Code a fork-like child of init runs instead of an exec: async-signal-safe
/// calls only (init is multithreaded), and it never returns.
pub trait ForkMain: Sync {
    /// # Safety
    /// Only in a freshly cloned child, once.
    unsafe fn run(&self, devnull: RawFd) -> !;
}

pub struct Spawned {
    pub pid: libc::pid_t,
    pub pidfd: Option<OwnedFd>,
}

#[repr(C)]
#[derive(Default)]
pub(super) struct CloneArgs {
    pub(super) flags: u64,
    pub(super) pidfd: u64,
    pub(super) child_tid: u64,
    pub(super) parent_tid: u64,
    pub(super) exit_signal: u64,
    pub(super) stack: u64,
    pub(super) stack_size: u64,
    pub(super) tls: u64,
    pub(super) set_tid: u64,
    pub(super) set_tid_size: u64,
    pub(super) cgroup: u64,
}

/// `CLONE_INTO_CGROUP` (Linux 5.7+), which the libc crate does not name.
pub(super) const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// Creates a child that performs `action`, with stdio on `devnull`.
///
/// `set_tid` asks for that exact PID in the innermost PID namespace
/// (needs CAP_SYS_ADMIN over it, which the sandbox init has).
pub fn spawn(
    action: &ChildAction<'_>,
    devnull: RawFd,
    set_tid: Option<libc::pid_t>,
    want_pidfd: bool,
) -> io::Result<Spawned> {
    spawn_into(action, devnull, set_tid, want_pidfd, None)
}

/// [`spawn`], with the child born inside the cgroup whose directory is `cgroup`
/// (`CLONE_INTO_CGROUP`, Linux 5.7+): no moment where it is elsewhere.
pub fn spawn_into(
    action: &ChildAction<'_>,
    devnull: RawFd,
    set_tid: Option<libc::pid_t>,
    want_pidfd: bool,
    cgroup: Option<RawFd>,
) -> io::Result<Spawned> {
    let mut pidfd: libc::c_int = -1;
    let tid: [libc::pid_t; 1] = [set_tid.unwrap_or(0)];
    let mut args = CloneArgs {
        exit_signal: libc::SIGCHLD as u64,
        ..Default::default()
    };
    if want_pidfd {
        args.flags |= libc::CLONE_PIDFD as u64;
        args.pidfd = &mut pidfd as *mut libc::c_int as u64;
    }
    if set_tid.is_some() {
        args.set_tid = tid.as_ptr() as u64;
        args.set_tid_size = 1;
    }
    if let ChildAction::Exec(spec) = action {
        args.flags |= spec.vfork_flag();
    }
    if let Some(fd) = cgroup {
        args.flags |= CLONE_INTO_CGROUP;
        args.cgroup = fd as u64;
    }
    // SAFETY: clone3 without CLONE_VM duplicates the address space like fork;
    // the child only runs `child_main`, which is async-signal-safe.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &args as *const CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    if ret == 0 {
        // SAFETY: in the child, once; never returns.
        unsafe { child_main(action, devnull) }
    }
    // SAFETY: CLONE_PIDFD gave us this fd, and nothing else owns it.
    let pidfd = (want_pidfd && pidfd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(pidfd) });
    Ok(Spawned {
        pid: ret as libc::pid_t,
        pidfd,
    })
}

/// Runs in the new child: only async-signal-safe steps from here on (see
/// sys::child).
///
/// # Safety
/// Only in the child of [`spawn_into`]'s clone, once.
unsafe fn child_main(action: &ChildAction<'_>, devnull: RawFd) -> ! {
    match action {
        ChildAction::Sleep(lifetime) => {
            child::default_dispositions();
            child::unblock_all();
            child::sleep_nanos(lifetime.as_nanos().min(u64::MAX as u128) as u64);
            child::exit(0)
        }
        ChildAction::Run(main) => {
            // A signal sent to it must stay pending or land, never be
            // discarded as ignored.
            child::default_dispositions();
            // SAFETY: a fresh child, once, as `run` requires.
            unsafe { main.run(devnull) }
        }
        // SAFETY: a fresh child; the spec's pointers live as long as it.
        ChildAction::Exec(spec) => unsafe { child::exec(&spec.raw(), devnull) },
    }
}
