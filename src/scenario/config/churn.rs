//! `[churn]`: the short-lived processes that recycle PID numbers, and the
//! bystanders that live beside the victim.

use super::bounded::bounded;
use crate::scenario::duration::HumanDuration;
use crate::scenario::sweep::Sweep;
use serde::{de, Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::time::Duration;

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
    /// Who takes the victim's number under forced reuse: a stand-in running
    /// `reuse_command` (another program), or another instance of the victim's
    /// own program, which checks by executable, name or command line cannot
    /// tell from the daemon.
    #[serde(default)]
    pub newcomer: Newcomer,
    /// Run the newcomer as this user: a stop tool running as the victim's
    /// user is then refused (EPERM) when it signals the newcomer. Needs root.
    #[serde(default)]
    pub newcomer_user: Option<super::RunAs>,
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
            newcomer: Newcomer::default(),
            newcomer_user: None,
            max_live: default_max_live(),
            replay: None,
        }
    }
}

pub(super) fn zero_range() -> Lifetime {
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

/// The process that takes the victim's number under forced reuse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Newcomer {
    /// Another program: stopbench's stand-in under `reuse_command`.
    #[default]
    StandIn,
    /// The victim's own program and command line: a restarted instance or
    /// another instance of the daemon (for `exec` victims, the real binary).
    SameProgram,
}

impl Newcomer {
    pub fn name(self) -> &'static str {
        match self {
            Newcomer::StandIn => "stand-in",
            Newcomer::SameProgram => "same-program",
        }
    }
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
    /// How many processes run this command line: more than one makes a
    /// crowd, held by a keeper of its own (see churn/crowd.rs); a list sweeps.
    #[serde(skip_serializing_if = "is_single")]
    pub count: Sweep<CrowdSize>,
}

fn is_single(count: &Sweep<CrowdSize>) -> bool {
    *count == Sweep::One(CrowdSize(1))
}

impl BystanderConfig {
    /// A crowd (more than one process) in a concrete scenario.
    pub fn is_crowd(&self) -> bool {
        self.count.one().0 > 1
    }
}

/// Processes of one bystander line: bounded, as every loop that spawns is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CrowdSize(pub u32);

impl Default for CrowdSize {
    fn default() -> Self {
        CrowdSize(1)
    }
}

/// The most processes one bystander line may start.
pub const CROWD_MAX: u32 = 50_000;

impl<'de> Deserialize<'de> for CrowdSize {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        bounded(deserializer, "count", 1, CROWD_MAX, "").map(Self)
    }
}

impl<'de> Deserialize<'de> for BystanderConfig {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Full {
            command: CommandLine,
            #[serde(default)]
            behaviour: BystanderBehaviour,
            #[serde(default)]
            count: Sweep<CrowdSize>,
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
                    count: Sweep::default(),
                })
            }
            Raw::Full(full) => Ok(Self {
                command: full.command,
                behaviour: full.behaviour,
                count: full.count,
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
