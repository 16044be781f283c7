//! Argument definitions.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use stopbench::scenario;

const ABOUT: &str = "Measure how long service stops take and how often they hit the wrong process.";

const LONG_ABOUT: &str = "\
stopbench measures stop strategies for daemons: how long a stop takes, and how often a
signal meant for the daemon lands on another process (a misfire) because the PID number
was recycled or a `pkill -f` pattern matched something else.

Every trial runs inside a sandbox stopbench builds: its own PID and mount namespaces with a
private /proc, so `kill PID` and `pkill -f` can only ever reach processes stopbench started.
As root the namespaces are created directly; as an ordinary user through a user namespace.

Exit codes: 0 run complete, 1 run failed (e.g. no sandbox possible), 2 bad scenario or
arguments, 3 `compare --fail-on` found a significant regression, 130 interrupted (the
trials measured so far are on disk).";

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
    /// Compare two runs of one scenario (or a run with a saved baseline); --fail-on gates CI.
    #[command(long_about = COMPARE_ABOUT)]
    Compare(CompareArgs),
    /// Predict how often each strategy misfires on a real host: per stop and per fleet-year.
    #[command(long_about = MODEL_ABOUT)]
    Model(ModelArgs),
    /// Read this host's pid_max, live PIDs and fork rate over a period, touching no process.
    #[command(long_about = OBSERVE_ABOUT)]
    Observe(ObserveArgs),
    /// Write a run directory as one .tar.gz file (what `run --bundle` writes).
    Pack(PackArgs),
    /// Pool many hosts' runs of one scenario (directories or bundles) into one run and report.
    #[command(long_about = MERGE_ABOUT)]
    Merge(MergeArgs),
    /// Measure your own unit file and its daemon: the unit as written under a real systemd,
    /// what-if rows and emulations, and a corrected unit backed by the rows.
    #[command(long_about = SERVICE_ABOUT)]
    Service(ServiceArgs),
}

const SERVICE_ABOUT: &str = "\
Measure your own unit file and the daemon it runs (root; needs the sandboxed
systemd of scripts/setup-systemd).

