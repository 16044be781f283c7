//! Stop strategies: one file each, behind one trait. They run inside the
//! sandbox init, against a victim that init started.

mod cgroup;
pub mod exec_line;
mod execstoppost;
pub mod helper_end;
mod pidfd;
mod pkill;
mod plain_kill;
pub mod steps;
mod timeout_k;
pub mod tools;

use crate::sandbox::inside::Inside;
use crate::scenario::{StrategyConfig, StrategyKind};
use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

/// The victim as a strategy may know it.
pub struct VictimHandle<'a> {
    pub pid: i32,
    /// Taken at spawn (`CLONE_PIDFD`); only `pidfd` uses it.
    pub pidfd: Option<&'a OwnedFd>,
    /// argv joined, as `pkill -f` sees it.
    pub cmdline: &'a str,
    /// argv[0]: the default `pkill -f` pattern.
    pub program: &'a str,
    /// The victim's own cgroup, for strategies that need one.
    pub cgroup: Option<&'a std::path::Path>,
    /// The executable it runs, as `/proc/PID/exe` names it: an init
    /// script's `DAEMON`.
    pub exe: &'a str,
    /// Its pidfile, where the scenario gives it one.
    pub pidfile: Option<&'a std::path::Path>,
    /// `(uid, gid)` it runs as, when not root: a unit's `ExecStop=` runs as
    /// the service's user, so a stop tool's commands do too.
    pub user: Option<(u32, u32)>,
}

/// What a strategy reports about its own run. Races and ESRCH are data here.
#[derive(Debug, Default, Clone)]
pub struct StopReport {
    /// When the strategy began its final phase (final signal or ExecStopPost).
    pub final_phase_at: Option<Instant>,
    /// For number-addressing strategies: the number belonged to another
    /// process when it was signalled (at any of its signals).
    pub pid_reused: Option<bool>,
    /// The strategy itself failed (not the stop): e.g. a helper did not start.
    pub error: Option<String>,
    /// One race window per signal sent by number (see [`race_window`]).
    pub windows: Vec<Duration>,
    /// For number-addressing strategies: how long the victim's number was
    /// free before the strategy next acted on it (see [`Exposure`]).
    pub exposure: Option<Exposure>,
    /// A signal by number was refused with EPERM (another user's process).
    pub eperm: bool,
    /// What the strategy saw beyond the numbers (a helper's message).
    pub note: Option<String>,
    /// How each program it ran ended (`killall: exit 1: ...`), in order.
    pub helpers: Vec<String>,
}

impl StopReport {
    /// Adds a repeated stop's report (`repeat_after`): its windows, acts
    /// and failures join the first stop's; the first stop's timing stays.
    pub fn absorb_repeat(&mut self, again: StopReport) {
        self.windows.extend(again.windows);
        self.pid_reused = match (self.pid_reused, again.pid_reused) {
            (None, None) => None,
            (a, b) => Some(a.unwrap_or(false) || b.unwrap_or(false)),
        };
        self.error = self.error.take().or(again.error);
        self.eperm |= again.eperm;
        if let Some(note) = again.note {
            let note = format!("repeated stop: {note}");
            self.note = Some(match self.note.take() {
                Some(first) => format!("{first}; {note}"),
                None => note,
            });
        }
        self.helpers
            .extend(again.helpers.into_iter().map(|h| format!("repeated: {h}")));
    }
}

/// The race window of one signal sent by number: from the last moment the
/// strategy knew the number was the victim's (`knew`: it read the number,
/// or saw it alive) to the moment its signal landed. If the victim's number
/// was freed before `knew` (a stale pidfile), the knowledge was already
/// stale: the window opens when the number was freed.
pub fn race_window(knew: Instant, landed: Instant, freed: Option<Instant>) -> Duration {
    let opened = match freed {
        Some(freed) if freed < knew => freed,
        _ => knew,
    };
    landed.saturating_duration_since(opened)
}

/// The exposure of one stop: from the victim's death (its number free) to
/// the strategy's first act on the number after it: a signal, or a
/// `kill -0` or `ps -p` probe whose answer decides what comes next. Had a
/// newcomer taken the number within the gap, that act would have found it
/// alive and taken it for the daemon. Recorded in every trial, whether or
/// not a signal followed: a poll that finds the number gone was exposed
/// until that probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Exposure {
    /// Death to the first act on the number after it; zero when no act came
    /// after the death (the victim died of the last signal, or survived).
    pub gap: Duration,
    /// From that act to the signal the strategy sends when the act finds
    /// the number alive: the rest of a poll's timeout, zero for a signal or
    /// a check followed at once by a kill. A newcomer must live that long
    /// too for the signal to hit it.
    pub follow: Duration,
}

impl Exposure {
    /// The exposure from acts `(when, follow)` on the number, in any order,
    /// and the moment the number was freed (`None`: never).
    pub fn first_after(freed: Option<Instant>, acts: &[(Instant, Duration)]) -> Self {
        let Some(freed) = freed else {
            return Self::default();
        };
        acts.iter()
            .filter(|(at, _)| *at >= freed)
            .min_by_key(|(at, _)| *at)
            .map_or_else(Self::default, |&(at, follow)| Self {
                gap: at - freed,
                follow,
            })
    }
}

/// What a strategy's race window is, as the report and the model say it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowKind {
    /// Signals a number it learned earlier: measured in every trial.
    Number,
    /// Matches names (`pkill -f`), then signals the numbers it found: the
    /// window is its scan-to-kill time, measured; its name misfires are
    /// another risk, which the reuse model does not cover.
    Name,
    /// Holds the process itself (pidfd) or its cgroup: no number is ever
    /// reused under it, so there is no window.
    NoneByConstruction,
    /// Runs inside the sandboxed systemd, whose helpers are not traced.
    NotMeasured,
}

