//! The oracle's cost per trial: attributing a trial's deaths and caught
//! signals (a pkill-like trial: a dozen deaths, a few of them misfires),
//! and the walk of the process tree after each stop, with 10 and with
//! 5,000 processes in the namespace: flat, where a scan of /proc (the way
//! before crowds) grows with them.

use criterion::{black_box, Criterion};
use std::time::Instant;
use stopbench::oracle::{
    attribute, CaughtSignal, Cause, Evidence, SeenBy, SentinelEvidence, StrategyActs,
};
use stopbench::sandbox::table::{Death, Role};
use stopbench::sandbox::victim_tree::VictimTree;

pub fn benches(c: &mut Criterion) {
    let deaths: Vec<Death> = (0..12)
        .map(|i| Death {
            pid: 300 + i,
            role: match i % 4 {
                0 => Some(Role::Bystander(0)),
                1 => Some(Role::Helper),
                2 => Some(Role::Churner),
                _ => None,
            },
            cmdline: format!("/usr/bin/foo_daemon-{i}").into(),
            start: Some(1000 + i as u64),
            cgroup: None,
            cause: if i % 3 == 0 {
                Cause::Exited(0)
            } else {
                Cause::Signaled(libc::SIGKILL)
            },
            at: Instant::now(),
        })
        .collect();
    let caught = vec![CaughtSignal {
        pid: 42,
        cmdline: "vim x".into(),
        role: "bystander",
        signal: libc::SIGTERM,
        seen_by: SeenBy::Handler,
        sender: Some(310),
    }];
    let acts = StrategyActs {
        senders: [1, 310, 311].into(),
        targets: [304].into(),
        ..StrategyActs::default()
    };
    let sentinel = SentinelEvidence {
        pid: Some(5),
        died_of: None,
    };
    let tree = VictimTree {
        main: 299,
        snapshot: vec![(303, 1003), (307, 1007)],
        ..VictimTree::none()
    };
    walks(c);
    c.bench_function("oracle/attribute-one-trial", |b| {
        b.iter(|| {
            attribute(black_box(&Evidence {
                deaths: &deaths,
                caught: &caught,
                tree: &tree,
                strategy: &acts,
                sentinel: &sentinel,
                init_cmdline: "stopbench-sandbox bench",
                victim_freed: None,
            }))
        })
    });
}

/// The per-trial walk (what quiesce and settle read, see inside.rs) beside
/// a full /proc scan, at 10 and at 5,000 processes. The processes are a
/// crowd as the sandbox holds one: the children of a keeper, which the walk
/// does not enter. This bench runs as PID 1 of a namespace of its own
/// (bench_main.rs), so the crowd is this namespace's, and is killed with
/// its keeper's process group before the next size.
fn walks(c: &mut Criterion) {
    use stopbench::sandbox::procfs;
    let me = std::process::id() as i32;
    let mut group = c.benchmark_group("oracle/per-trial-walk");
    // A full scan at 5,000 processes takes a tenth of a second: a few
    // dozen samples tell the flat walk from the growing scan.
    group.sample_size(20);
    for processes in [10usize, 5_000] {
        let keeper = Crowd::start(processes);
        group.bench_function(format!("children-walk/{processes}"), |b| {
            b.iter(|| {
                let below = procfs::below(me, |p| p == keeper.pid).found;
                let children: Vec<_> = procfs::children(me)
                    .into_iter()
                    .filter_map(|p| Some((p, procfs::stat(p)?)))
                    .collect();
                black_box((below, children))
            })
        });
        group.bench_function(format!("full-scan/{processes}"), |b| {
            b.iter(|| black_box(procfs::descendants_in(&procfs::scan(), me)))
        });
        drop(keeper);
    }
    group.finish();
}

/// A keeper and its idle children, in a process group of their own.
struct Crowd {
    pid: i32,
    processes: usize,
}

impl Crowd {
    fn start(processes: usize) -> Self {
        use nix::unistd::{fork, ForkResult};
        let (ready_r, ready_w) = nix::unistd::pipe().expect("pipe");
        // SAFETY: the bench's process has no other thread running code
        // that the children could need (criterion runs on this thread);
        // the children only fork and pause.
        match unsafe { fork() }.expect("fork") {
            ForkResult::Child => {
                let _ = nix::unistd::setpgid(
                    nix::unistd::Pid::from_raw(0),
                    nix::unistd::Pid::from_raw(0),
                );
                for _ in 1..processes {
                    // SAFETY: as above; the child pauses until killed.
                    if let Ok(ForkResult::Child) = unsafe { fork() } {
                        loop {
                            nix::unistd::pause();
                        }
                    }
                }
                let _ = nix::unistd::write(&ready_w, b"r");
                loop {
                    nix::unistd::pause();
                }
            }
            ForkResult::Parent { child } => {
                drop(ready_w);
                let mut byte = [0u8; 1];
                nix::unistd::read(&ready_r, &mut byte).expect("crowd ready");
                Crowd {
                    pid: child.as_raw(),
                    processes,
                }
            }
        }
    }
}

impl Drop for Crowd {
    fn drop(&mut self) {
        use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
        use nix::unistd::Pid;
        // Our own unreaped child's group: its number cannot have changed hands.
        let _ =
            nix::sys::signal::killpg(Pid::from_raw(self.pid), nix::sys::signal::Signal::SIGKILL);
        let _ = waitpid(Pid::from_raw(self.pid), None);
        // Its children come to us (PID 1 here) to be reaped; bounded.
        let deadline = Instant::now() + std::time::Duration::from_secs(10);
        let mut left = self.processes.saturating_sub(1);
        while left > 0 && Instant::now() < deadline {
            match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) => {
                    std::thread::sleep(std::time::Duration::from_millis(1))
                }
                Ok(_) => left -= 1,
                Err(_) => break,
            }
        }
    }
}
