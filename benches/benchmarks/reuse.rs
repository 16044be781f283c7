//! Forced reuse of a chosen PID: a child exits and is reaped, then clone3
//! with set_tid = its number (timed) gives the number to a new process:
//! the holder path the reaper takes (`CLONE_VM` + exec, see
//! sandbox::vm_spawn) beside the fork-like clone3 it falls back to.

use criterion::Criterion;
use std::os::fd::RawFd;
use std::time::{Duration, Instant};
use stopbench::churn::light::StackSlab;
use stopbench::sandbox::spawn::{spawn, ChildAction, ExecSpec};
use stopbench::sandbox::vm_spawn::spawn_holder;

fn reap(pid: i32) {
    let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None);
}

/// Times `take(number)` giving a just-reaped number to a new process, over
/// `iters` rounds; `take` returns the new PID with what it holds for it,
/// which `reaped` gets back once that process is reaped.
fn time_reuse<T>(
    fd: RawFd,
    iters: u64,
    mut take: impl FnMut(i32) -> (i32, T),
    mut reaped: impl FnMut(T),
) -> Duration {
    let exit_now = ChildAction::Sleep(Duration::ZERO);
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let first = spawn(&exit_now, fd, None, false).expect("clone3").pid;
        reap(first);
        let start = Instant::now();
        let (again, held) = take(first);
        total += start.elapsed();
        assert_eq!(again, first);
        reap(again);
        reaped(held);
    }
    total
}

pub fn benches(c: &mut Criterion) {
    let devnull = std::fs::File::open("/dev/null").expect("/dev/null");
    let fd = std::os::fd::AsRawFd::as_raw_fd(&devnull);
    let exit_now = ChildAction::Sleep(Duration::ZERO);
    c.bench_function("reuse/set-tid-of-a-reaped-pid", |b| {
        b.iter_custom(|iters| {
            time_reuse(
                fd,
                iters,
                |number| {
                    let child = spawn(&exit_now, fd, Some(number), false).expect("clone3 set_tid");
                    (child.pid, ())
                },
                |()| {},
            )
        })
    });
    let holder = ExecSpec::new("/bin/true", &["true".to_string()], &[], Vec::new());
    let slab = std::cell::RefCell::new(StackSlab::new(1));
    c.bench_function("reuse/holder-clone-vm-set-tid", |b| {
        b.iter_custom(|iters| {
            time_reuse(
                fd,
                iters,
                |number| {
                    let (child, slot) = spawn_holder(&holder, fd, number, &mut slab.borrow_mut())
                        .expect("clone3 vm");
                    (child.pid, slot)
                },
                // The holder is off its stack once reaped: the slot serves again.
                |slot| slab.borrow_mut().give_back(slot),
            )
        })
    });
}
