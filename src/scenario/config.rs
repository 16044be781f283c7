//! The scenario: what is stopped, under which churn, by which strategies.
//!
//! Every field validates itself while it is deserialized, so a bad value is
//! reported with the toml span (line) and serde path (key) of the value.

use super::duration::HumanDuration;
use super::signal::StopSignal;
use super::sweep::Sweep;
use serde::{de, Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::time::Duration;

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

/// A scenario name: it becomes part of directory and file names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScenarioName(pub String);

impl<'de> Deserialize<'de> for ScenarioName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        let ok = !name.is_empty()
            && name.len() <= 64
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if !ok {
            return Err(de::Error::custom(format!(
                "`{name}` is not a valid name: use 1-64 letters, digits, `-`, `_` or `.`"
            )));
        }
        Ok(Self(name))
    }
}

impl fmt::Display for ScenarioName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An integer key that must lie in `lo..=hi`; `why` explains the lower bound.
fn bounded<'de, D: Deserializer<'de>>(
    deserializer: D,
    key: &str,
    lo: u32,
    hi: u32,
    why: &str,
) -> Result<u32, D::Error> {
    let n = i64::deserialize(deserializer)?;
    if n < i64::from(lo) || n > i64::from(hi) {
        return Err(de::Error::custom(format!(
            "{key} must be between {lo}{why} and {hi}, got {n}"
        )));
    }
    Ok(n as u32)
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
pub struct ChurnConfig {
    /// Churners spawned per second: a number, `0` for none, or `"max"`; a
    /// list of these makes a sweep.
    #[serde(default)]
    pub rate: Sweep<Rate>,
    /// How long each churner lives: `"2ms"`, or `["1ms", "5ms"]` for a uniform range.
    #[serde(default = "default_lifetime")]
    pub lifetime: Lifetime,
    /// Long-lived processes with these command lines stay up during every trial.
    #[serde(default)]
    pub bystanders: Vec<BystanderConfig>,
    /// Give the victim's PID number to a fresh bystander the moment the victim is reaped.
    #[serde(default)]
    pub forced_reuse: bool,
    /// Command line of the bystander that takes over the victim's number.
    #[serde(default = "default_reuse_command")]
    pub reuse_command: CommandLine,
    /// At most this many churners alive at once (a bound on the sandbox's size).
    #[serde(default = "default_max_live")]
    pub max_live: MaxLive,
    /// A host's recorded fork rates to follow instead of `rate` (set by
    /// `stopbench run --churn-from FILE`, from `stopbench observe`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replay: Option<crate::model::HostChurn>,
}

impl Default for ChurnConfig {
    fn default() -> Self {
        Self {
            rate: Sweep::default(),
            lifetime: default_lifetime(),
            bystanders: Vec::new(),
            forced_reuse: false,
            reuse_command: default_reuse_command(),
            max_live: default_max_live(),
            replay: None,
        }
    }
}

fn zero_range() -> Lifetime {
    Lifetime {
        min: HumanDuration(Duration::ZERO),
        max: HumanDuration(Duration::ZERO),
    }
}

impl Lifetime {
    /// A draw from the range (the fixed value when min = max).
    pub fn sample(&self, rng: &mut impl rand::Rng) -> Duration {
        if self.min == self.max {
            self.min.0
        } else {
            rng.random_range(self.min.0..=self.max.0)
        }
    }
}

fn default_lifetime() -> Lifetime {
    Lifetime {
        min: HumanDuration(Duration::from_millis(2)),
        max: HumanDuration(Duration::from_millis(2)),
    }
}

fn default_reuse_command() -> CommandLine {
    CommandLine(vec![
        "/usr/sbin/unrelated-service".into(),
        "--holds-a-recycled-pid".into(),
    ])
}

fn default_max_live() -> MaxLive {
    MaxLive(128)
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct MaxLive(pub u32);

impl<'de> Deserialize<'de> for MaxLive {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        bounded(deserializer, "max_live", 1, 4096, "").map(Self)
    }
}

/// Target churn rate.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Rate {
    #[default]
    Off,
    PerSecond(f64),
    /// As fast as the generator can spawn (bounded by `max_live`).
    Max,
}

