//! `[victim]`: the daemon each trial starts and a strategy stops.

use super::bounded::bounded;
use super::churn::{zero_range, CommandLine, Lifetime};
use crate::scenario::duration::HumanDuration;
use serde::{Deserialize, Deserializer, Serialize};
use std::time::Duration;

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
    /// A pidfile holding the victim's number, written when it has started
    /// (as `start-stop-daemon --make-pidfile` or the daemon itself writes
    /// one) and left in place when it dies (stale after a crash). Its
    /// directory gets an empty tmpfs of the sandbox's own, so nothing is
    /// written outside it. Tools that read a pidfile read this one.
    #[serde(default)]
    pub pidfile: Option<Pidfile>,
    /// Run the victim as this user (systemd's `User=`); the stop tools'
    /// commands run as it too, as a unit's `ExecStop=` does. Needs root.
    #[serde(default)]
    pub user: Option<super::RunAs>,
}

/// An absolute path for the pidfile, in a directory that exists (the
/// sandbox mounts its own tmpfs there).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Pidfile(pub std::path::PathBuf);

impl<'de> Deserialize<'de> for Pidfile {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let text = String::deserialize(deserializer)?;
        let path = std::path::PathBuf::from(&text);
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
        match dir {
            _ if !path.is_absolute() => Err(D::Error::custom(format!(
                "pidfile `{text}` is not an absolute path"
            ))),
            Some(dir) if dir == std::path::Path::new("/") || dir.starts_with("/proc") => {
                Err(D::Error::custom(format!(
                    "pidfile `{text}`: the sandbox mounts a tmpfs over its directory, which cannot be `/` or under /proc; use e.g. /run/foo.pid"
                )))
            }
            Some(dir) if dir.is_dir() => Ok(Self(path)),
            _ => Err(D::Error::custom(format!(
                "pidfile `{text}`: its directory does not exist (the sandbox mounts a tmpfs over an existing one, e.g. /run)"
            ))),
        }
    }
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
    /// Serves (and, under systemd's `WatchdogSec=`, sends `WATCHDOG=1`)
    /// for `exit_after`, then hangs: no more pings, no work, signals at
    /// their defaults. What `WatchdogSec=` and `RuntimeMaxSec=` are for.
    Hang,
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
            Behaviour::Hang => "hang",
        }
    }
}
