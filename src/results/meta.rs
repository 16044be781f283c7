//! `run.json`: everything needed to interpret a run later: the scenario,
//! the machine, the sandbox as built, the churn achieved, and the summary.

use crate::churn::ChurnReport;
use crate::report::summary::SummaryRow;
use crate::sandbox::SandboxFacts;
use crate::scenario::Scenario;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunMeta {
    pub stopbench_version: String,
    pub scenario: Scenario,
    pub machine: Machine,
    pub sandbox: Option<SandboxFacts>,
    pub churn: Option<ChurnReport>,
    pub started_unix: u64,
    pub finished_unix: u64,
    /// Why the run ended before all trials ran (interrupt, deadline, failure).
    pub incomplete: Option<String>,
    pub warnings: Vec<String>,
    /// When `systemd` strategies ran beside others: the sandboxed systemd's
    /// side of the run (`sandbox` and `churn` above are the other side's).
    #[serde(default)]
    pub systemd: Option<SystemdPart>,
    /// The machine's floors (scripts/floors.sh) this run was measured
    /// against, when a calibration exists: reports/floors.json or $STOPBENCH_FLOORS.
    #[serde(default)]
    pub floors: Option<serde_json::Value>,
    /// Strategies this machine could not run, and why.
    #[serde(default)]
    pub unavailable: Vec<Unavailable>,
    /// The host's own churn, against which the report states production
    /// risk: the replayed observation, or the average since boot.
    #[serde(default)]
    pub host: Option<crate::model::HostChurn>,
    /// The summary, as in summary.csv (derived from trials.csv on every render).
    #[serde(default)]
    pub strategies: Vec<SummaryRow>,
}

/// A strategy left out of a run because the machine cannot support it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Unavailable {
    pub strategy: String,
    pub reason: String,
}

/// The sandbox facts and churn of the part of a run inside a sandboxed systemd.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SystemdPart {
    pub sandbox: Option<SandboxFacts>,
    pub churn: Option<ChurnReport>,
}
