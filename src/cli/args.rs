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
}
