//! `cargo bench`: criterion groups, one file each under benches/benchmarks/.
//!
//! The groups spawn and signal processes, so they run as PID 1 of a PID
//! namespace of their own (through a user namespace when not root), with a
//! /proc of its own, never in the host's PID space: main unshares, forks,
//! and the child mounts that /proc and runs them.

mod benchmarks;

use stopbench::sandbox::{namespace, SandboxMode};

fn main() {
    let mode = if nix::unistd::geteuid().is_root() {
        SandboxMode::Root
    } else {
        SandboxMode::UserNamespace
    };
    if let Err(reason) = namespace::enter(mode) {
        eprintln!("bench: cannot make a PID namespace for the benches: {reason}");
        std::process::exit(1);
    }
    use nix::sys::wait::{waitpid, WaitStatus};
    use nix::unistd::{fork, ForkResult};
    // SAFETY: main has started no thread yet, so the child may run any code.
    match unsafe { fork() } {
        Ok(ForkResult::Child) => {
            // This namespace's own /proc: what the oracle benches walk.
            if let Err(reason) = namespace::mount_private_proc() {
                eprintln!("bench: cannot mount a private /proc: {reason}");
                std::process::exit(1);
            }
            // A second of warm-up and two of measurement per bench: enough
            // samples for these microsecond operations, and `cargo bench`
            // (with every scenario after) stays under four minutes.
            let mut c = criterion::Criterion::default()
                .warm_up_time(std::time::Duration::from_secs(1))
                .measurement_time(std::time::Duration::from_secs(2))
                .configure_from_args();
            benchmarks::recording::benches(&mut c);
            benchmarks::oracle::benches(&mut c);
            benchmarks::churn::benches(&mut c);
            benchmarks::reuse::benches(&mut c);
            benchmarks::stop::benches(&mut c);
            c.final_summary();
            std::process::exit(0);
        }
        Err(e) => {
            eprintln!("bench: fork failed: {e}");
            std::process::exit(1);
        }
        Ok(ForkResult::Parent { child }) => {
            std::process::exit(match waitpid(child, None) {
                Ok(WaitStatus::Exited(_, code)) => code,
                _ => 1,
            });
        }
    }
}
