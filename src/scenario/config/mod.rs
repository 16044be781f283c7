//! The scenario: what is stopped, under which churn, by which strategies.
//!
//! Every field validates itself while it is deserialized, so a bad value is
//! reported with the toml span (line) and serde path (key) of the value.

use super::duration::HumanDuration;
use super::sweep::Sweep;
use serde::{Deserialize, Deserializer, Serialize};
use std::time::Duration;

mod bounded;
mod churn;
mod name;
mod strategy;
mod user;
mod victim;

use bounded::bounded;
pub use churn::{
    BystanderBehaviour, BystanderConfig, ChurnConfig, CommandLine, CrowdSize, Lifetime, MaxLive,
    Newcomer, Rate, CROWD_MAX,
};
pub use name::ScenarioName;
pub use strategy::{KillMode, Match, StrategyConfig, StrategyKind, UnitForm};
pub use user::RunAs;
pub use victim::{Behaviour, Children, Pidfile, VictimConfig};

/// Lowest `pid_max` the kernel accepts (it reserves PIDs up to 300).
pub const PID_MAX_MIN: u32 = 301;
/// Highest `pid_max` on Linux (`PID_MAX_LIMIT` on 64-bit).
pub const PID_MAX_MAX: u32 = 4_194_304;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub name: ScenarioName,
    #[serde(default)]
    pub description: String,
    /// Trials per strategy.
    #[serde(default = "default_trials")]
    pub trials: Trials,
    /// Seed for the trial order and churn lifetimes, so a run can be repeated.
    #[serde(default)]
    pub seed: u64,
    /// Unrecorded rounds before the first recorded one: they warm the
    /// helpers' first exec, the page cache and a container, whose costs would
    /// otherwise land in the first trials' latencies.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub warmup: Warmup,
    /// Stop early, once every strategy's misfire rate is known this
    /// precisely: the width of its 95% interval (upper less lower bound) at
    /// most this share. `trials` is then the maximum.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until_precision: Option<Precision>,
    #[serde(default)]
    pub sandbox: SandboxConfig,
    #[serde(default)]
    pub churn: ChurnConfig,
    pub victim: VictimConfig,
    #[serde(rename = "strategy")]
    pub strategies: Vec<StrategyConfig>,
    #[serde(default)]
    pub limits: Limits,
}

fn default_trials() -> Trials {
    Trials(20)
}

/// Warm-up rounds: at most ten thousand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Warmup(pub u32);

impl<'de> Deserialize<'de> for Warmup {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        bounded(deserializer, "warmup", 0, 10_000, "").map(Self)
    }
}

fn is_zero(w: &Warmup) -> bool {
    w.0 == 0
}

/// A share in (0, 1): a number (`0.05`) or a percentage (`"5%"`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Precision(pub f64);

impl Precision {
    const WHY: &'static str = "until_precision is the 95% interval's width to reach, between \
                               0.001 and 1 (or \"0.1%\" to \"99%\")";

    fn checked(v: Option<f64>) -> Result<Self, &'static str> {
        match v {
            // Below 0.1% even "0 in N" needs thousands of trials per point.
            Some(v) if (0.001..1.0).contains(&v) => Ok(Self(v)),
            _ => Err(Self::WHY),
        }
    }

    /// `0.05` or `5%`.
    pub fn parse(text: &str) -> Result<Self, &'static str> {
        let text = text.trim();
        Self::checked(match text.strip_suffix('%') {
            Some(n) => n.trim().parse::<f64>().ok().map(|n| n / 100.0),
            None => text.parse().ok(),
        })
    }
}

impl<'de> Deserialize<'de> for Precision {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(f64),
            Text(String),
        }
        match Raw::deserialize(deserializer)? {
            Raw::Number(n) => Self::checked(Some(n)),
            Raw::Text(t) => Self::parse(&t),
        }
        .map_err(serde::de::Error::custom)
    }
}

/// Trials per strategy: at least one, at most a million.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Trials(pub u32);

impl<'de> Deserialize<'de> for Trials {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        bounded(deserializer, "trials", 1, 1_000_000, "").map(Self)
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SandboxConfig {
    /// `pid_max` of the sandbox's PID namespace (Linux 6.14+). Small values make
    /// the allocator wrap, and numbers come back, within milliseconds.
    /// A list of values makes a sweep: one run per value.
    #[serde(default)]
    pub pid_max: Option<Sweep<PidMax>>,
    /// Which prepared root the `systemd` strategy boots: the host's own
    /// Debian release (systemd 252 on Debian 12), or `trixie` (Debian 13,
    /// systemd 257, which holds the main process by pidfd).
    #[serde(default)]
    pub systemd_root: SystemdRoot,
    /// Host paths shown inside the sandboxed systemd's container, for a
    /// daemon of the host's own (`stopbench service`): a file read-only,
    /// a directory as an overlay whose writes are discarded with the
    /// container (its logs, its state), so the host is never changed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub visible: Vec<std::path::PathBuf>,
}

/// A container root prepared by scripts/setup-systemd.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SystemdRoot {
    /// The host's release (`scripts/setup-systemd`).
    #[default]
    Host,
    /// Debian 13 (`scripts/setup-systemd --trixie`).
    Trixie,
}

