//! Forced reuse without copying the sandbox init's page tables: the holder
//! that takes the victim's number is made with `clone3(CLONE_VM | set_tid)`
//! and runs on a stack of its own until its `execve` gives it a fresh
//! address space.
//!
//! Why: a fork-like `clone3` from the multithreaded init costs about twice
//! what it costs a small single-threaded C program (the page-table copy and
//! the write-protect of every private page across CPUs), and the time from
//! the victim's reaping to the holder's birth is what issue 5 bounds. With
//! `CLONE_VM` nothing is copied.
//!
//! The price is that the child shares the parent's memory, thread-local
//! storage (errno) included, until it execs. So it makes raw syscalls only,
//! writes nothing but its own stack, and starts with every signal blocked
//! (inherited from the spawning thread) so that no handler of the parent
//! can run on its stack; the mask is cleared just before `execve`, after the
//! dispositions a misfire could hide behind are back to default.
//!
//! The stack stays reserved until the holder is reaped: only then is it
//! certain the child is off it (an exec cannot be observed directly without
//! waiting for it, which is exactly the cost avoided here).

use super::spawn::{ExecSpec, Spawned, STOP_SIGNALS};
use crate::churn::light::StackSlab;
use std::io;
use std::os::fd::RawFd;

/// What the child needs besides the spec. It is written at the top of the
/// child's own stack slot, below which the child's stack starts, so it lives
/// exactly as long as the slot is reserved.
#[repr(C)]
struct HolderArgs {
    spec: *const ExecSpec,
    devnull: RawFd,
}

/// Spawns `spec` with PID `set_tid` on a slot of `slab`, sharing memory until
/// the exec. Returns the slot with the child; give it back when it is reaped.
#[cfg(target_arch = "x86_64")]
pub fn spawn_holder(
    spec: &ExecSpec,
    devnull: RawFd,
    set_tid: libc::pid_t,
    slab: &mut StackSlab,
) -> io::Result<(Spawned, usize)> {
    let slot = slab
        .take()
        .ok_or_else(|| io::Error::other("no free holder stack"))?;
    let (stack, size) = slab.slot(slot);
    // The arguments take the slot's top 64 bytes; the stack grows down below.
    const ARGS_ROOM: usize = 64;
    let args_ptr = unsafe { stack.add(size - ARGS_ROOM) }.cast::<HolderArgs>();
    // SAFETY: the slot is free (no child runs on it) and 16-byte aligned.
    unsafe {
        args_ptr.write(HolderArgs {
            spec: spec as *const ExecSpec,
            devnull,
        })
    };
    let tid: [libc::pid_t; 1] = [set_tid];
    let clone = super::spawn::CloneArgs {
        flags: libc::CLONE_VM as u64,
        exit_signal: libc::SIGCHLD as u64,
        stack: stack as u64,
        stack_size: (size - ARGS_ROOM) as u64,
        set_tid: tid.as_ptr() as u64,
        set_tid_size: 1,
        ..Default::default()
    };
    // Every signal blocked in this thread for the clone, so the child starts
    // with them blocked; the parent's mask comes back right after.
    let mut all: libc::sigset_t = unsafe { std::mem::zeroed() };
    let mut old: libc::sigset_t = unsafe { std::mem::zeroed() };
    unsafe {
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
    }
    let ret = unsafe { clone3_vm(&clone, holder_main, args_ptr.cast()) };
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut()) };
    if ret < 0 {
        slab.give_back(slot);
        return Err(io::Error::from_raw_os_error(-ret as i32));
    }
    Ok((
        Spawned {
            pid: ret as libc::pid_t,
            pidfd: None,
        },
        slot,
    ))
}

#[cfg(not(target_arch = "x86_64"))]
pub fn spawn_holder(
    _: &ExecSpec,
    _: RawFd,
    _: libc::pid_t,
    _: &mut StackSlab,
) -> io::Result<(Spawned, usize)> {
    Err(io::Error::from(io::ErrorKind::Unsupported))
}

