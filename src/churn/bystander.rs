//! Bystanders: long-lived processes with chosen command lines (`vim
//! /usr/bin/foo_daemon.conf`, a `foo_daemon-helper`) that a strategy must not hit.

use crate::sandbox::spawn::ExecSpec;
use crate::scenario::{BystanderBehaviour, BystanderConfig};
use crate::victim::env;
use std::os::fd::RawFd;

const BEHAVIOUR_KEY: &str = "STOPBENCH_BYSTANDER";

pub fn exec_spec(
    config: &BystanderConfig,
    self_exe: &str,
    ready_fd: RawFd,
    oracle_fd: RawFd,
) -> ExecSpec {
    let behaviour = match config.behaviour {
        BystanderBehaviour::IgnoreTerm => "ignore-term",
        _ => "plain",
    };
    let env = vec![
        (env::ROLE.to_string(), "bystander".to_string()),
        (BEHAVIOUR_KEY.to_string(), behaviour.to_string()),
    ];
    ExecSpec::new(
        self_exe,
        &config.command.0,
        &env,
        vec![(ready_fd, env::READY_FD), (oracle_fd, env::ORACLE_FD)],
    )
}

/// A reuse holder: a plain bystander with no ready pipe, started by the reaper.
pub fn reuse_holder_spec(argv: &[String], self_exe: &str) -> ExecSpec {
    let env = vec![
        (env::ROLE.to_string(), "bystander".to_string()),
        (BEHAVIOUR_KEY.to_string(), "plain".to_string()),
    ];
    ExecSpec::new(self_exe, argv, &env, Vec::new())
}

/// Bytes of one handler report: `(pid, signal, sender)` as i32. Below
/// PIPE_BUF, so each write is atomic among all reporting processes.
const REPORT_LEN: usize = 12;

extern "C" fn report_signal(sig: libc::c_int, info: *mut libc::siginfo_t, _: *mut libc::c_void) {
    // SAFETY: the kernel hands a valid siginfo to an SA_SIGINFO handler;
    // getpid and write are async-signal-safe.
    unsafe {
        let record: [i32; 3] = [libc::getpid(), sig, (*info).si_pid()];
        libc::write(env::ORACLE_FD, record.as_ptr().cast(), REPORT_LEN);
    }
}

fn catch(sig: libc::c_int) {
    // SAFETY: a zeroed sigaction is valid, and it installs a handler that
    // only makes async-signal-safe calls. libc, not nix: the sentinel also
    // catches real-time signals, which nix's Signal cannot name.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = report_signal as *const () as usize;
        action.sa_flags = libc::SA_SIGINFO | libc::SA_RESTART;
        libc::sigemptyset(&mut action.sa_mask);
        libc::sigaction(sig, &action, std::ptr::null_mut());
    }
}

/// Entry point of a bystander process; never returns.
pub fn main() -> ! {
    match std::env::var(BEHAVIOUR_KEY).as_deref() {
        Ok("ignore-term") => catch(libc::SIGTERM),
        // The sentinel catches every signal that can be caught (sigaction
        // refuses SIGKILL, SIGSTOP and the C library's reserved ones).
        Ok("sentinel") => (1..=libc::SIGRTMAX()).for_each(catch),
        _ => {}
    }
    env::report_ready();
    loop {
        nix::unistd::pause();
    }
}

/// The sentinel: a process of init's that no strategy addresses (it is
/// long-lived, so never the holder of a recycled number, and its command
/// line names no daemon) and that catches every signal with its sender. A
/// signal it receives from outside the strategy's helpers was broadcast by
/// the victim (`kill -1`), which is how the oracle tells the victim's own
/// signals from the strategy's misfires.
pub fn sentinel_spec(self_exe: &str, ready_fd: RawFd, oracle_fd: RawFd) -> ExecSpec {
    let env = vec![
        (env::ROLE.to_string(), "bystander".to_string()),
        (BEHAVIOUR_KEY.to_string(), "sentinel".to_string()),
    ];
    ExecSpec::new(
        self_exe,
        &[SENTINEL_CMDLINE.to_string()],
        &env,
        vec![(ready_fd, env::READY_FD), (oracle_fd, env::ORACLE_FD)],
    )
}

/// The sentinel's command line.
pub const SENTINEL_CMDLINE: &str = "stopbench-sentinel";

/// One handler report: who caught which signal from whom.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HandlerReport {
    pub pid: i32,
    pub signal: i32,
    pub sender: i32,
}

/// Decodes the oracle pipe's records.
pub fn decode_reports(bytes: &[u8]) -> Vec<HandlerReport> {
    bytes
        .chunks_exact(REPORT_LEN)
        .map(|chunk| {
            let field =
                |i: usize| i32::from_ne_bytes(chunk[i * 4..i * 4 + 4].try_into().expect("4 bytes"));
            HandlerReport {
                pid: field(0),
                signal: field(1),
                sender: field(2),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_reports() {
        let mut bytes = Vec::new();
        for v in [42i32, libc::SIGTERM, 7, 43, libc::SIGHUP, 8] {
            bytes.extend_from_slice(&v.to_ne_bytes());
        }
        // A torn tail is ignored, never misread.
        bytes.extend_from_slice(&[1, 2, 3]);
        let got = decode_reports(&bytes);
        assert_eq!(
            got,
            [
                HandlerReport {
                    pid: 42,
                    signal: libc::SIGTERM,
                    sender: 7
                },
                HandlerReport {
                    pid: 43,
                    signal: libc::SIGHUP,
                    sender: 8
                },
            ]
        );
    }
}