impl<'de> Deserialize<'de> for Rate {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Int(i64),
            Float(f64),
            Text(String),
        }
        let value = match Raw::deserialize(deserializer)? {
            Raw::Text(text) if text == "max" => return Ok(Rate::Max),
            Raw::Text(text) => {
                return Err(de::Error::custom(format!(
                    "rate `{text}` is neither a number per second nor \"max\""
                )))
            }
            Raw::Int(n) => n as f64,
            Raw::Float(x) => x,
        };
        if !(0.0..=1_000_000.0).contains(&value) {
            return Err(de::Error::custom(format!(
                "rate must be between 0 and 1000000 per second, or \"max\"; got {value}"
            )));
        }
        Ok(if value == 0.0 {
            Rate::Off
        } else {
            Rate::PerSecond(value)
        })
    }
}

impl Serialize for Rate {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Rate::Off => serializer.serialize_u32(0),
            Rate::PerSecond(x) => serializer.serialize_f64(*x),
            Rate::Max => serializer.serialize_str("max"),
        }
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rate::Off => write!(f, "0/s"),
            Rate::PerSecond(x) => write!(f, "{x}/s"),
            Rate::Max => write!(f, "max"),
        }
    }
}

/// A duration drawn uniformly from `[min, max]` each time it is used:
/// churner lifetimes, the age at which an `exit-early` victim dies.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Lifetime {
    pub min: HumanDuration,
    pub max: HumanDuration,
}

impl<'de> Deserialize<'de> for Lifetime {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            One(String),
            Range(Vec<String>),
        }
        let parse = |t: &str| HumanDuration::parse(t).map_err(de::Error::custom);
        let (min, max) = match Raw::deserialize(deserializer)? {
            Raw::One(text) => {
                let d = parse(&text)?;
                (d, d)
            }
            Raw::Range(items) if items.len() == 2 => (parse(&items[0])?, parse(&items[1])?),
            Raw::Range(_) => {
                return Err(de::Error::custom(
                    "expected a duration (\"2ms\") or a range of two ([\"1ms\", \"5ms\"])",
                ))
            }
        };
        if min > max {
            return Err(de::Error::custom(format!(
                "range [{min}, {max}] is reversed"
            )));
        }
        if max.0 > Duration::from_secs(60) {
            return Err(de::Error::custom("must be at most 60s"));
        }
        Ok(Self { min, max })
    }
}

impl Serialize for Lifetime {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if self.min == self.max {
            self.min.serialize(serializer)
        } else {
            [self.min, self.max].serialize(serializer)
        }
    }
}

/// A command line as `pkill -f` sees it: a string split at white space, or an argv array.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CommandLine(pub Vec<String>);

impl CommandLine {
    /// The argv joined by spaces: what `/proc/PID/cmdline` shows to `pkill -f`.
    pub fn joined(&self) -> String {
        self.0.join(" ")
    }
}

impl<'de> Deserialize<'de> for CommandLine {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Text(String),
            Argv(Vec<String>),
        }
        let argv = match Raw::deserialize(deserializer)? {
            Raw::Text(text) => text.split_whitespace().map(String::from).collect(),
            Raw::Argv(argv) => argv,
        };
        if argv.is_empty() || argv[0].is_empty() {
            return Err(de::Error::custom(
                "a command line needs at least a program name",
            ));
        }
        if argv.iter().any(|a| a.contains('\0')) {
            return Err(de::Error::custom("a command line cannot contain NUL bytes"));
        }
        Ok(Self(argv))
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct BystanderConfig {
    pub command: CommandLine,
    pub behaviour: BystanderBehaviour,
}

