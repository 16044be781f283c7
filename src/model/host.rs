//! A host's own churn, read without touching any process: `pid_max`, the
//! number of PIDs in use (every thread holds one), and the allocation rate,
//! all in one scope: the PID namespace this process runs in, which is the
//! one a stop script on this host signals in.
//!
//! The rate comes from the namespace's allocator itself: the last number it
//! handed out (`/proc/sys/kernel/ns_last_pid`), sampled. Between samples the
//! cursor passes `d` numbers (free ones it allocated, and numbers in use it
//! skipped); a full round of `pid_max − 300` numbers holds `F` free ones, so
//! the allocations are `d · F / (pid_max − 300)` and the wrap time the model
//! needs is `(pid_max − 300) / (d per second)` exactly, whatever the share of
//! numbers in use. The kernel's fork counter (`processes` in /proc/stat)
//! would count the whole machine, every container included, against one
//! namespace's pid_max: not used.

use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::{Duration, Instant};

/// Where a rate was measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChurnScope {
    /// The allocator of the PID namespace that pid_max and the live PIDs
    /// were read in: one scope.
    PidNamespace,
    /// The whole machine's fork counter (observation files written before
    /// scopes were recorded): mixes scopes inside a container.
    #[default]
    Host,
    /// Given on the command line: the user's to vouch for.
    Given,
}

impl ChurnScope {
    pub fn describe(self) -> &'static str {
        match self {
            ChurnScope::PidNamespace => "this PID namespace's allocations",
            ChurnScope::Host => "the whole machine's fork counter",
            ChurnScope::Given => "given",
        }
    }
}

/// What `stopbench observe` writes and `--churn-from` reads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostChurn {
    /// How the numbers were obtained, for reports.
    pub source: String,
    /// Where the rate was measured (absent from older files: the machine).
    #[serde(default)]
    pub scope: ChurnScope,
    pub pid_max: u32,
    /// PIDs in use in the allocator's cycle (numbers of 300 and up, threads
    /// included) at the end of the observation.
    pub live_pids: u32,
    /// Length of each rate sample, seconds.
    pub interval_s: f64,
    /// Allocations per second in each interval, in order.
    pub rates: Vec<f64>,
}

#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error("cannot read `{path}`: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("`{path}`: {message}")]
    Parse { path: String, message: String },
}

fn read(path: &str) -> Result<String, HostError> {
    std::fs::read_to_string(path).map_err(|source| HostError::Read {
        path: path.into(),
        source,
    })
}

/// This PID namespace's `pid_max`.
pub fn pid_max() -> Result<u32, HostError> {
    let path = "/proc/sys/kernel/pid_max";
    read(path)?.trim().parse().map_err(|e| HostError::Parse {
        path: path.into(),
        message: format!("{e}"),
    })
}

/// Tasks alive in this PID namespace (each holds a number) whose numbers
/// are in the allocator's cycle (300 and up; lower ones never come back).
pub fn live_pids() -> Result<u32, HostError> {
    let proc = std::fs::read_dir("/proc").map_err(|source| HostError::Read {
        path: "/proc".into(),
        source,
    })?;
    let mut n = 0u32;
    for entry in proc.flatten() {
        let name = entry.file_name();
        if !name.to_string_lossy().bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        // A process that exits meanwhile has no task directory: skip it.
        if let Ok(tasks) = std::fs::read_dir(entry.path().join("task")) {
            n += tasks
                .flatten()
                .filter(|t| {
                    t.file_name()
                        .to_str()
                        .and_then(|s| s.parse::<u32>().ok())
                        .is_some_and(|tid| tid >= crate::model::risk::RESERVED)
                })
                .count() as u32;
        }
    }
    Ok(n)
}

/// The last number this PID namespace's allocator handed out.
fn ns_last_pid() -> Result<u32, HostError> {
    let path = "/proc/sys/kernel/ns_last_pid";
    read(path)?.trim().parse().map_err(|e| HostError::Parse {
        path: path.into(),
        message: format!("{e}"),
    })
}

/// Numbers the cursor passed from `last` to `now` (it wraps from pid_max to
/// 300), assuming less than one full round in between.
pub fn cursor_advance(last: u32, now: u32, pid_max: u32) -> u64 {
    let reserved = crate::model::risk::RESERVED;
    if now >= last {
        u64::from(now - last)
    } else {
        u64::from(pid_max.saturating_sub(last)) + u64::from(now.saturating_sub(reserved))
    }
}

