//! One trial's result: what the stop took and what it hit.

use crate::oracle::{Cause, Misfire};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// How the victim's stop ended (docs/ARCHITECTURE.md, section 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Died before the final signal: on the first signal, or on its own.
    Exited,
    /// Died after the strategy escalated to the final signal.
    Killed,
    /// Still alive when the strategy gave up.
    Survived,
    /// The strategy could not run, a helper failed, or the victim ended
    /// before its stop; the reason is in the record.
    Error,
    /// A signal by number was refused (EPERM): the number belongs to another
    /// user now. The signal did not land, and the stop failed.
    Eperm,
}

impl Outcome {
    pub const ALL: [Outcome; 5] = [
        Outcome::Exited,
        Outcome::Killed,
        Outcome::Survived,
        Outcome::Error,
        Outcome::Eperm,
    ];

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.name() == name)
    }

    pub fn name(self) -> &'static str {
        match self {
            Outcome::Exited => "exited",
            Outcome::Killed => "killed",
            Outcome::Survived => "survived",
            Outcome::Error => "error",
            Outcome::Eperm => "eperm",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrialRecord {
    /// 0-based index over the whole run.
    pub trial: u32,
    /// Round of the run: every strategy runs once per round, in a seeded order.
    pub round: u32,
    pub strategy: String,
    pub victim_pid: i32,
    pub victim_cmdline: String,
    pub outcome: Outcome,
    /// Stop request to the death of the victim's whole tree. `None`
    /// (censored) when the tree did not die within the trial: a survivor, a
    /// leak, an error, or a victim already gone before its stop.
    #[serde(with = "opt_nanos")]
    pub latency: Option<Duration>,
    /// Stop request to the strategy's own return: the stop's completion,
    /// what `systemctl stop` or a deploy waits for.
    #[serde(with = "nanos")]
    pub strategy_time: Duration,
    pub victim_end: Option<Cause>,
    /// The victim died before the stop was requested (`exit-early`).
    pub victim_gone_before_stop: bool,
    /// For strategies that address the number: whether it belonged to another
    /// process when they signalled it. `None` for pidfd and pkill.
    pub pid_reused: Option<bool>,
    pub misfires: Vec<Misfire>,
    /// Signals the victim's own program sent to processes outside its tree
    /// (a `kill -1` from the daemon): not misfires of the strategy, but
    /// shown, since a daemon that does this hits its neighbours in production.
    #[serde(default)]
    pub victim_signals: Vec<Misfire>,
    /// Processes of the victim's tree alive after the stop.
    pub leaks: u32,
    /// Their command lines (`leaks.csv`).
    #[serde(default)]
    pub leaked: Vec<String>,
    pub error: Option<String>,
    /// What a strategy observed beyond the numbers, e.g. systemd's `Result=`
    /// and what `$MAINPID` held in `ExecStopPost=`.
    #[serde(default)]
    pub note: Option<String>,
    /// `systemd` only: stop request to the main process's exit as systemd
    /// itself recorded it (`ExecMainExitTimestampMonotonic`).
    #[serde(default, with = "opt_nanos")]
    pub systemd_exit: Option<Duration>,
    /// The longest race window of the trial's signals by number (see
    /// strategy::race_window); `None` where the strategy has none or it was
    /// not measured.
    #[serde(default, with = "opt_nanos")]
    pub race_window: Option<Duration>,
    /// How long the victim's number was free before the strategy next acted
    /// on it (see strategy::Exposure), in every trial of a strategy that
    /// addresses the number, whether or not a signal followed.
    #[serde(default, with = "opt_nanos")]
    pub exposure: Option<Duration>,
    /// From that act to the signal that would follow it (the rest of a
    /// poll's timeout; zero for a signal or a check-then-kill).
    #[serde(default, with = "opt_nanos")]
    pub exposure_follow: Option<Duration>,
    /// How each program a tool strategy ran ended: its exit status (or
    /// signal) and what it wrote to stderr, in order.
    #[serde(default)]
    pub helpers: Option<String>,
    /// CPU time of the stop: user and system time of init's own stopping
    /// work and of every program the strategy ran (with what they waited
    /// for). `None` where it was not measured (a real systemd's own work).
    #[serde(default)]
    pub cpu: Option<super::CpuTime>,
}

impl TrialRecord {
    /// A trial's record before anything is known of it: an error (nothing
    /// measured) until its runner fills in what it saw.
    pub fn new(trial: u32, round: u32, strategy: &str, victim_cmdline: &str) -> Self {
        Self {
            trial,
            round,
            strategy: strategy.to_string(),
            victim_pid: 0,
            victim_cmdline: victim_cmdline.to_string(),
            outcome: Outcome::Error,
            latency: None,
            strategy_time: Duration::ZERO,
            victim_end: None,
            victim_gone_before_stop: false,
            pid_reused: None,
            misfires: Vec::new(),
            victim_signals: Vec::new(),
            leaks: 0,
            leaked: Vec::new(),
            error: None,
            note: None,
            systemd_exit: None,
            race_window: None,
            exposure: None,
            exposure_follow: None,
            helpers: None,
            cpu: None,
        }
    }

    pub fn tally(&self) -> super::recorder::TrialTally<'_> {
        super::recorder::TrialTally {
            strategy: &self.strategy,
            outcome: self.outcome,
            latency_us: self.latency.map(|l| l.as_micros() as u64),
            completion_us: self.strategy_time.as_micros() as u64,
            misfires: self.misfires.len() as u64,
            victim_signals: self.victim_signals.len() as u64,
            leaks: u64::from(self.leaks),
            pid_reused: self.pid_reused == Some(true),
            race_window_us: self.race_window.map(|w| w.as_micros() as u64),
            exposure_us: self.exposure.map(|w| w.as_micros() as u64),
            follow_us: self.exposure_follow.map(|w| w.as_micros() as u64),
            cpu: self.cpu,
        }
    }
}

mod opt_nanos {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_some(&(d.as_nanos() as u64)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        Ok(Option::<u64>::deserialize(d)?.map(Duration::from_nanos))
    }
}

/// Durations cross the wire as integer nanoseconds.
mod nanos {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_nanos() as u64)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_nanos(u64::deserialize(d)?))
    }
}
