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
    /// `start-stop-daemon`, `init-d-script`: the `--retry` schedule, as
    /// start-stop-daemon reads it (`TERM/30/KILL/5`; whole seconds).
    #[serde(default)]
    pub retry: Option<String>,
    /// `init-d-script`: the schedule of its second pass, by `--exec` only.
    #[serde(default)]
    pub second_retry: Option<String>,
    /// `start-stop-daemon`: how it tells the daemon (`--pidfile`, `--name`,
    /// `--exec`); by default the pidfile alone.
    #[serde(default, rename = "match")]
    pub matching: Option<Vec<Match>>,
    /// `start-stop-daemon`, `init-d-script`, `killproc`: the daemon's
    /// executable (`DAEMON`); by default the victim's.
    #[serde(default)]
    pub exec: Option<String>,
    /// `start-stop-daemon`, `init-d-script`, `killall`, `pidof-kill`: the
    /// process name they look for; by default the executable's base name.
    #[serde(default)]
    pub name: Option<String>,
    /// `killall`: `-w`, wait until the killed processes are gone.
    #[serde(default)]
    pub wait: bool,
    /// Any kind: who takes the victim's number under forced reuse in this
    /// strategy's trials, instead of `[churn] newcomer`.
    #[serde(default)]
    pub newcomer: Option<super::churn::Newcomer>,
    /// Any kind but `systemd`: run the whole stop again this long after the
    /// first ended, on the dead daemon's old number and pidfile: a second
    /// `stop`, or a restart's `ExecStop=`. Its misfires are the trial's.
    #[serde(default)]
    pub repeat_after: Option<HumanDuration>,
    /// `systemd`: `WatchdogSec=`. No `systemctl stop`: systemd itself
    /// kills a victim that stopped sending `WATCHDOG=1` (a `hang` victim),
    /// and the latency runs from its last ping to its death.
    #[serde(default)]
    pub watchdog: Option<HumanDuration>,
    /// `systemd`: `WatchdogSignal=` (systemd's default: SIGABRT).
    #[serde(default)]
    pub watchdog_signal: Option<StopSignal>,
    /// `systemd`: `RuntimeMaxSec=`. No `systemctl stop`: systemd stops the
    /// unit when it has been active this long, and the latency runs from
    /// that moment to the death.
    #[serde(default)]
    pub runtime_max: Option<HumanDuration>,
    /// `systemd`: a whole unit file, verbatim: the user's own unit (see
    /// `stopbench service`). systemd runs it as written, with its own
    /// `ExecStart=`; stopbench adds one drop-in that records how the stop
    /// ended. The other unit keys do not apply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// `systemd` with `unit`: drop-ins, verbatim, in order (the unit's own
    /// `UNIT.d/*.conf`, then a what-if's change).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unit_dropins: Vec<String>,
}

/// What `start-stop-daemon --stop` matches a process by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Match {
    /// `--pidfile`: the number in the victim's pidfile.
    Pidfile,
    /// `--name`: the process name (`/proc/PID/stat`, 15 characters).
    Name,
    /// `--exec`: the executable (device and inode of `/proc/PID/exe`).
    Exec,
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
            StrategyKind::Killall if self.wait => "killall-w".into(),
            kind => kind.name().to_string(),
        }
    }
}

impl StrategyConfig {
    /// What `start-stop-daemon` matches the daemon by.
    pub fn matches(&self) -> Vec<Match> {
        self.matching
            .clone()
            .unwrap_or_else(|| vec![Match::Pidfile])
    }

    /// The `--retry` schedule of `start-stop-daemon` and of
    /// `init-d-script`'s first pass: the scenario's, or by default the kill
    /// signal, the timeout in whole seconds (at least one), then the final
    /// signal and one more second.
    pub fn retry_schedule(&self) -> String {
        if let Some(r) = &self.retry {
            return r.clone();
        }
        match self.kind {
            StrategyKind::InitDScript => "TERM/0/CONT/30/KILL/5".into(),
            _ => format!(
                "{}/{}/{}/1",
                self.kill_signal.short_name(),
                self.timeout.0.as_secs_f64().ceil().max(1.0),
                self.final_signal.short_name()
            ),
        }
    }