/// Whether this process runs in a PID namespace below the machine's first
/// (a container): then the machine-wide fork counter is another scope. The
/// first namespace has a fixed inode number (PROC_PID_INIT_INO); a
/// container's /proc cannot tell it otherwise (NSpid lists only the levels
/// its /proc mount sees).
pub fn in_nested_pid_namespace() -> bool {
    const PROC_PID_INIT_INO: &str = "pid:[4026531836]";
    std::fs::read_link("/proc/self/ns/pid")
        .is_ok_and(|link| link.to_string_lossy() != PROC_PID_INIT_INO)
}

impl HostChurn {
    /// The mean fork rate over the observation.
    pub fn fork_rate(&self) -> f64 {
        if self.rates.is_empty() {
            0.0
        } else {
            self.rates.iter().sum::<f64>() / self.rates.len() as f64
        }
    }

    /// The recorded rate at `elapsed` into a replay (the recording loops).
    pub fn rate_at(&self, elapsed: Duration) -> f64 {
        let step = self.interval_s.max(1e-3);
        let i = (elapsed.as_secs_f64() / step) as usize;
        self.rates
            .get(i % self.rates.len().max(1))
            .copied()
            .unwrap_or(0.0)
    }

    /// Spawns a replay asks for over its first `span`.
    pub fn expected_spawns(&self, span: Duration) -> f64 {
        if self.rates.is_empty() {
            return 0.0;
        }
        let step = self.interval_s.max(1e-3);
        let whole = (span.as_secs_f64() / step) as usize;
        let full: f64 = (0..whole)
            .map(|i| self.rates[i % self.rates.len()] * step)
            .sum();
        full + self.rate_at(span) * (span.as_secs_f64() - whole as f64 * step)
    }

    /// A rate given on the command line, with this namespace's pid_max and
    /// live PIDs.
    pub fn given(rate: f64) -> Result<Self, HostError> {
        Ok(Self {
            source: "given".into(),
            scope: ChurnScope::Given,
            pid_max: pid_max()?,
            live_pids: live_pids()?,
            interval_s: 1.0,
            rates: vec![rate],
        })
    }

    /// A short observation, for when none was recorded: a run reads it
    /// before its sandbox starts, so its own churn is left out.
    pub fn brief(period: Duration) -> Result<Self, HostError> {
        let mut obs = Self::observe(period, period / 5, |_| {})?;
        obs.source = format!(
            "{} before the run",
            obs.source.replace("observed", "observed briefly")
        );
        Ok(obs)
    }

    /// Samples this namespace's allocator every `interval` for `period`;
    /// `tick` is called after each sample with the time elapsed (for a
    /// progress bar). Rates are allocations per second (see the module docs).
    pub fn observe(
        period: Duration,
        interval: Duration,
        mut tick: impl FnMut(Duration),
    ) -> Result<Self, HostError> {
        let interval = interval.max(Duration::from_millis(10));
        let pid_max = pid_max()?;
        let live = live_pids()?;
        let cycle = f64::from(pid_max.saturating_sub(crate::model::risk::RESERVED).max(1));
        let free = crate::model::PidSpace { pid_max, live }.free();
        let started = Instant::now();
        let mut last = ns_last_pid()?;
        let mut last_at = started;
        let mut rates = Vec::new();
        let mut next = started + interval;
        while next <= started + period {
            std::thread::sleep(next.saturating_duration_since(Instant::now()));
            let now_pid = ns_last_pid()?;
            let now = Instant::now();
            let dt = now.duration_since(last_at).as_secs_f64();
            let passed = cursor_advance(last, now_pid, pid_max) as f64;
            rates.push(passed * free / cycle / dt);
            (last, last_at) = (now_pid, now);
            next += interval;
            tick(now.duration_since(started));
        }
        Ok(Self {
            source: format!(
                "observed for {} in {} samples",
                crate::scenario::HumanDuration(period),
                rates.len()
            ),
            scope: ChurnScope::PidNamespace,
            pid_max,
            live_pids: live,
            interval_s: interval.as_secs_f64(),
            rates,
        })
    }

