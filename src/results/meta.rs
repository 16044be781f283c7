//! `run.json`: everything needed to interpret a run later: the scenario,
//! the machine, the sandbox as built, the churn achieved, and the summary.

use crate::churn::ChurnReport;
use crate::report::summary::SummaryRow;
use crate::sandbox::SandboxFacts;
use crate::scenario::Scenario;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Machine {
    /// The host's name in a merged report: `$STOPBENCH_HOST` (what `run
    /// --host` sets) or the hostname.
    #[serde(default)]
    pub host: String,
    pub kernel: String,
    pub cores: usize,
    /// The host's own pid_max (the sandbox's is in `sandbox`).
    pub host_pid_max: Option<u32>,
    pub uid: u32,
}

impl Machine {
    pub fn read() -> Self {
        Self {
            host: host_name(),
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

/// `$STOPBENCH_HOST`, or the kernel's hostname.
pub fn host_name() -> String {
    std::env::var("STOPBENCH_HOST")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .ok()
                .map(|h| h.trim().to_string())
        })
        .unwrap_or_else(|| "localhost".into())
}

/// How much of the machine other work took while the run went on. Counts
/// are exact on a busy machine; latencies are longer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MachineLoad {
    /// The 1-minute load average when the run started, before it added its own.
    pub load_at_start: f64,
    /// The share of all cores' time (0-1) busy outside this run's own
    /// processes while it ran: /proc/stat's busy time less this process
    /// tree's CPU time. `None` beside a real systemd, whose container's work
    /// is the run's but not this process tree's.
    pub others_share: Option<f64>,
    /// Other work competed for the CPU: its share, or where that is not
    /// measured, the load average; or the hypervisor took time (steal); or
    /// another stopbench run was going on.
    pub busy: bool,
    /// The share of all cores' time the hypervisor gave to other guests
    /// (/proc/stat's steal) while the run went on.
    #[serde(default)]
    pub steal_share: Option<f64>,
    /// Other stopbench runs in progress on this machine when the run started
    /// or ended, as `PID: command line`: they compete for the same CPUs.
    #[serde(default)]
    pub other_runs: Vec<String>,
}

/// The machine's counters at the start of a run, to tell at its end how busy
/// other work kept it.
pub struct LoadProbe {
    load: f64,
    stat: Option<CpuSeconds>,
    own: f64,
    others: Vec<String>,
}

/// All cores' time since boot, in seconds, from /proc/stat.
#[derive(Clone, Copy)]
struct CpuSeconds {
    busy: f64,
    total: f64,
    steal: f64,
}

/// Steal above this share of the run's CPU time: the hypervisor was busy.
const STEAL: f64 = 0.05;

/// Others' CPU share above this (or, where it is not measured, a load
/// average above twice this per core): the machine was busy.
const BUSY: f64 = 0.25;

impl LoadProbe {
    pub fn start() -> Self {
        Self {
            load: load_average().unwrap_or(0.0),
            stat: cpu_seconds(),
            own: own_cpu_seconds(),
            others: other_runs(),
        }
    }

    /// What other work took since [`LoadProbe::start`]. Call once this
    /// process's children (the sandbox) are reaped, so their CPU time counts.
    pub fn finish(&self, cores: usize, with_systemd: bool) -> MachineLoad {
        let end = cpu_seconds();
        let others_share = match (self.stat, end) {
            (Some(a), Some(b)) if !with_systemd && b.total > a.total => {
                let own = own_cpu_seconds() - self.own;
                Some(((b.busy - a.busy - own) / (b.total - a.total)).clamp(0.0, 1.0))
            }
            _ => None,
        };
        let steal_share = match (self.stat, end) {
            (Some(a), Some(b)) if b.total > a.total => {
                Some(((b.steal - a.steal) / (b.total - a.total)).clamp(0.0, 1.0))
            }
            _ => None,
        };
        let mut runs = self.others.clone();
        for run in other_runs() {
            if !runs.contains(&run) {
                runs.push(run);
            }
        }
        // Others' CPU share is exact; the load average (which counts
        // whatever ran in the last minute, a previous run included) decides
        // only where that share cannot be had.
        let busy = others_share.map_or(self.load >= BUSY * 2.0 * cores as f64, |s| s > BUSY)
            || steal_share.is_some_and(|s| s > STEAL)
            || !runs.is_empty();
        MachineLoad {
            load_at_start: self.load,
            others_share,
            busy,
            steal_share,
            other_runs: runs,
        }
    }
}

/// Other stopbench processes measuring on this machine (`run` or `model`),
/// not this one nor its own sandbox: read from /proc, touching none.
fn other_runs() -> Vec<String> {
    let me = std::process::id() as i32;
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i32>().ok())
        else {
            continue;
        };
        if pid == me {
            continue;
        }
        let Ok(raw) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let args: Vec<String> = raw
            .split(|&b| b == 0)
            .filter(|a| !a.is_empty())
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        let is_stopbench = args
            .first()
            .is_some_and(|a| a.rsplit('/').next() == Some("stopbench"));
        let measuring = args.get(1).is_some_and(|a| a == "run" || a == "model");
        // A sandbox's own processes re-execute stopbench with other roles.
        if is_stopbench && measuring && !descends_from(pid, me) {
            found.push(format!("{pid}: {}", args.join(" ")));
        }
    }
    found.sort();
    found
}

