//! A host's own churn, read without touching any process: `pid_max`, the
//! number of PIDs in use (every thread holds one), and the fork rate from
//! the kernel's fork counter (`processes` in /proc/stat, which counts every
//! clone: processes and threads alike, so every allocated number).

use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::{Duration, Instant};

/// What `stopbench observe` writes and `--churn-from` reads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostChurn {
    /// How the numbers were obtained, for reports.
    pub source: String,
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

/// The kernel's fork counter and boot time from /proc/stat.
fn proc_stat() -> Result<(u64, u64), HostError> {
    let path = "/proc/stat";
    let text = read(path)?;
    let field = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key)?.trim().parse::<u64>().ok())
            .ok_or_else(|| HostError::Parse {
                path: path.into(),
                message: format!("no `{}` line", key.trim()),
            })
    };
    Ok((field("processes ")?, field("btime ")?))
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

    /// The average since boot: free, instant, and a fair default when no
    /// observation was made (but it includes any churn stopbench itself made).
    pub fn since_boot() -> Result<Self, HostError> {
        let (forks, btime) = proc_stat()?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let up = now.saturating_sub(btime).max(1) as f64;
        Ok(Self {
            source: format!("average since boot ({:.1} h)", up / 3600.0),
            pid_max: pid_max()?,
            live_pids: live_pids()?,
            interval_s: up,
            rates: vec![forks as f64 / up],
        })
    }

    /// Samples the fork counter every `interval` for `period`; `tick` is
    /// called after each sample with the time elapsed (for a progress bar).
    pub fn observe(
        period: Duration,
        interval: Duration,
        mut tick: impl FnMut(Duration),
    ) -> Result<Self, HostError> {
        let interval = interval.max(Duration::from_millis(10));
        let started = Instant::now();
        let (mut last, _) = proc_stat()?;
        let mut last_at = started;
        let mut rates = Vec::new();
        let mut next = started + interval;
        while next <= started + period {
            std::thread::sleep(next.saturating_duration_since(Instant::now()));
            let (now_forks, _) = proc_stat()?;
            let now = Instant::now();
            let dt = now.duration_since(last_at).as_secs_f64();
            rates.push(now_forks.saturating_sub(last) as f64 / dt);
            (last, last_at) = (now_forks, now);
            next += interval;
            tick(now.duration_since(started));
        }
        Ok(Self {
            source: format!(
                "observed for {} in {} samples",
                crate::scenario::HumanDuration(period),
                rates.len()
            ),
            pid_max: pid_max()?,
            live_pids: live_pids()?,
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
        let boot = HostChurn::since_boot().unwrap();
        assert!(boot.pid_max >= 301);
        // Counted, and necessarily fewer than the cycle holds.
        assert!(boot.live_pids < boot.pid_max);
        assert!(boot.fork_rate() > 0.0);
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
