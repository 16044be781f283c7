//! The PID-churn generator: short-lived churners at a target rate, so that
//! the PID allocator moves on (and, with a small pid_max, wraps) while stops
//! run. Bounded by rate, by `max_live` and by the run's deadline.

use crate::sandbox::inside::Inside;
use crate::sandbox::spawn::ChildAction;
use crate::sandbox::table::Role;
use crate::scenario::{ChurnConfig, Rate};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What the generator achieved.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ChurnReport {
    pub target: String,
    pub spawned: u64,
    pub failed_spawns: u64,
    pub seconds: f64,
    pub achieved_rate: f64,
    /// Times the generator waited because `max_live` churners were alive.
    pub throttled_by_max_live: u64,
    /// Time between the first two wraps of the PID allocator (seen as a
    /// churner PID lower than the one before): how long a number takes to
    /// come back under this churn.
    #[serde(default)]
    pub first_reuse_after_ms: Option<f64>,
    /// With a replayed host recording: the spawns per second the recording
    /// asked for over this run's length (compare with `achieved_rate`).
    #[serde(default)]
    pub replay_target_rate: Option<f64>,
    /// Mean PIDs in use in the sandbox's allocator cycle (churners, init's
    /// threads, bystanders), sampled at each trial's start.
    #[serde(default)]
    pub held_pids: Option<f64>,
    /// Forced reuse: from the victim's reaping to its number's new holder
    /// existing, median and count (filled in by the sandbox init).
    #[serde(default)]
    pub forced_reuse_p50_us: Option<f64>,
    #[serde(default)]
    pub forced_reuses: u64,
    /// One scan of the sandbox's /proc as `pgrep -f` makes it (list it,
    /// read every command line), in direct system calls, median of three,
    /// at the end of the trials: the floor under every tool that finds
    /// processes by name (see procfs::scan_floor).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proc_scan_us: Option<f64>,
    /// The processes that scan saw.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub processes: Option<u64>,
}

/// Starts one churner: a light one (shared memory, own small stack) where
/// the platform allows, else a fork. Registered under the table lock, so the
/// reaper always knows it.
fn spawn_churner(inside: &Inside, lifetime: Duration, cmdline: &Arc<str>) -> std::io::Result<i32> {
    match inside
        .shared
        .table
        .lock()
        .start_light_churner(lifetime, cmdline)
    {
        Some(Err(e)) if e.kind() != std::io::ErrorKind::Unsupported => return Err(e),
        Some(Ok(pid)) => return Ok(pid),
        _ => {}
    }
    inside
        .spawn(
            &ChildAction::Sleep(lifetime),
            Role::Churner,
            cmdline.clone(),
            false,
        )
        .map(|c| c.pid)
}

/// When the next churner is due: at the scenario's rate, or at the rate a
/// recording had at this point of the run.
struct Pacer<'r> {
    replay: Option<&'r crate::model::HostChurn>,
    /// `None`: as fast as possible.
    interval: Option<Duration>,
    start: Instant,
    next: Instant,
}

impl Pacer<'_> {
    /// Sleeps until the next churner is due. `false` when a recording asks
    /// for none at this moment (an interval with no forks recorded).
    fn wait(&mut self) -> bool {
        if let Some(replay) = self.replay {
            let rate = replay.rate_at(self.next.saturating_duration_since(self.start));
            if rate <= 0.0 {
                self.next += Duration::from_millis(1);
                std::thread::sleep(self.next.saturating_duration_since(Instant::now()));
                return false;
            }
            self.interval = Some(Duration::from_secs_f64(1.0 / rate));
        }
        if let Some(interval) = self.interval {
            let now = Instant::now();
            if self.next > now {
                std::thread::sleep(self.next - now);
            } else if now - self.next > Duration::from_millis(100) {
                self.next = now; // fell behind: do not burst to catch up
            }
            self.next += interval;
        }
        true
    }
}

/// The allocator wrapped when a PID is lower than the last; the time
/// between the first two wraps is the PID space's cycle.
#[derive(Default)]
struct Wraps {
    last_pid: Option<i32>,
    first_wrap: Option<Instant>,
}

impl Wraps {
    fn saw(&mut self, pid: i32, report: &mut ChurnReport) {
        if self.last_pid.is_some_and(|l| pid < l) {
            match self.first_wrap {
                None => self.first_wrap = Some(Instant::now()),
                Some(at) if report.first_reuse_after_ms.is_none() => {
                    report.first_reuse_after_ms = Some(at.elapsed().as_secs_f64() * 1000.0);
                }
                _ => {}
            }
        }
        self.last_pid = Some(pid);
    }
}

/// Runs the generator until `stop` is set or `deadline` passes.
pub fn run(
    inside: Arc<Inside>,
    config: ChurnConfig,
    seed: u64,
    stop: Arc<AtomicBool>,
    deadline: Instant,
) -> ChurnReport {
    let mut report = ChurnReport {
        target: config.rate.one().to_string(),
        ..Default::default()
    };
    let replay = config.replay.as_ref().filter(|r| !r.rates.is_empty());
    let interval = match (replay, config.rate.one()) {
        (Some(_), _) => Some(Duration::ZERO),
        (None, Rate::Off) => return report,
        (None, Rate::PerSecond(rate)) => Some(Duration::from_secs_f64(1.0 / rate)),
        (None, Rate::Max) => None,
    };
    let mut rng = StdRng::seed_from_u64(seed ^ 0xC4_u64);
    // One stack per churner that may be alive at once.
    inside
        .shared
        .table
        .lock()
        .reserve_churner_stacks(config.max_live.0 as usize);
    // Churners are forks of init: this is what `pkill -f` sees of them.
    let cmdline: Arc<str> = crate::sandbox::procfs::cmdline(std::process::id() as i32).into();
    let start = Instant::now();
    let mut pacer = Pacer {
        replay,
        interval,
        start,
        next: start,
    };
    let mut wraps = Wraps::default();
    while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
        if !pacer.wait() {
            continue;
        }
        {
            let mut table = inside.shared.table.lock();
            if table.live_churners() >= config.max_live.0 {
                report.throttled_by_max_live += 1;
                inside
                    .shared
                    .changed
                    .wait_for(&mut table, Duration::from_millis(5));
                continue;
            }
        }
        let lifetime = if config.lifetime.min == config.lifetime.max {
            config.lifetime.min.0
        } else {
            rng.random_range(config.lifetime.min.0..=config.lifetime.max.0)
        };
        match spawn_churner(&inside, lifetime, &cmdline) {
            Ok(pid) => {
                report.spawned += 1;
                wraps.saw(pid, &mut report);
            }
            Err(_) => {
                report.failed_spawns += 1;
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }
    report.seconds = start.elapsed().as_secs_f64();
    if let Some(replay) = replay {
        let asked = replay.expected_spawns(start.elapsed());
        report.replay_target_rate = Some(asked / report.seconds.max(1e-9));
        report.target = format!("replay ({})", replay.source);
    }
    report.achieved_rate = if report.seconds > 0.0 {
        report.spawned as f64 / report.seconds
    } else {
        0.0
    };
    report
}