systemd itself reads UNIT_FILE and its drop-ins (UNIT_FILE.d/*.conf) in a sandboxed
systemd; stopbench takes the parsed settings over D-Bus and runs:
  as-written               the unit verbatim, under the real systemd, with this
                           machine's daemon (its program, libraries, /etc/NAME,
                           /var/lib/NAME ... shown in the container; --bind adds more)
  killmode-mixed, killmode-control-group, no-number-lines
                           the same unit with one change (--what-if chooses)
  cgroup, pidfd            stopbench's own stops of the same daemon
Its main process is found as systemd finds it (Type=forking: the PIDFile= number).
The report ends with a corrected unit as a diff, each change backed by measured rows,
or says the unit as written is already the best measured.

  stopbench service /lib/systemd/system/nginx.service --trials 20
  stopbench service ./foo.service --emit-scenario foo.toml   # rerun with `stopbench run foo.toml`

Exit codes: 0 measured, 1 the run failed, 2 the unit or its program is unusable.";

#[derive(Args)]
pub struct ServiceArgs {
    /// The unit file (`NAME.service`); drop-ins in `NAME.service.d/*.conf` beside it apply.
    pub unit: PathBuf,
    /// Trials per row.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub trials: u32,
    /// Seed for trial order and churn.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Background churn, processes started per second.
    #[arg(long, default_value_t = 200)]
    pub churn_rate: u32,
    /// Rows besides the unit as written: a list of mixed, control-group,
    /// no-number-lines, emulations [default: what the unit's settings make risky].
    #[arg(long, value_name = "LIST")]
    pub what_if: Option<String>,
    /// Another host path the daemon needs in the container (repeatable):
    /// a file read-only, a directory as an overlay whose writes are discarded.
    #[arg(long = "bind", value_name = "PATH")]
    pub binds: Vec<PathBuf>,
    /// Write the scenario that ran, to rerun or edit with `stopbench run`.
    #[arg(long, value_name = "FILE")]
    pub emit_scenario: Option<PathBuf>,
    /// Output directory [default: reports/<unit>-<UTC timestamp>/].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// No progress bar, warnings or table; only errors.
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(Args)]
pub struct PackArgs {
    /// The run (or sweep) directory.
    pub dir: PathBuf,
    /// The archive to write [default: DIR.tar.gz].
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

const MERGE_ABOUT: &str = "\
Pool many hosts' runs of one scenario into one run directory and report.

Each input is a run directory or a bundle (`run --bundle`, `stopbench pack`), named by the
host that ran it (`run --host NAME`, or its hostname). Inputs of different scenarios or
stopbench versions are refused, naming which; different kernels only with --allow-kernels.
Each host may have replayed its own observed churn (`run --churn-from`).

The trials are pooled row by row, so every histogram of the merged run is the sum of the
hosts' (lossless; checked against their .hlog files) and every percentile is read from the
sum, never averaged. Counts are summed; rates carry the pooled Wilson interval. The report
adds a Hosts section: each host beside the pool, whether the hosts agree (Fisher's exact
test on misfires and Mann-Whitney U on latency, each host against the rest, Holm-adjusted),
the worst host first when they do not, and the fleet-year projection summed over each
host's own churn. hosts-<strategy>.hlog holds one interval per host, tagged with its name.

  stopbench merge fetched/*/run.tar.gz --out reports/fleet";

#[derive(Args)]
pub struct MergeArgs {
    /// Run directories or bundles, one per host.
    #[arg(required = true, value_name = "RUN")]
    pub inputs: Vec<PathBuf>,
    /// The merged run directory (new, empty, or an earlier merge's).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Merge hosts that ran different kernels (each host's kernel is shown).
    #[arg(long)]
    pub allow_kernels: bool,
    /// Stops of the service per host per day, for the fleet-year projection.
    #[arg(long, default_value_t = 1.0)]
    pub stops_per_day: f64,
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

const COMPARE_ABOUT: &str = "\
Compare two runs of one scenario, strategy by strategy: the median stop (Mann-Whitney U),
the tail (a bootstrap of the p99's change), the stop's completion, and the trials with a
misfire (Fisher's exact test, true for rare counts). All p-values of one comparison are
adjusted together (Holm), so many strategies do not find a change by chance; a significant
change smaller than --noise (median) or --tail-noise (p99) is reported as noise.

  stopbench compare OLD NEW
  stopbench compare --baseline main NEW          (a baseline kept by run --save-baseline)
  stopbench compare --baseline main NEW --fail-on regression     (a CI gate)

Exit codes: 0 no gated regression (or no --fail-on), 1 the comparison could not be made
(unreadable run), 2 bad arguments or runs of different scenarios, 3 a significant
regression among the --fail-on gates (each is printed).";

#[derive(Args)]
pub struct CompareArgs {
    /// OLD NEW, or only NEW with --baseline.
    #[arg(value_name = "RUN", num_args = 1..=2, required = true)]
    pub runs: Vec<PathBuf>,
    /// Compare NEW with this baseline of its scenario (kept by `run --save-baseline`).
    #[arg(long, value_name = "NAME")]
    pub baseline: Option<String>,
    /// Exit 3 on a significant regression: `regression` (every gate) or a
    /// list of misfire, p50, p99, completion, outcomes (e.g. `misfire,p99`).
    /// `outcomes` fails on more trials killed, survived, failed, refused
    /// (eperm), censored or leaking; a p99 that becomes a bound ("> C",
    /// stops that never finished) fails `p99`.
    #[arg(long, value_name = "GATES")]
    pub fail_on: Option<String>,
    /// Median latency changes smaller than this share of the median are
    /// noise. Reruns of one configuration on a shared 2-core machine moved
    /// the median by up to 17%; with a baseline saved 3 or more times,
    /// three times its reruns' spread is used where that is larger.
    #[arg(long, default_value_t = 0.2)]
    pub noise: f64,
    /// p99 changes smaller than this share of the p99 are noise (a p99 of
    /// 60 trials is nearly their maximum, and moved by up to 99% between
    /// reruns here); calibrated from a baseline's reruns as --noise is.
    #[arg(long, default_value_t = 0.5)]
    pub tail_noise: f64,
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
    /// Change a scenario key, as if the file said so (repeatable). The value
    /// is TOML, so a list makes a sweep; anything else is a string:
    /// `--set churn.rate=[100,1000]`, `--set 'strategy[1].timeout=50ms'`.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub sets: Vec<scenario::Override>,
    /// Unrecorded rounds first (overrides the scenario's `warmup`): they warm
    /// the helpers' first exec, the page cache and a container.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(0..=10_000))]
    pub warmup: Option<u32>,
    /// Stop once every strategy's misfire rate is known this precisely (its
    /// 95% interval at most this wide, e.g. `2%`); --trials is then the
    /// maximum. "0 in N" needs N near 3.84/width. Prints the N each needed.
    #[arg(long, value_name = "WIDTH")]
    pub until_precision: Option<String>,
    /// Also keep the run as the named baseline of its scenario, for
    /// `compare --baseline NAME` (in $STOPBENCH_BASELINES or reports/baselines).
    #[arg(long, value_name = "NAME")]
    pub save_baseline: Option<String>,
    /// Also write the run directory as one .tar.gz archive, for Ansible's
    /// fetch, `kubectl cp` or a CI artifact; `stopbench merge` reads it.
    #[arg(long, value_name = "FILE")]
    pub bundle: Option<PathBuf>,
    /// The name this host goes by in a merged report [default: its hostname].
    #[arg(long, value_name = "NAME")]
    pub host: Option<String>,
}
