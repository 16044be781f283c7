//! pidfd stop latency against an instantly exiting victim (stopbench's own
//! exit-on-term daemon): from pidfd_send_signal(SIGTERM) to the pidfd
//! turning readable.

use criterion::Criterion;
use rustix::event::{poll, PollFd, PollFlags};
use rustix::process::{pidfd_send_signal, Signal};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};
use stopbench::sandbox::spawn::{spawn, ChildAction, ExecSpec};

pub fn benches(c: &mut Criterion) {
    let exe = env!("CARGO_BIN_EXE_stopbench");
    let devnull = std::fs::File::open("/dev/null").expect("/dev/null");
    c.bench_function("stop/pidfd-exit-on-term", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let (ready_r, ready_w) = nix::unistd::pipe().expect("pipe");
                let spec = ExecSpec::new(
                    exe,
                    &["/usr/bin/foo_daemon".to_string()],
                    &[
                        ("STOPBENCH_ROLE".into(), "victim".into()),
                        ("STOPBENCH_BEHAVIOUR".into(), "exit-on-term".into()),
                    ],
                    vec![(ready_w.as_raw_fd(), 3)],
                );
                let child = spawn(&ChildAction::Exec(&spec), devnull.as_raw_fd(), None, true)
                    .expect("spawn victim");
                drop(ready_w);
                let mut byte = [0u8; 1];
                nix::unistd::read(&ready_r, &mut byte).expect("victim ready");
                let pidfd = child.pidfd.expect("pidfd");
                let start = Instant::now();
                pidfd_send_signal(&pidfd, Signal::TERM).expect("signal");
                poll(&mut [PollFd::new(&pidfd, PollFlags::IN)], None).expect("poll");
                total += start.elapsed();
                let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(child.pid), None);
            }
            total
        })
    });
}
