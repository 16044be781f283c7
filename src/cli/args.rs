//! Argument definitions.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

const ABOUT: &str = "Measure how long service stops take and how often they hit the wrong process.";

const LONG_ABOUT: &str = "\
stopbench measures stop strategies for daemons: how long a stop takes, and how often a
signal meant for the daemon lands on another process (a misfire) because the PID number
was recycled or a `pkill -f` pattern matched something else.

Every trial runs inside a sandbox stopbench builds: its own PID and mount namespaces with a
private /proc, so `kill PID` and `pkill -f` can only ever reach processes stopbench started.
As root the namespaces are created directly; as an ordinary user through a user namespace.

Exit codes: 0 run complete, 1 run failed (e.g. no sandbox possible), 2 bad scenario or
arguments, 130 interrupted (the trials measured so far are on disk).";

#[derive(Parser)]
#[command(name = "stopbench", version, about = ABOUT, long_about = LONG_ABOUT)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run a scenario's stop trials in a sandbox and write CSV, histograms and run.json.
    #[command(long_about = RUN_ABOUT)]
    Run(RunArgs),
    /// List the built-in scenarios and the stop strategies.
    List(ListArgs),
    /// Re-render a run directory's report (summary, histograms, plots, report.md, index.html) from its trials.
    Report(ReportArgs),
    /// Print the systemd unit that implements a strategy of a scenario, checked with systemd-analyze verify.
    Unit(UnitArgs),
    /// Compare two runs of one scenario: latency and misfire changes per strategy, and whether they are beyond noise.
    Compare(CompareArgs),
    /// Predict how often each strategy misfires on a real host: per stop and per fleet-year.
    #[command(long_about = MODEL_ABOUT)]
    Model(ModelArgs),
    /// Read this host's pid_max, live PIDs and fork rate over a period, touching no process.
    #[command(long_about = OBSERVE_ABOUT)]
    Observe(ObserveArgs),
}

const MODEL_ABOUT: &str = "\
Predict how often each strategy of a scenario misfires on a real host.

A recycled PID number can only hit a strategy's signal within its race window (from the
last moment it knew the number was its daemon's to its signal landing). Linux allocates
numbers cyclically, so a freed number comes back after the allocator wraps:
  wrap time T = (pid_max - 300 - live PIDs) / fork rate
and for a daemon that has run for many wraps, the chance a window w misfires is
  P = min(w, T) / T
(less when the processes that take numbers die young: see --lifetime). The README derives it.

Windows come from a short sandboxed run of SCENARIO (forced reuse off, so no strategy is
fooled into a longer window), from a finished run (--from-run), or from --window.
pidfd and cgroup hold the process, not a number: zero by construction.

Example:
  stopbench model --pid-max 4194304 --fork-rate 2000 --hosts 10000 --stops-per-day 24";

#[derive(Args)]
pub struct ModelArgs {
    /// Scenario whose strategies are modelled (file or built-in name).
    #[arg(default_value = "default")]
    pub scenario: String,
    /// Take the windows from this finished run directory instead of running.
    #[arg(long, value_name = "DIR", conflicts_with = "windows")]
    pub from_run: Option<PathBuf>,
    /// A strategy's window, e.g. `execstoppost-check=1.5ms` (repeatable); no run is made.
    #[arg(long = "window", value_name = "NAME=DURATION")]
    pub windows: Vec<String>,
    /// Trials per strategy of the run that measures the windows.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub trials: u32,
    /// The host's pid_max [default: this machine's].
    #[arg(long, value_parser = clap::value_parser!(u32).range(301..=4_194_304))]
    pub pid_max: Option<u32>,
    /// PIDs in use, threads included (numbers of 300 and up) [default: this machine's].
    #[arg(long)]
    pub live: Option<u32>,
    /// Forks per second on the host [default: this machine's average since boot].
    #[arg(long, conflicts_with = "churn_from")]
    pub fork_rate: Option<f64>,
    /// A `stopbench observe` file: its pid_max, live PIDs and measured rate series.
    #[arg(long, value_name = "FILE")]
    pub churn_from: Option<PathBuf>,
    /// Lifetime of the processes that take recycled numbers, e.g. `50ms` [default: outlive any window].
    #[arg(long, value_name = "DURATION")]
    pub lifetime: Option<String>,
    /// Hosts in the fleet.
    #[arg(long, default_value_t = 1)]
    pub hosts: u64,
    /// Stops of the service per host per day.
    #[arg(long, default_value_t = 1.0)]
    pub stops_per_day: f64,
    /// Build the sandbox in a user namespace even when running as root.
    #[arg(long)]
    pub user_namespace: bool,
}