    /// `init-d-script`'s second pass, by `--exec` alone.
    pub fn second_retry_schedule(&self) -> String {
        self.second_retry
            .clone()
            .unwrap_or_else(|| "0/30/KILL/5".into())
    }

    /// What this kind needs beyond its keys' own values: the key at fault
    /// and why. `has_pidfile`: the victim writes one; `exec_victim`: it is
    /// a real program.
    pub fn check_needs(
        &self,
        has_pidfile: bool,
        exec_victim: bool,
    ) -> Result<(), (&'static str, String)> {
        let kind = self.kind.name();
        let schedules = [
            ("retry", self.retry.as_deref()),
            ("second_retry", self.second_retry.as_deref()),
        ];
        for (key, schedule) in schedules {
            if let Some(text) = schedule {
                crate::scenario::retry::longest_seconds(text).map_err(|e| (key, e))?;
            }
        }
        if self.watchdog_signal.is_some() && self.watchdog.is_none() {
            return Err((
                "watchdog_signal",
                "`watchdog_signal` is WatchdogSignal=, which needs `watchdog` (WatchdogSec=)"
                    .into(),
            ));
        }
        if self.watchdog.is_some() && self.runtime_max.is_some() {
            return Err((
                "runtime_max",
                "a trial ends by one of systemd's own stops: give `watchdog` or `runtime_max`, not both".into(),
            ));
        }
        if self.repeat_after.is_some() && self.kind == StrategyKind::Systemd {
            return Err((
                "repeat_after",
                "a `systemd` unit is stopped once per trial; repeat the stop with a tool strategy"
                    .into(),
            ));
        }
        let needs_pidfile = match self.kind {
            StrategyKind::Command if self.exec_stop.is_none() => {
                return Err((
                    "exec_stop",
                    "`command` needs `exec_stop`: the stop command line, as a unit's ExecStop="
                        .into(),
                ))
            }
            StrategyKind::StartStopDaemon => {
                if self.matches().is_empty() {
                    return Err((
                        "match",
                        "start-stop-daemon --stop needs at least one of pidfile, name, exec".into(),
                    ));
                }
                self.matches().contains(&Match::Pidfile)
            }
            StrategyKind::Killproc | StrategyKind::Openrc => true,
            StrategyKind::TimeoutK if !exec_victim => {
                return Err((
                    "kind",
                    "`timeout-k` runs the victim's program under timeout: it needs `[victim] behaviour = \"exec\"`".into(),
                ))
            }
            _ => false,
        };
        if needs_pidfile && !has_pidfile {
            return Err((
                "kind",
                format!("`{kind}` reads the daemon's pidfile: set `[victim] pidfile`, e.g. \"/run/foo_daemon.pid\""),
            ));
        }
        Ok(())
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
    Command,
    StartStopDaemon,
    InitDScript,
    Killproc,
    Killall,
    PidofKill,
    ProcessGroup,
    TimeoutK,
    Openrc,
}

impl StrategyKind {
    pub const ALL: [StrategyKind; 15] = [
        StrategyKind::PlainKill,
        StrategyKind::ExecstoppostCheck,
        StrategyKind::PkillF,
        StrategyKind::Pidfd,
        StrategyKind::Cgroup,
        StrategyKind::Systemd,
        StrategyKind::Command,
        StrategyKind::StartStopDaemon,
        StrategyKind::InitDScript,
        StrategyKind::Killproc,
        StrategyKind::Killall,
        StrategyKind::PidofKill,
        StrategyKind::ProcessGroup,
        StrategyKind::TimeoutK,
        StrategyKind::Openrc,
    ];

