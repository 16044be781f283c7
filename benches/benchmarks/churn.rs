//! Churner spawn-and-reap: the light churner (shared memory, own stack) that
//! the generator uses, and a forked one for comparison.

use criterion::Criterion;
use std::time::Duration;
use stopbench::churn::light::{self, StackSlab};
use stopbench::sandbox::spawn::{spawn, ChildAction};

fn reap(pid: i32) {
    let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None);
}

pub fn benches(c: &mut Criterion) {
    let mut slab = StackSlab::new(1);
    let slot = slab.take().expect("one slot");
    c.bench_function("churn/light-spawn-and-reap", |b| {
        b.iter(|| reap(light::spawn(&slab, &slot, Duration::ZERO).expect("clone")))
    });
    let devnull = std::fs::File::open("/dev/null").expect("/dev/null");
    let fd = std::os::fd::AsRawFd::as_raw_fd(&devnull);
    c.bench_function("churn/fork-spawn-and-reap", |b| {
        b.iter(|| {
            reap(
                spawn(&ChildAction::Sleep(Duration::ZERO), fd, None, false)
                    .expect("clone3")
                    .pid,
            )
        })
    });
}