impl<'de> Deserialize<'de> for BystanderConfig {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Full {
            command: CommandLine,
            #[serde(default)]
            behaviour: BystanderBehaviour,
        }
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Text(String),
            Full(Full),
        }
        match Raw::deserialize(deserializer)? {
            Raw::Text(text) => {
                let command =
                    CommandLine::deserialize(de::value::StrDeserializer::<D::Error>::new(&text))?;
                Ok(Self {
                    command,
                    behaviour: BystanderBehaviour::Plain,
                })
            }
            Raw::Full(full) => Ok(Self {
                command: full.command,
                behaviour: full.behaviour,
            }),
        }
    }
}

/// How a bystander reacts to a signal. All three are counted when hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BystanderBehaviour {
    /// Default dispositions: a stray signal kills it, and the reaper sees the death.
    #[default]
    Plain,
    /// Catches SIGTERM, reports it to the oracle through a pipe, and lives on.
    IgnoreTerm,
    /// SIGSTOPped: a stray signal stays pending and is read from /proc/PID/status.
    Stopped,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VictimConfig {
    /// The victim's command line, as `pkill -f` will see it.
    pub command: CommandLine,
    #[serde(default)]
    pub behaviour: Behaviour,
    /// `exit-on-term`: time between SIGTERM and exit.
    #[serde(default)]
    pub cleanup: HumanDuration,
    /// `fork-children`: how many TERM-ignoring children the victim forks.
    #[serde(default = "default_children")]
    pub children: Children,
    /// `exit-early`: how long after start-up the victim dies on its own;
    /// `["0ms", "500ms"]` draws a fresh age per trial (uniform), so that the
    /// PID allocator's position relative to the victim's number varies.
    #[serde(default = "zero_range")]
    pub exit_after: Lifetime,
    /// Start the victim under a random free PID number (clone3 `set_tid`),
    /// as a daemon that has run for hours holds a number with no relation
    /// to where the PID allocator now is. Without it, a victim started a
    /// moment before its stop sits right behind the allocator, and its
    /// number comes back after almost exactly one wrap.
    #[serde(default)]
    pub random_pid: bool,
    /// `exit-early`: how long the stale number sits between the crash and the
    /// stop; under churn the number can come back meanwhile.
    #[serde(default)]
    pub stale_for: HumanDuration,
    /// `exec`: how long to let the real program start before it is stopped.
    #[serde(default = "default_startup")]
    pub startup: HumanDuration,
}

fn default_children() -> Children {
    Children(2)
}

fn default_startup() -> HumanDuration {
    HumanDuration(Duration::from_millis(100))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Children(pub u32);

impl<'de> Deserialize<'de> for Children {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        bounded(deserializer, "children", 0, 64, "").map(Self)
    }
}

/// What the daemon under test does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Behaviour {
    /// Handles SIGTERM: waits `cleanup`, then exits 0.
    #[default]
    ExitOnTerm,
    /// The seed's `trap "echo Ignoring TERM" TERM` daemon.
    IgnoreTerm,
    /// Handles SIGTERM but is SIGSTOPped before the stop (the seed's `kill -STOP` test).
    Stopped,
    /// Forks `children` children that ignore SIGTERM, then handles SIGTERM itself.
    ForkChildren,
    /// Dies on its own after `exit_after`, before the stop: a crashed daemon with a stale pidfile.
    ExitEarly,
    /// Runs `command` as a real program.
    Exec,
}

impl Behaviour {
    pub fn name(self) -> &'static str {
        match self {
            Behaviour::ExitOnTerm => "exit-on-term",
            Behaviour::IgnoreTerm => "ignore-term",
            Behaviour::Stopped => "stopped",
            Behaviour::ForkChildren => "fork-children",
            Behaviour::ExitEarly => "exit-early",
            Behaviour::Exec => "exec",
        }
    }
}

