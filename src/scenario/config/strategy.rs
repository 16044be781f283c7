//! `[[strategy]]`: how the victim is stopped, and the keys each kind takes.

use super::name::ScenarioName;
use crate::scenario::duration::HumanDuration;
use crate::scenario::signal::StopSignal;
use serde::{Deserialize, Serialize};
use std::time::Duration;

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