impl StrategyKind {
    pub fn window_kind(self) -> WindowKind {
        match self {
            StrategyKind::PlainKill
            | StrategyKind::ExecstoppostCheck
            | StrategyKind::Command
            | StrategyKind::StartStopDaemon
            | StrategyKind::InitDScript
            | StrategyKind::Killproc
            | StrategyKind::Openrc
            | StrategyKind::ProcessGroup => WindowKind::Number,
            StrategyKind::PkillF | StrategyKind::Killall | StrategyKind::PidofKill => {
                WindowKind::Name
            }
            StrategyKind::Pidfd | StrategyKind::Cgroup | StrategyKind::TimeoutK => {
                WindowKind::NoneByConstruction
            }
            StrategyKind::Systemd => WindowKind::NotMeasured,
        }
    }
}

pub trait StopStrategy: Send + Sync {
    fn kind(&self) -> StrategyKind;
    /// Whether the victim must be born in a cgroup of its own.
    fn needs_cgroup(&self) -> bool {
        false
    }
    /// Words the victim's command line runs under (a supervisor such as
    /// `timeout`), which then is its main process; `None`: the command alone.
    fn victim_prefix(&self) -> Option<Vec<String>> {
        None
    }
    /// Stops the victim, returning when the strategy considers itself done.
    /// `requested` is the stop request's instant: timeouts count from it.
    fn stop(&self, inside: &Inside, victim: &VictimHandle<'_>, requested: Instant) -> StopReport;
}

/// Builds the strategy a scenario entry names.
pub fn build(config: &StrategyConfig) -> Box<dyn StopStrategy> {
    let config = config.clone();
    match config.kind {
        StrategyKind::PlainKill => Box::new(plain_kill::PlainKill(config)),
        StrategyKind::ExecstoppostCheck => Box::new(execstoppost::ExecStopPostCheck(config)),
        StrategyKind::PkillF => Box::new(pkill::PkillF(config)),
        StrategyKind::Pidfd => Box::new(pidfd::Pidfd(config)),
        StrategyKind::Cgroup => Box::new(cgroup::CgroupKill(config)),
        StrategyKind::Systemd => Box::new(SystemdUnit),
        StrategyKind::TimeoutK => Box::new(timeout_k::TimeoutK(config)),
        kind if kind.is_stop_tool() => Box::new(tools::StopTool(config)),
        kind => unreachable!("every kind is built: `{}`", kind.name()),
    }
}

/// The `systemd` strategy: systemd starts and stops its victim, so its
/// trials are run by the trial runner inside the sandboxed systemd, not
/// through this trait; this only stands in its place.
struct SystemdUnit;

impl StopStrategy for SystemdUnit {
    fn kind(&self) -> StrategyKind {
        StrategyKind::Systemd
    }

    fn stop(&self, _: &Inside, _: &VictimHandle<'_>, _: Instant) -> StopReport {
        StopReport {
            error: Some("the systemd strategy runs only inside the sandboxed systemd".into()),
            ..StopReport::default()
        }
    }
}

/// Records what a helper's end means for the stop: a failed helper makes
/// the trial an error, a refused signal an `eperm`, and whatever it said on
/// stderr goes into the trial's note.
fn note_helper(
    report: &mut StopReport,
    argv: &[String],
    run: &crate::sandbox::inside::HelperRun,
    ignore_failure: bool,
) {
    match helper_end::judge(argv, run.cause, &run.stderr, ignore_failure) {
        helper_end::HelperEnd::Done => {}
        helper_end::HelperEnd::Refused => report.eperm = true,
        helper_end::HelperEnd::Failed(why) => {
            report.error.get_or_insert(why);
        }
    }
    let said = helper_end::first_lines(&run.stderr);
    if !said.is_empty() {
        let program = helper_end::program(argv);
        let line = if said.starts_with(&format!("{program}:")) {
            said
        } else {
            format!("{program}: {said}")
        };
        match &mut report.note {
            Some(note) if !note.contains(&line) => {
                note.push_str("; ");
                note.push_str(&line);
            }
            Some(_) => {}
            None => report.note = Some(line),
        }
    }
}

/// How long a helper command may run before the tool calls it hung.
const HELPER_LIMIT: Duration = Duration::from_secs(30);

/// Quotes a word for `/bin/sh -c` only when it needs it.
fn shell_word(word: &str) -> String {
    if !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-=:,+@%".contains(c))
    {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::{race_window, shell_word};
    use std::time::{Duration, Instant};

    #[test]
    fn a_window_opens_at_the_knowledge_or_at_an_earlier_free() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        // Alive when checked at t0, freed later: the window is check to kill.
        assert_eq!(race_window(t0, t0 + ms(3), Some(t0 + ms(1))), ms(3));
        // Freed 200 ms before the number was read (stale pidfile).
        assert_eq!(race_window(t0 + ms(200), t0 + ms(201), Some(t0)), ms(201));
        assert_eq!(race_window(t0, t0 + ms(2), None), ms(2));
    }

    #[test]
    fn quotes_only_what_needs_it() {
        assert_eq!(shell_word("/usr/bin/foo_daemon"), "/usr/bin/foo_daemon");
        assert_eq!(shell_word("foo daemon"), "'foo daemon'");
        assert_eq!(shell_word("it's"), r"'it'\''s'");
    }
}