/// One stop strategy under test, with systemd-like knobs.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StrategyConfig {
    pub kind: StrategyKind,
    /// Label in reports; defaults to the kind. Needed when one kind appears twice.
    #[serde(default)]
    pub label: Option<ScenarioName>,
    /// `TimeoutStopSec=`: how long to wait after the first signal.
    #[serde(default = "default_timeout")]
    pub timeout: HumanDuration,
    /// `KillSignal=`.
    #[serde(default = "default_kill_signal")]
    pub kill_signal: StopSignal,
    /// `FinalKillSignal=`.
    #[serde(default = "default_final_signal")]
    pub final_signal: StopSignal,
    /// `plain-kill`: interval of the `kill(pid, 0)` liveness poll.
    #[serde(default = "default_poll")]
    pub poll: HumanDuration,
    /// `pkill-f`: the pattern; defaults to the victim's program (argv[0]).
    #[serde(default)]
    pub pattern: Option<String>,
    /// `pkill-f`: run pkill through `/bin/sh -c "pkill ..."` (a unit line that
    /// names a shell) instead of directly, as systemd's `ExecStopPost=` does.
    /// The shell's command line holds the pattern, so pkill matches it too.
    #[serde(default)]
    pub shell: bool,
    /// `execstoppost-check`: which unit B it is (see [`UnitForm`]).
    #[serde(default)]
    pub form: UnitForm,
    /// `cgroup`, `systemd`: which processes get the signals, as systemd's `KillMode=`.
    #[serde(default)]
    pub kill_mode: KillMode,
    /// `cgroup`, `systemd`: `SendSIGHUP=`: SIGHUP right after the kill
    /// signal (and its SIGCONT) to the same processes.
    #[serde(default)]
    pub send_sighup: bool,
    /// `systemd`: `SendSIGKILL=`.
    #[serde(default = "yes")]
    pub send_sigkill: bool,
    /// `systemd`, `execstoppost-check`: an `ExecStop=` line, verbatim (e.g.
    /// `/bin/kill -TERM $MAINPID`); execstoppost-check runs it as systemd would.
    #[serde(default)]
    pub exec_stop: Option<String>,
    /// `systemd`, `execstoppost-check`: an `ExecStopPost=` line, verbatim.
    #[serde(default)]
    pub exec_stop_post: Option<String>,
    /// `systemd`: more `[Service]` lines, verbatim (e.g. `SuccessExitStatus=143 TERM`).
    #[serde(default)]
    pub service: Vec<String>,
}

fn yes() -> bool {
    true
}

/// The two forms of the seed's unit B, which differ in what `$MAINPID`
/// holds in `ExecStopPost=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum UnitForm {
    /// `Type=forking` with `PIDFile=`, a daemon systemd does not parent:
    /// systemd keeps the number exported, so the check runs against it.
    #[default]
    Pidfile,
    /// `Type=simple`, systemd's own child: after it exited `$MAINPID` is
    /// unset in `ExecStopPost=`, so `ps -p` fails and the check never fires.
    Simple,
}

impl UnitForm {
    pub fn name(self) -> &'static str {
        match self {
            UnitForm::Pidfile => "pidfile",
            UnitForm::Simple => "simple",
        }
    }
}

/// systemd's `KillMode=` (man systemd.kill).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KillMode {
    /// Every process of the cgroup gets the first signal; the final one is `cgroup.kill`.
    #[default]
    ControlGroup,
    /// The main process gets the first signal; then `cgroup.kill` takes the rest.
    Mixed,
    /// Only the main process is signalled: children are left running.
    Process,
}

impl KillMode {
    pub fn name(self) -> &'static str {
        match self {
            KillMode::ControlGroup => "control-group",
            KillMode::Mixed => "mixed",
            KillMode::Process => "process",
        }
    }
}

impl StrategyConfig {
    /// The label in every output; by default the kind, with the form
    /// named where it is not the default one.
    pub fn label(&self) -> String {
        if let Some(l) = &self.label {
            return l.0.clone();
        }
        match self.kind {
            StrategyKind::PkillF if self.shell => "pkill-f-sh".into(),
            StrategyKind::ExecstoppostCheck if self.form == UnitForm::Simple => {
                "execstoppost-check-simple".into()
            }
            kind => kind.name().to_string(),
        }
    }
}