    pub fn name(self) -> &'static str {
        match self {
            StrategyKind::PlainKill => "plain-kill",
            StrategyKind::ExecstoppostCheck => "execstoppost-check",
            StrategyKind::PkillF => "pkill-f",
            StrategyKind::Pidfd => "pidfd",
            StrategyKind::Cgroup => "cgroup",
            StrategyKind::Systemd => "systemd",
            StrategyKind::Command => "command",
            StrategyKind::StartStopDaemon => "start-stop-daemon",
            StrategyKind::InitDScript => "init-d-script",
            StrategyKind::Killproc => "killproc",
            StrategyKind::Killall => "killall",
            StrategyKind::PidofKill => "pidof-kill",
            StrategyKind::ProcessGroup => "process-group",
            StrategyKind::TimeoutK => "timeout-k",
            StrategyKind::Openrc => "openrc",
        }
    }

    /// A stop tool or a team's own command: command lines run by
    /// strategy::tools (and shown as a unit's `ExecStop=` lines).
    pub fn is_stop_tool(self) -> bool {
        matches!(
            self,
            StrategyKind::Command
                | StrategyKind::StartStopDaemon
                | StrategyKind::InitDScript
                | StrategyKind::Killproc
                | StrategyKind::Killall
                | StrategyKind::PidofKill
                | StrategyKind::Openrc
                | StrategyKind::ProcessGroup
        )
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
                "watchdog",
                "watchdog_signal",
                "runtime_max",
                "unit",
                "unit_dropins",
            ],
            StrategyKind::Command => &["exec_stop", "exec_stop_post"],
            StrategyKind::StartStopDaemon => &["retry", "match", "exec", "name"],
            StrategyKind::InitDScript => &["retry", "second_retry", "exec", "name"],
            StrategyKind::Killproc => &["exec"],
            StrategyKind::Killall => &["name", "wait"],
            StrategyKind::PidofKill => &["name"],
            StrategyKind::ProcessGroup => &[],
            StrategyKind::TimeoutK => &[],
            StrategyKind::Openrc => &["retry"],
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
            StrategyKind::Command => {
                "your own stop command: exec_stop run as systemd runs ExecStop= (no shell unless the line names one; $MAINPID, $PIDFILE, $PGID set); wait; exec_stop_post, if any, as ExecStopPost="
            }
            StrategyKind::StartStopDaemon => {
                "dpkg's start-stop-daemon --stop --retry SCHEDULE with --pidfile, --name and/or --exec (match): reads the pidfile, checks the process (kill -0, and its exe's device and inode or name) before every signal, then signals the number"
            }
            StrategyKind::InitDScript => {
                "Debian's init-d-script stop: start-stop-daemon --retry=TERM/0/CONT/30/KILL/5 --pidfile --name --exec, then a second pass --retry=0/30/KILL/5 --exec DAEMON that signals every process running the daemon's executable"
            }
            StrategyKind::Killproc => {
                "LSB killproc -p PIDFILE DAEMON from /lib/lsb/init-functions: start-stop-daemon --stop --retry 5 --name BASENAME --pidfile PIDFILE (the pidfile's number, if its process has the daemon's name)"
            }
            StrategyKind::Killall => {
                "psmisc killall -SIG NAME (wait = true adds -w); wait; killall -KILL NAME: scans /proc for processes named NAME, then signals their numbers"
            }
            StrategyKind::PidofKill => {
                "sh -c 'pidof NAME | xargs -r kill -SIG'; wait; the same with the final signal: pidof scans /proc, kill signals the numbers it printed"
            }
            StrategyKind::ProcessGroup => {
                "kill -SIG -- -PGID (the victim leads its group: PGID = its number); wait; sh -c 'kill -0 -- -PGID && kill -KILL -- -PGID': addresses the group by number"
            }
            StrategyKind::Openrc => {
                "OpenRC's start-stop-daemon --stop --pidfile PIDFILE --retry SCHEDULE (Debian 13's openrc, run in the trixie root): reads the pidfile once, then polls and signals that number with no identity check"
            }
            StrategyKind::TimeoutK => {
                "the victim runs under timeout -s SIG -k TIMEOUT, its main process and group leader; the stop signals timeout, which passes it to its group (kill 0) and SIGKILLs the group after TIMEOUT; exec victims only"
            }
        }
    }
}
