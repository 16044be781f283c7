//! System calls without libc, for code that runs where libc must not: a
//! child cloned with `CLONE_VM` shares the parent's memory and thread-local
//! storage, errno included, until it execs, so a libc wrapper there would
//! write the parent's errno. These write nothing but their return value.

/// A raw system call with up to four arguments. Returns the kernel's value:
/// the result, or `-errno`.
///
/// # Safety
/// The arguments must be what system call `nr` expects: any pointer among
/// them valid for what the kernel reads or writes through it.
#[cfg(target_arch = "x86_64")]
pub unsafe fn syscall4(nr: libc::c_long, a: usize, b: usize, c: usize, d: usize) -> isize {
    let ret: isize;
    // SAFETY: `syscall` clobbers rcx and r11 (declared) and returns in rax;
    // the caller vouches for the arguments.
    unsafe {
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
    }
    ret
}

/// Elsewhere, libc's `syscall`: only fork-like children (which own their
/// errno) use it there, since `CLONE_VM` children exist only on x86_64.
///
/// # Safety
/// As on x86_64.
#[cfg(not(target_arch = "x86_64"))]
pub unsafe fn syscall4(nr: libc::c_long, a: usize, b: usize, c: usize, d: usize) -> isize {
    // SAFETY: the caller vouches for the arguments.
    let ret = unsafe { libc::syscall(nr, a, b, c, d) };
    if ret < 0 {
        -(std::io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO) as isize)
    } else {
        ret as isize
    }
}

/// `clone3` whose child calls `child(arg)` on the new stack and never
/// returns into the parent's Rust code. Returns the raw result (child PID,
/// or `-errno`).
///
/// # Safety
/// `args` must describe a valid clone: with `CLONE_VM`, a stack no other
/// code uses until the child is reaped, and `child` must run only code fit
/// for a child sharing the parent's memory (raw system calls, its own stack).
#[cfg(target_arch = "x86_64")]
pub unsafe fn clone3_with(
    args: *const u8,
    size: usize,
    child: extern "C" fn(*mut libc::c_void) -> !,
    arg: *mut libc::c_void,
) -> isize {
    let ret: isize;
    // SAFETY: in the child every register but rax (0) and rsp (the new
    // stack's top) is the parent's, so r12/r13 carry the function and its
    // argument; the child aligns its stack and calls them, never returning
    // (ud2 after). The parent takes rax and the declared clobbers.
    unsafe {
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
            in("rdi") args,
            in("rsi") size,
            in("r12") arg,
            in("r13") child,
            lateout("rcx") _,
            lateout("r11") _,
        );
    }
    ret
}