fn default_timeout() -> HumanDuration {
    HumanDuration(Duration::from_secs(2))
}
fn default_kill_signal() -> StopSignal {
    StopSignal::TERM
}
fn default_final_signal() -> StopSignal {
    StopSignal::KILL
}
fn default_poll() -> HumanDuration {
    HumanDuration(Duration::from_millis(10))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StrategyKind {
    PlainKill,
    ExecstoppostCheck,
    PkillF,
    Pidfd,
    Cgroup,
    Systemd,
}

impl StrategyKind {
    pub const ALL: [StrategyKind; 6] = [
        StrategyKind::PlainKill,
        StrategyKind::ExecstoppostCheck,
        StrategyKind::PkillF,
        StrategyKind::Pidfd,
        StrategyKind::Cgroup,
        StrategyKind::Systemd,
    ];

    pub fn name(self) -> &'static str {
        match self {
            StrategyKind::PlainKill => "plain-kill",
            StrategyKind::ExecstoppostCheck => "execstoppost-check",
            StrategyKind::PkillF => "pkill-f",
            StrategyKind::Pidfd => "pidfd",
            StrategyKind::Cgroup => "cgroup",
            StrategyKind::Systemd => "systemd",
        }
    }

    /// The keys this kind takes beyond those every kind takes (`kind`,
    /// `label`, `timeout`, `kill_signal`, `final_signal`): a key another
    /// kind takes is refused here rather than silently ignored.
    pub fn own_keys(self) -> &'static [&'static str] {
        match self {
            StrategyKind::PlainKill => &["poll"],
            StrategyKind::ExecstoppostCheck => &["form", "exec_stop", "exec_stop_post"],
            StrategyKind::PkillF => &["pattern", "shell"],
            StrategyKind::Pidfd => &[],
            StrategyKind::Cgroup => &["kill_mode", "send_sighup"],
            StrategyKind::Systemd => &[
                "kill_mode",
                "send_sighup",
                "send_sigkill",
                "exec_stop",
                "exec_stop_post",
                "service",
            ],
        }
    }

    pub fn summary(self) -> &'static str {
        match self {
            StrategyKind::PlainKill => {
                "kill -TERM $PID; poll kill -0 $PID until gone or timeout; kill -KILL $PID"
            }
            StrategyKind::ExecstoppostCheck => {
                "ExecStop=/bin/kill -TERM $MAINPID; wait; ExecStopPost=/bin/sh -c \"if ps -p $MAINPID > /dev/null; then /bin/kill -KILL $MAINPID; fi\""
            }
            StrategyKind::PkillF => {
                "pkill -TERM -f PATTERN; wait; pkill -KILL -f PATTERN (executed directly as ExecStopPost= does; shell = true runs each through /bin/sh -c)"
            }
            StrategyKind::Pidfd => {
                "pidfd from spawn; pidfd_send_signal TERM; poll the pidfd until timeout; pidfd_send_signal KILL"
            }
            StrategyKind::Systemd => {
                "the victim as a unit of a real systemd (sandboxed in systemd-nspawn); systemctl stop with the unit's KillMode=, signals, TimeoutStopSec=, ExecStop=/ExecStopPost="
            }
            StrategyKind::Cgroup => {
                "victim in a cgroup of its own; first signal per kill_mode; wait; final signal per kill_mode (cgroup.kill for mixed and control-group)"
            }
        }
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
}

impl SweepParameter {
    pub fn key(self) -> &'static str {
        match self {
            SweepParameter::ChurnRate => "churn.rate",
            SweepParameter::PidMax => "sandbox.pid_max",
            SweepParameter::Grid => "sandbox.pid_max x churn.rate",
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