/// `clone3` whose child calls `child(arg)` on the new stack and never
/// returns into Rust code of the parent. Returns the syscall's raw result
/// (child PID, or -errno).
#[cfg(target_arch = "x86_64")]
unsafe fn clone3_vm(
    args: &super::spawn::CloneArgs,
    child: extern "C" fn(*mut libc::c_void) -> !,
    arg: *mut libc::c_void,
) -> isize {
    let ret: isize;
    // In the child every register but rax (0) and rsp (the new stack's top)
    // is the parent's, so r12/r13 carry the function and its argument.
    std::arch::asm!(
        "syscall",
        "test rax, rax",
        "jnz 2f",
        "xor ebp, ebp",
        "and rsp, -16",
        "mov rdi, r12",
        "call r13",
        "ud2",
        "2:",
        inlateout("rax") libc::SYS_clone3 => ret,
        in("rdi") args as *const _,
        in("rsi") std::mem::size_of::<super::spawn::CloneArgs>(),
        in("r12") arg,
        in("r13") child,
        lateout("rcx") _,
        lateout("r11") _,
    );
    ret
}

/// A raw syscall with up to four arguments; no libc, no errno.
#[cfg(target_arch = "x86_64")]
unsafe fn sys(nr: libc::c_long, a: usize, b: usize, c: usize, d: usize) -> isize {
    let ret: isize;
    std::arch::asm!(
        "syscall",
        inlateout("rax") nr as isize => ret,
        in("rdi") a,
        in("rsi") b,
        in("rdx") c,
        in("r10") d,
        lateout("rcx") _,
        lateout("r11") _,
        options(nostack)
    );
    ret
}

/// The kernel's `struct sigaction` on x86_64 (not glibc's).
#[cfg(target_arch = "x86_64")]
#[repr(C)]
struct KernelSigaction {
    handler: usize,
    flags: u64,
    restorer: usize,
    mask: u64,
}

/// The child, on its own stack, sharing the parent's memory: raw syscalls only.
#[cfg(target_arch = "x86_64")]
extern "C" fn holder_main(arg: *mut libc::c_void) -> ! {
    unsafe {
        let args = &*(arg as *const HolderArgs);
        let spec = &*args.spec;
        let dfl = KernelSigaction {
            handler: 0,
            flags: 0,
            restorer: 0,
            mask: 0,
        };
        let set = |sig: libc::c_int| {
            sys(
                libc::SYS_rt_sigaction,
                sig as usize,
                &dfl as *const _ as usize,
                0,
                8,
            );
        };
        set(libc::SIGPIPE);
        for sig in STOP_SIGNALS {
            set(sig);
        }
        // A session of its own, like every program init executes (see spawn).
        sys(libc::SYS_setsid, 0, 0, 0, 0);
        for fd in 0..3 {
            sys(libc::SYS_dup2, args.devnull as usize, fd, 0, 0);
        }
        let mut tmp = [-1isize; 8];
        for (i, (src, _)) in spec.fds.iter().enumerate().take(tmp.len()) {
            tmp[i] = sys(
                libc::SYS_fcntl,
                *src as usize,
                libc::F_DUPFD_CLOEXEC as usize,
                100,
                0,
            );
        }
        for (i, (_, dst)) in spec.fds.iter().enumerate().take(tmp.len()) {
            sys(libc::SYS_dup2, tmp[i] as usize, *dst as usize, 0, 0);
        }
        let empty = 0u64;
        sys(
            libc::SYS_rt_sigprocmask,
            libc::SIG_SETMASK as usize,
            &empty as *const u64 as usize,
            0,
            8,
        );
        sys(
            libc::SYS_execve,
            spec.exe.as_ptr() as usize,
            spec.argv_ptrs.as_ptr() as usize,
            spec.envp_ptrs.as_ptr() as usize,
            0,
        );
        sys(libc::SYS_exit, 127, 0, 0, 0);
        // exit does not return.
        loop {
            std::hint::spin_loop();
        }
    }
}