/// Whether `pid`'s chain of parents reaches `ancestor`.
fn descends_from(pid: i32, ancestor: i32) -> bool {
    let mut at = pid;
    for _ in 0..64 {
        let Some(parent) = crate::sandbox::procfs::stat(at).map(|s| s.ppid) else {
            return false;
        };
        if parent == ancestor {
            return true;
        }
        if parent <= 1 {
            return false;
        }
        at = parent;
    }
    false
}

impl MachineLoad {
    /// The warning a busy machine earns in run.json and the report.
    pub fn warning(&self) -> Option<String> {
        self.busy.then(|| {
            let share = self.others_share.map_or(String::new(), |s| {
                format!(", {:.0}% of its CPU time used by other work", s * 100.0)
            });
            let steal = self
                .steal_share
                .filter(|&s| s > STEAL)
                .map_or(String::new(), |s| {
                    format!(", {:.0}% of it stolen by the hypervisor", s * 100.0)
                });
            let runs = match self.other_runs.len() {
                0 => String::new(),
                n => format!(", {n} other stopbench run(s) in progress"),
            };
            format!(
                "the machine was busy (load average {:.2} at the start{share}{steal}{runs}): \
                 latencies are longer than on an idle machine; counts are exact regardless",
                self.load_at_start
            )
        })
    }
}

fn load_average() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    text.split_whitespace().next()?.parse().ok()
}

/// All cores' busy, total and stolen time since boot, from /proc/stat.
fn cpu_seconds() -> Option<CpuSeconds> {
    let text = std::fs::read_to_string("/proc/stat").ok()?;
    let fields: Vec<f64> = text
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .take(8)
        .map(|f| f.parse().ok())
        .collect::<Option<_>>()?;
    let [user, nice, system, idle, iowait, irq, softirq, steal] = fields[..] else {
        return None;
    };
    let hz = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .unwrap_or(100) as f64;
    let busy = user + nice + system + irq + softirq + steal;
    Some(CpuSeconds {
        busy: busy / hz,
        total: (busy + idle + iowait) / hz,
        steal: steal / hz,
    })
}

/// CPU time of this process and its reaped descendants, in seconds.
fn own_cpu_seconds() -> f64 {
    let secs = |who| {
        nix::sys::resource::getrusage(who).map_or(0.0, |u| {
            let t = |tv: nix::sys::time::TimeVal| tv.tv_sec() as f64 + tv.tv_usec() as f64 / 1e6;
            t(u.user_time()) + t(u.system_time())
        })
    };
    secs(nix::sys::resource::UsageWho::RUSAGE_SELF)
        + secs(nix::sys::resource::UsageWho::RUSAGE_CHILDREN)
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
    /// How busy other work kept the machine during the run.
    #[serde(default)]
    pub load: Option<MachineLoad>,
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
    /// How fast trials came once they came: the pace of the trial loop,
    /// without the run's fixed costs (sandbox start, host sample, report).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pace: Option<Pace>,
    /// The summary, as in summary.csv (derived from trials.csv on every render).
    #[serde(default)]
    pub strategies: Vec<SummaryRow>,
    /// A merged run's hosts (`stopbench merge`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merged: Option<super::merged::Merged>,
}

/// Trials per second from the first trial record to the last, as the run
/// received them from stopbench's own sandbox: what `scripts/floors.sh`
/// sets beside the C floor's loop, which has no start-up either.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Pace {
    /// Trials between the first record and the last (one fewer than recorded).
    pub trials: u64,
    pub seconds: f64,
    pub trials_per_s: f64,
}

impl Pace {
    /// From the arrival times of the first and last of `records` trial
    /// records; `None` with fewer than two.
    pub fn between(
        first: std::time::Instant,
        last: std::time::Instant,
        records: u64,
    ) -> Option<Self> {
        let seconds = last.duration_since(first).as_secs_f64();
        (records >= 2 && seconds > 0.0).then(|| Pace {
            trials: records - 1,
            seconds,
            trials_per_s: (records - 1) as f64 / seconds,
        })
    }
}

impl RunMeta {
    /// The sandbox inside a real systemd's container, if one ran: the
    /// run's own sandbox when only `systemd` strategies ran.
    pub fn systemd_sandbox(&self) -> Option<&SandboxFacts> {
        self.systemd
            .as_ref()
            .and_then(|s| s.sandbox.as_ref())
            .or(self
                .sandbox
                .as_ref()
                .filter(|s| s.mode == crate::sandbox::SandboxMode::SystemdMachine))
    }
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
