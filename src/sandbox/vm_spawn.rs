//! Forced reuse without copying the sandbox init's page tables: the holder
//! that takes the victim's number is made with `clone3(CLONE_VM | set_tid)`
//! and runs on a stack of its own until its `execve` gives it a fresh
//! address space.
//!
//! Why: a fork-like `clone3` from the multithreaded init costs about twice
//! what it costs a small single-threaded C program (the page-table copy and
//! the write-protect of every private page across CPUs), and the time from
//! the victim's reaping to the holder's birth is what the forced-reuse floor
//! of scripts/floors.sh bounds. With
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
//! waiting for it, which is exactly the cost avoided here). A holder that
//! must already be its program when anyone looks (another instance of the
//! victim's program, `ExecSpec::waiting_for_exec`) pays that cost: it is
//! cloned with `CLONE_VFORK` too, and the spawner resumes after its exec.

use super::spawn::{ExecSpec, Spawned};
use crate::churn::light::{StackSlab, StackSlot};
use crate::sys::{child, raw};
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
) -> io::Result<(Spawned, StackSlot)> {
    let slot = slab
        .take()
        .ok_or_else(|| io::Error::other("no free holder stack"))?;
    let (stack, size) = slab.bounds(&slot);
    // The arguments take the slot's top 64 bytes; the stack grows down below.
    const ARGS_ROOM: usize = 64;
    // SAFETY: the slot is `size` bytes from `stack`, so this stays inside it.
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
        flags: libc::CLONE_VM as u64 | spec.vfork_flag(),
        exit_signal: libc::SIGCHLD as u64,
        stack: stack as u64,
        stack_size: (size - ARGS_ROOM) as u64,
        set_tid: tid.as_ptr() as u64,
        set_tid_size: 1,
        ..Default::default()
    };
    // SAFETY: the clone args name a free slot (reserved until the holder
    // is reaped) and the holder runs only raw system calls on it.
    let ret = unsafe { clone_to_exec(&clone, args_ptr) };
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
) -> io::Result<(Spawned, StackSlot)> {
    Err(io::Error::from(io::ErrorKind::Unsupported))
}

/// `clone3` with `clone`, the child running [`holder_main`] on `args`;
/// returns what clone3 returned. Every signal is blocked in this thread for
/// the clone, so the child starts with them blocked (no handler of ours
/// may run on its stack); the parent's mask comes back right after.
///
/// # Safety
/// `clone` must name a stack no other process runs on, at whose top
/// `args` was written, and which outlives the child's use of it.
#[cfg(target_arch = "x86_64")]
unsafe fn clone_to_exec(clone: &super::spawn::CloneArgs, args: *mut HolderArgs) -> isize {
    use nix::sys::signal::{pthread_sigmask, SigSet, SigmaskHow};
    let mut old = SigSet::empty();
    let _ = pthread_sigmask(
        SigmaskHow::SIG_SETMASK,
        Some(&SigSet::all()),
        Some(&mut old),
    );
    // SAFETY: the caller's contract; the child runs only raw system calls.
    let ret = unsafe {
        raw::clone3_with(
            (clone as *const super::spawn::CloneArgs).cast(),
            std::mem::size_of::<super::spawn::CloneArgs>(),
            holder_main,
            args.cast(),
        )
    };
    let _ = pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&old), None);
    ret
}

/// The child, on its own stack, sharing the parent's memory: raw system
/// calls only (sys::child), and it reads only the spec and its arguments.
#[cfg(target_arch = "x86_64")]
extern "C" fn holder_main(arg: *mut libc::c_void) -> ! {
    // SAFETY: `arg` is the HolderArgs written at the top of this child's
    // slot, and its spec outlives the child's exec (the reaper keeps it in
    // the table with the slot); this is a fresh child, once.
    unsafe {
        let args = &*(arg as *const HolderArgs);
        child::exec(&(*args.spec).raw(), args.devnull)
    }
}

/// Stack of a [`spawn_exec`] child: it runs `child::exec` and nothing else.
const EXEC_STACK: usize = 64 * 1024;

/// Spawns `spec` as `posix_spawn` does: `clone3(CLONE_VM | CLONE_VFORK)`,
/// on a stack of the spawner's that the child leaves by its exec (or its
/// exit) before the spawner resumes. No page table of the sandbox init is
/// copied, which is most of what a fork-like clone of this multithreaded
/// process costs beyond the C floor's fork of a small program. The child
/// takes the same precautions as a holder (raw syscalls, every signal
/// blocked until its exec).
#[cfg(target_arch = "x86_64")]
pub fn spawn_exec(
    spec: &ExecSpec,
    devnull: RawFd,
    want_pidfd: bool,
    cgroup: Option<RawFd>,
) -> io::Result<Spawned> {
    use std::os::fd::{FromRawFd, OwnedFd};
    // u128: 16-byte aligned, as the ABI wants the stack.
    let mut stack = vec![0u128; EXEC_STACK / 16];
    const ARGS_ROOM: usize = 64;
    let base = stack.as_mut_ptr().cast::<u8>();
    // SAFETY: the stack is EXEC_STACK bytes from `base`, so this stays inside it.
    let args_ptr = unsafe { base.add(EXEC_STACK - ARGS_ROOM) }.cast::<HolderArgs>();
    // SAFETY: no child runs on this stack yet; the slot is 16-byte aligned.
    unsafe {
        args_ptr.write(HolderArgs {
            spec: spec as *const ExecSpec,
            devnull,
        })
    };
    let mut pidfd: libc::c_int = -1;
    let mut clone = super::spawn::CloneArgs {
        flags: libc::CLONE_VM as u64 | libc::CLONE_VFORK as u64,
        exit_signal: libc::SIGCHLD as u64,
        stack: base as u64,
        stack_size: (EXEC_STACK - ARGS_ROOM) as u64,
        ..Default::default()
    };
    if want_pidfd {
        clone.flags |= libc::CLONE_PIDFD as u64;
        clone.pidfd = &mut pidfd as *mut libc::c_int as u64;
    }
    if let Some(fd) = cgroup {
        clone.flags |= super::spawn::CLONE_INTO_CGROUP;
        clone.cgroup = fd as u64;
    }
    // SAFETY: CLONE_VFORK holds this thread until the child has exec'd or
    // exited, so the stack and the spec outlive its use; the child runs
    // only raw system calls on it.
    let ret = unsafe { clone_to_exec(&clone, args_ptr) };
    drop(stack);
    if ret < 0 {
        return Err(io::Error::from_raw_os_error(-ret as i32));
    }
    // SAFETY: CLONE_PIDFD gave us this fd, and nothing else owns it.
    let pidfd = (want_pidfd && pidfd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(pidfd) });
    Ok(Spawned {
        pid: ret as libc::pid_t,
        pidfd,
    })
}

#[cfg(not(target_arch = "x86_64"))]
pub fn spawn_exec(
    spec: &ExecSpec,
    devnull: RawFd,
    want_pidfd: bool,
    cgroup: Option<RawFd>,
) -> io::Result<Spawned> {
    super::spawn::spawn_into(
        &super::spawn::ChildAction::Exec(spec),
        devnull,
        None,
        want_pidfd,
        cgroup,
    )
}
