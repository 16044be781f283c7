//! Timestamps from inside the helpers a strategy runs: when `ps` exited,
//! when `kill()` returned, when `pkill` started scanning. These bound a
//! strategy's race window and exposure (docs/ARCHITECTURE.md), and happen in grandchildren
//! of init (the shell's children), which init cannot otherwise observe.
//!
//! The shim (shim/trace_shim.c, built by build.rs) is handed to helpers as
//! `LD_PRELOAD=/proc/self/fd/N` on a memfd, so nothing is written
//! to disk; its events come back through a pipe init drains after each helper.

use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

/// The fd numbers the shim and its pipe get in every helper.
const SHIM_FD: RawFd = 240;
const TRACE_FD: RawFd = 241;

/// `(source, target)` fds a helper gets.
pub type FdMap = Vec<(RawFd, RawFd)>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TraceKind {
    Start,
    Exit,
    /// `kill(target, signal)`; `delivered` unless it failed (ESRCH).
    Kill {
        target: i32,
        signal: i32,
        delivered: bool,
    },
    /// The program looked process `target` up in /proc (`ps -p`), and
    /// found it (`found`) or not.
    Probe {
        target: i32,
        found: bool,
    },
    /// The process reaped its child `child`, which had died of `signal`.
    Reap {
        child: i32,
        signal: i32,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceEvent {
    pub kind: TraceKind,
    pub pid: i32,
    /// The program's short name (`ps`, `kill`, `pkill`, `sh`).
    pub comm: String,
    pub at: Instant,
    /// When the call began: for a `kill()`, its entry (the number's holder
    /// then is its target); for other events, `at`.
    pub entered: Instant,
}

impl TraceEvent {
    /// A `kill()` made by the program named `comm`.
    pub fn is_kill_by(&self, comm: &str) -> bool {
        self.comm == comm && matches!(self.kind, TraceKind::Kill { .. })
    }
}

pub struct HelperTrace {
    shim: OwnedFd,
    read: OwnedFd,
    write: OwnedFd,
}

impl HelperTrace {
    /// `None` when the shim was not built (no C compiler) or no memfd/pipe.
    pub fn new() -> Option<Self> {
        let bytes = shim_bytes()?;
        let shim =
            rustix::fs::memfd_create("stopbench-trace-shim", rustix::fs::MemfdFlags::CLOEXEC)
                .ok()?;
        rustix::io::write(&shim, bytes)
            .ok()
            .filter(|&n| n == bytes.len())?;
        let (read, write) =
            nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC | nix::fcntl::OFlag::O_NONBLOCK)
                .ok()?;
        // Non-blocking on both ends: a helper never waits on a full pipe (an
        // event would be lost, not the run). 1 MiB holds ~20,000 events,
        // e.g. a pkill that signals thousands of processes.
        let _ = nix::fcntl::fcntl(&write, nix::fcntl::FcntlArg::F_SETPIPE_SZ(1 << 20));
        Some(Self { shim, read, write })
    }

    /// Environment and fds that make a helper load the shim.
    pub fn helper_setup(&self) -> (Vec<(String, String)>, FdMap) {
        (
            vec![
                ("LD_PRELOAD".into(), format!("/proc/self/fd/{SHIM_FD}")),
                ("STOPBENCH_TRACE_FD".into(), TRACE_FD.to_string()),
            ],
            vec![
                (self.shim.as_raw_fd(), SHIM_FD),
                (self.write.as_raw_fd(), TRACE_FD),
            ],
        )
    }

    /// Every event written since the last drain (the helpers have exited,
    /// so their writes are complete).
    pub fn drain(&self) -> Vec<TraceEvent> {
        let bytes = super::wire::read_available(self.read.as_fd());
        let clock = Clock::now();
        String::from_utf8_lossy(&bytes)
            .lines()
            .filter_map(|line| parse(line, &clock))
            .collect()
    }
}

#[cfg(stopbench_shim)]
fn shim_bytes() -> Option<&'static [u8]> {
    Some(include_bytes!(concat!(env!("OUT_DIR"), "/trace_shim.so")))
}

#[cfg(not(stopbench_shim))]
fn shim_bytes() -> Option<&'static [u8]> {
    None
}

/// CLOCK_MONOTONIC (the shim's clock, and what `Instant` uses on Linux)
/// paired with an `Instant` read at the same moment.
struct Clock {
    instant: Instant,
    nanos: u64,
}

impl Clock {
    fn now() -> Self {
        let instant = Instant::now();
        let ts = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC)
            .expect("CLOCK_MONOTONIC is always readable");
        Self {
            instant,
            nanos: ts.tv_sec() as u64 * 1_000_000_000 + ts.tv_nsec() as u64,
        }
    }

    fn instant_of(&self, nanos: u64) -> Instant {
        if nanos <= self.nanos {
            self.instant - Duration::from_nanos(self.nanos - nanos)
        } else {
            self.instant + Duration::from_nanos(nanos - self.nanos)
        }
    }
}

fn parse(line: &str, clock: &Clock) -> Option<TraceEvent> {
    let mut f = line.split(' ');
    let event = f.next()?;
    let pid = f.next()?.parse().ok()?;
    let comm = f.next()?.to_string();
    let target: i64 = f.next()?.parse().ok()?;
    let signal: i64 = f.next()?.parse().ok()?;
    let result: i64 = f.next()?.parse().ok()?;
    let nanos: u64 = f.next()?.parse().ok()?;
    // A kill line ends with its entry; other lines have none.
    let entered: Option<u64> = f.next().and_then(|e| e.parse().ok());
    let kind = match event {
        "start" => TraceKind::Start,
        "exit" => TraceKind::Exit,
        "kill" => TraceKind::Kill {
            target: target as i32,
            signal: signal as i32,
            delivered: result == 0,
        },
        "probe" => TraceKind::Probe {
            target: target as i32,
            found: result == 0,
        },
        "reap" => TraceKind::Reap {
            child: target as i32,
            signal: signal as i32,
        },
        _ => return None,
    };
    Some(TraceEvent {
        kind,
        pid,
        comm,
        at: clock.instant_of(nanos),
        entered: clock.instant_of(entered.unwrap_or(nanos)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_shims_lines() {
        let clock = Clock::now();
        let e = parse(
            &format!("kill 12 kill 40 9 0 {}", clock.nanos - 1_000),
            &clock,
        )
        .unwrap();
        assert_eq!(
            e.kind,
            TraceKind::Kill {
                target: 40,
                signal: 9,
                delivered: true
            }
        );
        assert_eq!(e.comm, "kill");
        assert_eq!(clock.instant - e.at, Duration::from_micros(1));
        assert_eq!(e.entered, e.at);
        let line = format!(
            "kill 12 kill 40 9 0 {} {}",
            clock.nanos - 1_000,
            clock.nanos - 3_000
        );
        let e = parse(&line, &clock).unwrap();
        assert_eq!(e.at - e.entered, Duration::from_micros(2));
        let e = parse("kill 12 kill 40 9 -3 5", &clock).unwrap();
        assert!(matches!(
            e.kind,
            TraceKind::Kill {
                delivered: false,
                ..
            }
        ));
        assert!(parse("exit 7 ps 0 0 0", &clock).is_none());
        let e = parse("reap 12 sh 40 9 0 5", &clock).unwrap();
        assert_eq!(
            e.kind,
            TraceKind::Reap {
                child: 40,
                signal: 9
            }
        );
    }
}
