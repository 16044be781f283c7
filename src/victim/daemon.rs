//! The simulated daemons: our own binary re-executed under the victim's
//! command line (so `pkill -f` sees exactly what the scenario names), with
//! the behaviour chosen by environment variables, which `pkill -f` does not see.

use super::env;
use crate::scenario::Behaviour;
use std::sync::atomic::{AtomicBool, Ordering};

static STOP_REQUESTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_term(_: libc::c_int) {
    STOP_REQUESTED.store(true, Ordering::SeqCst);
}

extern "C" fn ignore_term(_: libc::c_int) {
    // The seed's `trap "echo Ignoring TERM" TERM`; stdout is /dev/null.
    let msg = b"Ignoring TERM\n";
    unsafe { libc::write(1, msg.as_ptr().cast(), msg.len()) };
}

fn set_handler(sig: libc::c_int, handler: libc::sighandler_t) {
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = handler;
        action.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut action.sa_mask);
        libc::sigaction(sig, &action, std::ptr::null_mut());
    }
}

fn signal_ready() {
    if let Ok(socket) = std::env::var("NOTIFY_SOCKET") {
        // Under systemd (Type=notify), readiness goes to the manager instead.
        notify_ready(&socket);
        return;
    }
    unsafe {
        libc::write(env::READY_FD, b"r".as_ptr().cast(), 1);
        libc::close(env::READY_FD);
    }
}

/// sd_notify("READY=1") without libsystemd: one datagram to $NOTIFY_SOCKET.
fn notify_ready(socket: &str) {
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
        let _ = sock.send_to_addr(b"READY=1", &addr);
    }
}

/// Sleeps until SIGTERM's handler has run (sigsuspend: no lost wake-up).
fn wait_for_term() {
    unsafe {
        let mut block: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut block);
        libc::sigaddset(&mut block, libc::SIGTERM);
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigprocmask(libc::SIG_BLOCK, &block, &mut old);
        libc::sigdelset(&mut old, libc::SIGTERM);
        while !STOP_REQUESTED.load(Ordering::SeqCst) {
            libc::sigsuspend(&old);
        }
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
        unsafe { libc::pause() };
    }
}

/// Entry point of a victim process; never returns.
pub fn main() -> ! {
    let behaviour = env::behaviour();
    match behaviour {
        Behaviour::ExitOnTerm | Behaviour::Stopped => {
            set_handler(libc::SIGTERM, on_term as *const () as usize);
            serve_until_term()
        }
        Behaviour::IgnoreTerm => {
            set_handler(libc::SIGTERM, ignore_term as *const () as usize);
            signal_ready();
            sleep_forever()
        }
        Behaviour::ForkChildren => {
            // Children inherit SIG_IGN; the parent installs its handler after
            // forking, so no child can be caught without its disposition.
            set_handler(libc::SIGTERM, libc::SIG_IGN);
            for _ in 0..env::count(env::CHILDREN) {
                match unsafe { libc::fork() } {
                    0 => {
                        unsafe { libc::close(env::READY_FD) };
                        sleep_forever()
                    }
                    pid if pid < 0 => std::process::exit(70),
                    _ => {}
                }
            }
            set_handler(libc::SIGTERM, on_term as *const () as usize);
            serve_until_term()
        }
        Behaviour::ExitEarly => {
            signal_ready();
            std::thread::sleep(env::duration(env::EXIT_AFTER));
            // A crash: the pidfile stays behind with this number in it.
            std::process::exit(1)
        }
        Behaviour::Exec => std::process::exit(64),
    }
}
