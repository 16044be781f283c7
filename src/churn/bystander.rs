//! Bystanders: long-lived processes with chosen command lines (`vim
//! /usr/bin/foo_daemon.conf`, a `foo_daemon-helper`) that a strategy must not hit.

use crate::sandbox::spawn::ExecSpec;
use crate::scenario::{BystanderBehaviour, BystanderConfig};
use crate::victim::env;
use std::os::fd::RawFd;

pub(crate) const BEHAVIOUR_KEY: &str = "STOPBENCH_BYSTANDER";

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
    .reporting_failure_to(env::READY_FD)
}

/// A reuse holder: a plain bystander with no ready pipe, started by the reaper.
pub fn reuse_holder_spec(argv: &[String], self_exe: &str) -> ExecSpec {
    let env = vec![
        (env::ROLE.to_string(), "bystander".to_string()),
        (BEHAVIOUR_KEY.to_string(), "plain".to_string()),
    ];
    ExecSpec::new(self_exe, argv, &env, Vec::new())
}

/// Bytes of one oracle report: `(pid, signal, sender, crowd, died)` as i32.
/// Below PIPE_BUF, so each write is atomic among all reporting processes.
const REPORT_LEN: usize = 20;
/// `crowd` of a report from a process of no crowd.
const NO_CROWD: i32 = -1;

/// The crowd this process belongs to (see crowd.rs), for its handler's
/// reports; [`NO_CROWD`] for a lone bystander or the sentinel.
static CROWD: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(NO_CROWD);

/// Makes this process's reports name crowd `index`.
pub(crate) fn join_crowd(index: usize) {
    CROWD.store(index as i32, std::sync::atomic::Ordering::Relaxed);
}

extern "C" fn report_signal(sig: libc::c_int, info: *mut libc::siginfo_t, _: *mut libc::c_void) {
    // SAFETY: the kernel hands a valid siginfo to an SA_SIGINFO handler;
    // getpid, an atomic load and write are async-signal-safe.
    unsafe {
        let crowd = CROWD.load(std::sync::atomic::Ordering::Relaxed);
        let record: [i32; 5] = [libc::getpid(), sig, (*info).si_pid(), crowd, 0];
        libc::write(env::ORACLE_FD, record.as_ptr().cast(), REPORT_LEN);
    }
}

/// Reports that `pid`, a member of crowd `index`, died of `signal`: its
/// keeper reaped it (see crowd.rs), so init's reaper never sees it.
pub(crate) fn report_death(pid: i32, signal: i32, index: usize) {
    let record: [i32; 5] = [pid, signal, 0, index as i32, 1];
    // SAFETY: the record is REPORT_LEN bytes; a short or failed write loses
    // only this report, as a full pipe would.
    unsafe { libc::write(env::ORACLE_FD, record.as_ptr().cast(), REPORT_LEN) };
}

pub(crate) fn catch(sig: libc::c_int) {
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
    .reporting_failure_to(env::READY_FD)
}

/// The sentinel's command line.
pub const SENTINEL_CMDLINE: &str = "stopbench-sentinel";

/// One report of the oracle pipe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OracleReport {
    /// Who caught which signal from whom; `crowd` names a crowd member's
    /// crowd (its command line is the crowd's, its PID unknown to init).
    Caught {
        pid: i32,
        signal: i32,
        sender: i32,
        crowd: Option<usize>,
    },
    /// A crowd member its keeper reaped, dead of `signal`.
    Died { pid: i32, signal: i32, crowd: usize },
}

/// Decodes the oracle pipe's records.
pub fn decode_reports(bytes: &[u8]) -> Vec<OracleReport> {
    bytes
        .chunks_exact(REPORT_LEN)
        .map(|chunk| {
            let field =
                |i: usize| i32::from_ne_bytes(chunk[i * 4..i * 4 + 4].try_into().expect("4 bytes"));
            let crowd = usize::try_from(field(3)).ok();
            match (field(4), crowd) {
                (1, Some(crowd)) => OracleReport::Died {
                    pid: field(0),
                    signal: field(1),
                    crowd,
                },
                _ => OracleReport::Caught {
                    pid: field(0),
                    signal: field(1),
                    sender: field(2),
                    crowd,
                },
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
        for v in [
            42i32,
            libc::SIGTERM,
            7,
            -1,
            0,
            43,
            libc::SIGHUP,
            8,
            2,
            0,
            44,
            9,
            0,
            1,
            1,
        ] {
            bytes.extend_from_slice(&v.to_ne_bytes());
        }
        // A torn tail is ignored, never misread.
        bytes.extend_from_slice(&[1, 2, 3]);
        let got = decode_reports(&bytes);
        assert_eq!(
            got,
            [
                OracleReport::Caught {
                    pid: 42,
                    signal: libc::SIGTERM,
                    sender: 7,
                    crowd: None
                },
                OracleReport::Caught {
                    pid: 43,
                    signal: libc::SIGHUP,
                    sender: 8,
                    crowd: Some(2)
                },
                OracleReport::Died {
                    pid: 44,
                    signal: 9,
                    crowd: 1
                },
            ]
        );
    }
}
