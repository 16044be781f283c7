//! Light churners: `clone(CLONE_VM)` children that share the sandbox init's
//! memory, so creating one copies no page tables (the cost that limits a
//! fork-based generator). Each runs on a small stack of its own, sleeps its
//! lifetime with a raw `nanosleep` syscall and exits. It must touch nothing
//! else: it shares the parent's memory and even its thread-local storage
//! (errno included), so no libc call and no allocation.
//!
//! Stacks come from a slab that is never freed: a churner may still be
//! sleeping on its stack when the generator ends, and only its reaping (by
//! the reaper, which returns the slot) proves it is off it.

use crate::sys::child;
use std::io;
use std::time::Duration;

/// Stack per churner: the child runs one small function.
const STACK: usize = 16 * 1024;

/// One stack of a slab, reserved for the process that runs on it until
/// that process is reaped, then given back. It is neither `Clone` nor
/// `Copy`, and only a slab makes one: a stack cannot be given back twice,
/// or used by two processes at once, in safe code.
#[derive(Debug, PartialEq, Eq)]
pub struct StackSlot {
    index: usize,
    /// The slab it came from (its base address), checked when it is used.
    slab: usize,
}

/// Fixed-size stacks handed out as [`StackSlot`]s and given back on reap.
pub struct StackSlab {
    base: *mut u8,
    slots: usize,
    free: Vec<usize>,
}

// SAFETY: the slab's memory is only touched by the children (each on its
// own slot); the free list is moved and changed only under the process
// table's lock, which owns the slab.
unsafe impl Send for StackSlab {}
// SAFETY: as for Send: `&StackSlab` only computes addresses.
unsafe impl Sync for StackSlab {}

impl StackSlab {
    /// Reserves `slots` stacks (never unmapped; see the module doc).
    pub fn new(slots: usize) -> Self {
        // Never copied into forked children (victims, bystanders, reuse
        // holders), so fork need not copy the page tables of used stacks.
        let len = slots * STACK;
        // SAFETY: a fresh anonymous mapping, which no other memory aliases.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        assert!(
            base != libc::MAP_FAILED,
            "cannot map {len} bytes of churner stacks"
        );
        // SAFETY: advice on the mapping just made, which we own.
        unsafe { libc::madvise(base, len, libc::MADV_DONTFORK) };
        Self {
            base: base.cast(),
            slots,
            free: (0..slots).rev().collect(),
        }
    }

    /// A free stack, if any.
    pub fn take(&mut self) -> Option<StackSlot> {
        self.free.pop().map(|index| StackSlot {
            index,
            slab: self.base as usize,
        })
    }

    /// Gives a stack back: only once the process that ran on it was reaped.
    pub fn give_back(&mut self, slot: StackSlot) {
        self.check(&slot);
        self.free.push(slot.index);
    }

    fn check(&self, slot: &StackSlot) {
        assert!(
            slot.slab == self.base as usize && slot.index < self.slots,
            "a stack slot given to a slab it did not come from"
        );
    }

    /// A slot's lowest address and its size (both 16-byte aligned).
    pub fn bounds(&self, slot: &StackSlot) -> (*mut u8, usize) {
        self.check(slot);
        // SAFETY: index < slots, so the offset stays inside the mapping.
        (unsafe { self.base.add(slot.index * STACK) }, STACK)
    }

    /// Top of a slot's stack, 16-byte aligned.
    fn top(&self, slot: &StackSlot) -> *mut libc::c_void {
        let (low, size) = self.bounds(slot);
        ((low as usize + size) & !15) as *mut libc::c_void
    }
}

/// The child: sleep `lifetime` (nanoseconds, passed as the argument), return
/// 0, which glibc's clone trampoline turns into a raw `exit(0)`.
#[cfg(target_arch = "x86_64")]
extern "C" fn churner(arg: *mut libc::c_void) -> libc::c_int {
    // Raw system calls on its own stack only: it shares init's memory. Its
    // dispositions are a copy of init's, whose stop signals are already
    // back to default (see sandbox::init); SIGPIPE, which init ignores to
    // survive a closed pipe, must kill a churner it hits.
    child::default_disposition(libc::SIGPIPE);
    child::unblock_all();
    child::sleep_nanos(arg as u64);
    0
}

/// Starts a light churner on `slot` of `slab`; returns its PID.
#[cfg(target_arch = "x86_64")]
pub fn spawn(slab: &StackSlab, slot: &StackSlot, lifetime: Duration) -> io::Result<libc::pid_t> {
    let nanos = lifetime.as_nanos().min(u64::MAX as u128) as usize;
    // SAFETY: the slot is reserved for this churner until the reaper reaps
    // it (see the module doc), and the churner runs only raw system calls
    // on it.
    let pid = unsafe {
        libc::clone(
            churner,
            slab.top(slot),
            libc::CLONE_VM | libc::SIGCHLD,
            nanos as *mut libc::c_void,
        )
    };
    if pid < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(pid)
    }
}

/// Elsewhere light churners are not available; the generator forks instead.
#[cfg(not(target_arch = "x86_64"))]
pub fn spawn(_: &StackSlab, _: &StackSlot, _: Duration) -> io::Result<libc::pid_t> {
    Err(io::Error::from(io::ErrorKind::Unsupported))
}
