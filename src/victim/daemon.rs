//! The simulated daemons: our own binary re-executed under the victim's
//! command line (so `pkill -f` sees exactly what the scenario names), with
//! the behaviour chosen by environment variables, which `pkill -f` does not see.

use super::env;
use crate::scenario::Behaviour;
use nix::sys::signal::{
    sigaction, sigprocmask, SaFlags, SigAction, SigHandler, SigSet, SigmaskHow, Signal,
};
use std::sync::atomic::{AtomicBool, Ordering};

static STOP_REQUESTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_term(_: libc::c_int) {
    STOP_REQUESTED.store(true, Ordering::SeqCst);
}

extern "C" fn ignore_term(_: libc::c_int) {
    // The seed's `trap "echo Ignoring TERM" TERM`; stdout is /dev/null.
    let _ = nix::unistd::write(std::io::stdout(), b"Ignoring TERM\n");
}

fn set_handler(sig: Signal, handler: SigHandler) {
    let action = SigAction::new(handler, SaFlags::SA_RESTART, SigSet::empty());
    // SAFETY: every handler given here only stores to an atomic or writes(2).
    let _ = unsafe { sigaction(sig, &action) };
}

fn signal_ready() {
    if let Ok(socket) = std::env::var("NOTIFY_SOCKET") {
        // Under systemd (Type=notify), readiness goes to the manager instead.
        notify_ready(&socket);
        return;
    }
    env::report_ready();
}

/// sd_notify("READY=1") without libsystemd: one datagram to $NOTIFY_SOCKET.
fn notify_ready(socket: &str) {
    notify(socket, b"READY=1");
}

/// One sd_notify datagram to the manager's socket.
fn notify(socket: &str, message: &[u8]) {
    use std::os::linux::net::SocketAddrExt;
    use std::os::unix::net::{SocketAddr, UnixDatagram};
    let Ok(sock) = UnixDatagram::unbound() else {
        return;
    };
    let addr = match socket.strip_prefix('@') {
        Some(name) => SocketAddr::from_abstract_name(name.as_bytes()),
        None => SocketAddr::from_pathname(socket),
    };
    if let Ok(addr) = addr {
        let _ = sock.send_to_addr(message, &addr);
    }
}

/// `hang`: ready, then `WATCHDOG=1` every quarter of `$WATCHDOG_USEC` (as
/// sd_watchdog_enabled advises) until `exit_after` has passed, each ping's
/// CLOCK_MONOTONIC time written to `$STOPBENCH_PING_FILE`; then nothing.
fn serve_then_hang() -> ! {
    signal_ready();
    let until = std::time::Instant::now() + env::duration(env::EXIT_AFTER);
    let socket = std::env::var("NOTIFY_SOCKET").ok();
    let every = std::env::var("WATCHDOG_USEC")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .map(|us| std::time::Duration::from_micros(us / 4));
    if let (Some(socket), Some(every)) = (socket, every) {
        let file = std::env::var(env::PING_FILE).ok();
        while std::time::Instant::now() < until {
            notify(&socket, b"WATCHDOG=1");
            if let Some(file) = &file {
                let _ = std::fs::write(file, crate::sys::monotonic_us().to_string());
            }
            std::thread::sleep(
                every.min(until.saturating_duration_since(std::time::Instant::now())),
            );
        }
    }
    sleep_forever()
}

/// Sleeps until SIGTERM's handler has run (sigsuspend: no lost wake-up).
fn wait_for_term() {
    let mut block = SigSet::empty();
    block.add(Signal::SIGTERM);
    let mut old = SigSet::empty();
    let _ = sigprocmask(SigmaskHow::SIG_BLOCK, Some(&block), Some(&mut old));
    old.remove(Signal::SIGTERM);
    while !STOP_REQUESTED.load(Ordering::SeqCst) {
        let _ = old.suspend();
    }
}

/// Reports ready, waits for SIGTERM, cleans up for `cleanup`, exits 0.
fn serve_until_term() -> ! {
    signal_ready();
    wait_for_term();
    std::thread::sleep(env::duration(env::CLEANUP));
    std::process::exit(0)
}

fn sleep_forever() -> ! {
    loop {
        nix::unistd::pause();
    }
}

/// Entry point of a victim process; never returns.
pub fn main() -> ! {
    let behaviour = env::behaviour();
    match behaviour {
        Behaviour::ExitOnTerm | Behaviour::Stopped => {
            set_handler(Signal::SIGTERM, SigHandler::Handler(on_term));
            serve_until_term()
        }
        Behaviour::IgnoreTerm => {
            set_handler(Signal::SIGTERM, SigHandler::Handler(ignore_term));
            signal_ready();
            sleep_forever()
        }
        Behaviour::ForkChildren => {
            // Children inherit SIG_IGN; the parent installs its handler after
            // forking, so no child can be caught without its disposition.
            set_handler(Signal::SIGTERM, SigHandler::SigIgn);
            for _ in 0..env::count(env::CHILDREN) {
                // SAFETY: the victim is single-threaded, so its child may run
                // any code.
                match unsafe { nix::unistd::fork() } {
                    Ok(nix::unistd::ForkResult::Child) => {
                        // The ready pipe is the parent's to write; the child's
                        // copy would keep it open. The fd is ours to close.
                        drop(env::take_ready_fd());
                        sleep_forever()
                    }
                    Err(_) => std::process::exit(70),
                    Ok(_) => {}
                }
            }
            set_handler(Signal::SIGTERM, SigHandler::Handler(on_term));
            serve_until_term()
        }
        Behaviour::ExitEarly => {
            signal_ready();
            std::thread::sleep(env::duration(env::EXIT_AFTER));
            // A crash: the pidfile stays behind with this number in it.
            std::process::exit(1)
        }
        Behaviour::Hang => serve_then_hang(),
        Behaviour::Exec => std::process::exit(64),
    }
}
