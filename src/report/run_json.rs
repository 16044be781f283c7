//! `run.json`: everything needed to interpret a run later: the scenario,
//! the machine, the sandbox as built, the churn achieved, and the summary.

use crate::churn::ChurnReport;
use crate::sandbox::SandboxFacts;
use crate::scenario::Scenario;
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub kernel: String,
    pub cores: usize,
    /// The host's own pid_max (the sandbox's is in `sandbox`).
    pub host_pid_max: Option<u32>,
    pub uid: u32,
}

impl Machine {
    pub fn read() -> Self {
        Self {
            kernel: crate::sandbox::namespace::kernel_release(),
            cores: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            host_pid_max: std::fs::read_to_string("/proc/sys/kernel/pid_max")
                .ok()
                .and_then(|t| t.trim().parse().ok()),
            uid: nix::unistd::geteuid().as_raw(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct StrategySummary {
    pub strategy: String,
    pub trials: u64,
    pub exited: u64,
    pub killed: u64,
    pub survived: u64,
    pub errors: u64,
    pub misfires: u64,
    pub misfired_trials: u64,
    pub misfire_rate: f64,
    pub misfire_rate_lo95: f64,
    pub misfire_rate_hi95: f64,
    pub leaks: u64,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub max_ms: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RunJson<'a> {
    pub stopbench_version: &'static str,
    pub scenario: &'a Scenario,
    pub machine: Machine,
    pub sandbox: Option<SandboxFacts>,
    pub churn: Option<ChurnReport>,
    pub started_unix: u64,
    pub finished_unix: u64,
    /// Why the run ended before all trials ran (interrupt, deadline, failure).
    pub incomplete: Option<String>,
    pub warnings: Vec<String>,
    pub strategies: Vec<StrategySummary>,
}

impl StrategySummary {
    pub fn from_stats(s: &crate::measure::StrategyStats) -> Self {
        let (rate, lo, hi) = s.misfire_rate();
        let ms = |d: Option<std::time::Duration>| d.map(|d| d.as_secs_f64() * 1000.0);
        Self {
            strategy: s.strategy.clone(),
            trials: s.trials,
            exited: s.exited,
            killed: s.killed,
            survived: s.survived,
            errors: s.errors,
            misfires: s.misfires,
            misfired_trials: s.misfired_trials,
            misfire_rate: rate,
            misfire_rate_lo95: lo,
            misfire_rate_hi95: hi,
            leaks: s.leaks,
            p50_ms: ms(s.latency_at(0.5)),
            p99_ms: ms(s.latency_at(0.99)),
            max_ms: ms(s.latency_max()),
        }
    }
}
