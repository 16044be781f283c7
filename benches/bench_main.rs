//! `cargo bench`: criterion groups, one file each under benches/benchmarks/.
//!
//! The groups spawn and signal processes, so they run as PID 1 of a PID
//! namespace of their own (through a user namespace when not root), never in
//! the host's PID space: main unshares, forks, and the child runs them.

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
    match unsafe { libc::fork() } {
        0 => {
            let mut c = criterion::Criterion::default().configure_from_args();
            benchmarks::recording::benches(&mut c);
            benchmarks::oracle::benches(&mut c);
            benchmarks::churn::benches(&mut c);
            benchmarks::reuse::benches(&mut c);
            benchmarks::stop::benches(&mut c);
            c.final_summary();
            std::process::exit(0);
        }
        -1 => {
            eprintln!("bench: fork failed");
            std::process::exit(1);
        }
        child => {
            let mut status = 0;
            unsafe { libc::waitpid(child, &mut status, 0) };
            std::process::exit(if libc::WIFEXITED(status) {
                libc::WEXITSTATUS(status)
            } else {
                1
            });
        }
    }
}
