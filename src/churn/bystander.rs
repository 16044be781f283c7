//! Bystanders: long-lived processes with chosen command lines (`vim
//! /usr/bin/foo_daemon.conf`, a `foo_daemon-helper`) that a strategy must not hit.

use crate::oracle::{CaughtSignal, SeenBy};
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

extern "C" fn report_signal(sig: libc::c_int, info: *mut libc::siginfo_t, _: *mut libc::c_void) {
    let sender = unsafe { (*info).si_pid() };
    let record: [i32; 3] = [unsafe { libc::getpid() }, sig, sender];
    // 12 bytes: below PIPE_BUF, so the write is atomic among all bystanders.
    unsafe { libc::write(env::ORACLE_FD, record.as_ptr().cast(), 12) };
}

/// Entry point of a bystander process; never returns.
pub fn main() -> ! {
    if std::env::var(BEHAVIOUR_KEY).as_deref() == Ok("ignore-term") {
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = report_signal as *const () as usize;
            action.sa_flags = libc::SA_SIGINFO | libc::SA_RESTART;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(libc::SIGTERM, &action, std::ptr::null_mut());
        }
    }
    unsafe {
        libc::write(env::READY_FD, b"r".as_ptr().cast(), 1);
        libc::close(env::READY_FD);
    }
    loop {
        unsafe { libc::pause() };
    }
}

/// Decodes the oracle pipe's `(pid, signal, sender)` records.
pub fn decode_reports(bytes: &[u8], lookup: impl Fn(i32) -> Option<String>) -> Vec<CaughtSignal> {
    bytes
        .chunks_exact(12)
        .map(|chunk| {
            let field =
                |i: usize| i32::from_ne_bytes(chunk[i * 4..i * 4 + 4].try_into().expect("4 bytes"));
            let pid = field(0);
            CaughtSignal {
                pid,
                cmdline: lookup(pid).unwrap_or_else(|| format!("[pid {pid}]")),
                role: "bystander",
                signal: field(1),
                seen_by: SeenBy::Handler,
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
        for v in [42i32, libc::SIGTERM, 7, 43, libc::SIGHUP, 7] {
            bytes.extend_from_slice(&v.to_ne_bytes());
        }
        let got = decode_reports(&bytes, |pid| (pid == 42).then(|| "vim x".to_string()));
        assert_eq!(got.len(), 2);
        assert_eq!(
            (got[0].pid, got[0].signal, got[0].cmdline.as_str()),
            (42, libc::SIGTERM, "vim x")
        );
        assert_eq!(got[1].cmdline, "[pid 43]");
    }
}