const OBSERVE_ABOUT: &str = "\
Read this host's own churn without touching any process: pid_max, the PIDs in use
(threads hold numbers too) and the allocation rate, all in the PID namespace stopbench runs
in (inside a container: the container's, where its stop scripts signal). The rate comes from
that namespace's allocator (/proc/sys/kernel/ns_last_pid) sampled every --interval for
--for. Writes the observation as JSON (with its scope), which `stopbench model
--churn-from` and `stopbench run --churn-from` (replays the rate series in the sandbox)
read.";

#[derive(Args)]
pub struct ObserveArgs {
    /// How long to observe, e.g. `10s`, `5min`.
    #[arg(long = "for", value_name = "DURATION", default_value = "10s")]
    pub period: String,
    /// Sampling interval.
    #[arg(long, value_name = "DURATION", default_value = "100ms")]
    pub interval: String,
    /// Where to write the observation [default: reports/host-churn-<UTC timestamp>.json].
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(Args)]
pub struct ListArgs {
    /// Only the built-in scenarios' names, one per line (for scripts).
    #[arg(long)]
    pub names: bool,
}

#[derive(Args)]
pub struct ReportArgs {
    /// A run directory (holds run.json, trials.csv, misfires.csv, scenario.toml).
    pub dir: PathBuf,
}

#[derive(Args)]
pub struct UnitArgs {
    /// Scenario file or built-in scenario name.
    pub scenario: String,
    /// The strategy (its label, or its kind).
    #[arg(long)]
    pub strategy: String,
    /// Print without running `systemd-analyze verify`.
    #[arg(long)]
    pub no_verify: bool,
}

#[derive(Args)]
pub struct CompareArgs {
    /// The baseline run directory.
    pub old: PathBuf,
    /// The run directory to compare with it.
    pub new: PathBuf,
    /// Latency changes smaller than this share of the median are noise.
    #[arg(long, default_value_t = 0.02)]
    pub noise: f64,
    /// Where to write the Markdown [default: NEW/compare.md].
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

const RUN_ABOUT: &str = "\
Run a scenario's stop trials in a sandbox and write the results.

SCENARIO is a TOML file (see scenarios/) or the name of a built-in scenario (see
`stopbench list`); without it the built-in `default` scenario runs.

Files written to the output directory, as the run goes:
  trials.csv      one row per trial (outcome, latency, misfires, leaks, pid_reused)
  misfires.csv    one row per misfire: which process was hit, by which signal
and at the end (also after an interrupt):
  summary.csv     one row per strategy: outcomes, misfire rate with 95% interval, latency percentiles
  <strategy>.hgrm HdrHistogram percentile distribution of stop latency (ms)
  race-window-<strategy>.hgrm  the same for race windows (strategies that have them)
  run.json        scenario, machine, sandbox, achieved churn rate, summary";

#[derive(Args)]
pub struct RunArgs {
    /// Scenario file or built-in scenario name.
    #[arg(default_value = "default")]
    pub scenario: String,
    /// Trials per strategy (overrides the scenario's `trials`).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub trials: Option<u32>,
    /// Seed for trial order and churn lifetimes (overrides the scenario's `seed`).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Run only this strategy (its `label`, or its kind); repeat for several.
    #[arg(long = "strategy", value_name = "NAME")]
    pub strategies: Vec<String>,
    /// Output directory [default: reports/<scenario>-<UTC timestamp>/].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// No progress bar, warnings or table; only errors.
    #[arg(long, short)]
    pub quiet: bool,
    /// Build the sandbox in a user namespace even when running as root.
    #[arg(long)]
    pub user_namespace: bool,
    /// Replay a host's recorded fork rate (a `stopbench observe` file) as
    /// the sandbox's churn, instead of the scenario's churn.rate; the report
    /// then states production risk for that host.
    #[arg(long, value_name = "FILE")]
    pub churn_from: Option<PathBuf>,
}
