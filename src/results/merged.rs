//! run.json's record of a merged run: the hosts it pools, each with its own
//! machine, load and churn, so the report can set every host beside the
//! pool and project a fleet-year from each host's own observation.

use super::{Machine, MachineLoad};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Merged {
    /// In the order merged.
    pub hosts: Vec<HostRun>,
    /// The hosts ran different kernels (allowed with `merge --allow-kernels`).
    pub kernels_differ: bool,
    /// Stops of the service per host per day, for the fleet-year projection.
    pub stops_per_day: f64,
}

/// One host's run, as it went into the merge.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HostRun {
    pub host: String,
    pub machine: Machine,
    pub load: Option<MachineLoad>,
    /// The host's own churn (its replayed observation or brief sample).
    pub host_churn: Option<crate::model::HostChurn>,
    pub achieved_churn: Option<f64>,
    pub started_unix: u64,
    pub finished_unix: u64,
    pub incomplete: Option<String>,
    pub warnings: Vec<String>,
    /// Its own run directory, inside the merged one.
    pub dir: String,
}