impl SystemdRoot {
    pub fn name(self) -> &'static str {
        match self {
            SystemdRoot::Host => "host",
            SystemdRoot::Trixie => "trixie",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PidMax(pub u32);

impl<'de> Deserialize<'de> for PidMax {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        bounded(
            deserializer,
            "pid_max",
            PID_MAX_MIN,
            PID_MAX_MAX,
            " (the kernel reserves PIDs up to 300)",
        )
        .map(Self)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// The whole run (churn included) ends after this long, finished or not.
    #[serde(default = "default_max_duration")]
    pub max_duration: HumanDuration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_duration: default_max_duration(),
        }
    }
}

fn default_max_duration() -> HumanDuration {
    HumanDuration(Duration::from_secs(30 * 60))
}

/// The parameter a sweep varies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SweepParameter {
    #[serde(rename = "churn.rate")]
    ChurnRate,
    #[serde(rename = "sandbox.pid_max")]
    PidMax,
    /// Both lists: every pid_max with every rate.
    #[serde(rename = "sandbox.pid_max x churn.rate")]
    Grid,
    /// A bystander line's `count`: the number of processes in the sandbox.
    #[serde(rename = "churn.bystanders.count")]
    Processes,
}

impl SweepParameter {
    pub fn key(self) -> &'static str {
        match self {
            SweepParameter::ChurnRate => "churn.rate",
            SweepParameter::PidMax => "sandbox.pid_max",
            SweepParameter::Grid => "sandbox.pid_max x churn.rate",
            SweepParameter::Processes => "churn.bystanders.count",
        }
    }
}

/// One run of a sweep.
#[derive(Debug, Clone)]
pub struct SweepPoint {
    /// Directory name, e.g. `rate-1000`, `rate-max`, `pid_max-4096`.
    pub label: String,
    /// The value as people read it: `1000/s`, `max`, `4096`.
    pub value: String,
    pub scenario: Scenario,
}

impl Scenario {
    /// The points of a sweep, or `None` for a single run.
    pub fn sweep(&self) -> Option<(SweepParameter, Vec<SweepPoint>)> {
        let pid_max_sweep = self.sandbox.pid_max.as_ref().filter(|p| p.is_sweep());
        if let (true, Some(pid_max)) = (self.churn.rate.is_sweep(), pid_max_sweep) {
            let mut points = Vec::new();
            for p in pid_max.values() {
                let mut by_pid_max = self.clone();
                by_pid_max.sandbox.pid_max = Some(Sweep::One(p));
                let (_, rates) = by_pid_max.sweep().expect("rate still sweeps");
                for point in rates {
                    points.push(SweepPoint {
                        label: format!("pid_max-{}-{}", p.0, point.label),
                        value: format!("pid_max {}, {}", p.0, point.value),
                        scenario: point.scenario,
                    });
                }
            }
            return Some((SweepParameter::Grid, points));
        }
        if let Some(i) = self
            .churn
            .bystanders
            .iter()
            .position(|b| b.count.is_sweep())
        {
            let points = self.churn.bystanders[i]
                .count
                .values()
                .into_iter()
                .map(|count| {
                    let mut scenario = self.clone();
                    scenario.churn.bystanders[i].count = Sweep::One(count);
                    SweepPoint {
                        label: format!("count-{}", count.0),
                        value: count.0.to_string(),
                        scenario,
                    }
                })
                .collect();
            return Some((SweepParameter::Processes, points));
        }
        if self.churn.rate.is_sweep() {
            let points = self
                .churn
                .rate
                .values()
                .into_iter()
                .map(|rate| {
                    let mut scenario = self.clone();
                    scenario.churn.rate = Sweep::One(rate);
                    let label = match rate {
                        Rate::Off => "rate-0".to_string(),
                        Rate::PerSecond(r) => format!("rate-{r}"),
                        Rate::Max => "rate-max".to_string(),
                    };
                    SweepPoint {
                        label,
                        value: rate.to_string(),
                        scenario,
                    }
                })
                .collect();
            return Some((SweepParameter::ChurnRate, points));
        }
        let pid_max = self.sandbox.pid_max.as_ref().filter(|p| p.is_sweep())?;
        let points = pid_max
            .values()
            .into_iter()
            .map(|p| {
                let mut scenario = self.clone();
                scenario.sandbox.pid_max = Some(Sweep::One(p));
                SweepPoint {
                    label: format!("pid_max-{}", p.0),
                    value: p.0.to_string(),
                    scenario,
                }
            })
            .collect();
        Some((SweepParameter::PidMax, points))
    }
}