    pub fn load(path: &Path) -> Result<Self, HostError> {
        let text = std::fs::read_to_string(path).map_err(|source| HostError::Read {
            path: path.display().to_string(),
            source,
        })?;
        let churn: Self = serde_json::from_str(&text).map_err(|e| HostError::Parse {
            path: path.display().to_string(),
            message: format!("not a `stopbench observe` file: {e}"),
        })?;
        if churn.rates.is_empty() || churn.interval_s <= 0.0 {
            return Err(HostError::Parse {
                path: path.display().to_string(),
                message: "no rate samples".into(),
            });
        }
        Ok(churn)
    }

    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        let json = serde_json::to_string_pretty(self).expect("HostChurn serializes") + "\n";
        std::fs::write(path, json)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replay_loops_the_recorded_rates() {
        let churn = HostChurn {
            source: "test".into(),
            scope: ChurnScope::Given,
            pid_max: 32768,
            live_pids: 100,
            interval_s: 0.5,
            rates: vec![100.0, 300.0],
        };
        assert_eq!(churn.fork_rate(), 200.0);
        assert_eq!(churn.rate_at(Duration::from_millis(600)), 300.0);
        assert_eq!(churn.rate_at(Duration::from_millis(1100)), 100.0);
        // 0.5 s at 100/s + 0.5 s at 300/s + 0.25 s at 100/s.
        let n = churn.expected_spawns(Duration::from_millis(1250));
        assert!((n - 225.0).abs() < 1e-9, "{n}");
    }

    #[test]
    fn reads_this_machines_counters() {
        let brief = HostChurn::brief(Duration::from_millis(100)).unwrap();
        let pid_max: u32 = std::fs::read_to_string("/proc/sys/kernel/pid_max")
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert_eq!(brief.pid_max, pid_max);
        assert!(brief.live_pids > 0);
        // Every task in the allocator's cycle (numbers above the reserved
        // ones) holds a number: `ps -eL`, counted between two of our counts,
        // agrees with them, give or take what other tests start and end
        // meanwhile (their spread widens the margin).
        let before = i64::from(live_pids().unwrap());
        let tasks = std::process::Command::new("ps")
            .args(["-eL", "--no-headers", "-o", "lwp"])
            .output()
            .unwrap();
        let after = i64::from(live_pids().unwrap());
        let tasks = String::from_utf8_lossy(&tasks.stdout)
            .lines()
            .filter_map(|l| l.trim().parse::<u32>().ok())
            .filter(|&tid| tid >= crate::model::risk::RESERVED)
            .count() as i64;
        let margin = 10 + 2 * (before - after).abs() + before.max(after) / 20;
        assert!(
            tasks >= before.min(after) - margin && tasks <= before.max(after) + margin,
            "counted {before} then {after} tasks, ps saw {tasks}"
        );
        assert_eq!(brief.scope, ChurnScope::PidNamespace);
        assert_eq!(brief.rates.len(), 5);
        assert!(brief.source.contains("before the run"), "{}", brief.source);
    }

    #[test]
    fn the_cursor_wraps_to_300() {
        assert_eq!(cursor_advance(1000, 1500, 4096), 500);
        // 4096 - 4000 = 96 to the top, then 300..=400: 100 more.
        assert_eq!(cursor_advance(4000, 400, 4096), 196);
        assert_eq!(cursor_advance(700, 700, 4096), 0);
    }

    #[test]
    fn an_observation_counts_this_namespaces_own_allocations() {
        // Forks of our own during the observation move this namespace's
        // cursor: at least that many allocations are counted. The window is
        // long, so a loaded machine still fits the forks inside it.
        let forks = 20;
        let period = Duration::from_secs(4);
        let obs = std::thread::scope(|s| {
            let observer = s.spawn(|| HostChurn::observe(period, period, |_| {}));
            std::thread::sleep(Duration::from_millis(100));
            let started = std::time::Instant::now();
            for _ in 0..forks {
                std::process::Command::new("true").status().unwrap();
            }
            assert!(
                started.elapsed() < Duration::from_secs(3),
                "forks too slow to judge"
            );
            observer.join().unwrap().unwrap()
        });
        let counted = obs.rates[0] * period.as_secs_f64();
        // The conversion to allocations scales by free/cycle (< 1).
        let cycle = f64::from(obs.pid_max - 300);
        let free = cycle - f64::from(obs.live_pids);
        assert!(counted >= f64::from(forks) * free / cycle * 0.99, "{obs:?}");
    }

    #[test]
    fn observation_samples_at_the_interval_and_round_trips() {
        let mut ticks = 0;
        let obs = HostChurn::observe(
            Duration::from_millis(200),
            Duration::from_millis(50),
            |_| ticks += 1,
        )
        .unwrap();
        assert_eq!(obs.rates.len(), 4);
        assert_eq!(ticks, 4);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("host.json");
        obs.save(&path).unwrap();
        // Exactly: serde_json's float_roundtrip reads back every bit, so a
        // re-rendered run.json is byte for byte the same.
        assert_eq!(HostChurn::load(&path).unwrap(), obs);
        std::fs::write(&path, "{}").unwrap();
        let err = HostChurn::load(&path).unwrap_err().to_string();
        assert!(
            err.contains("host.json") && err.contains("observe"),
            "{err}"
        );
    }
}
