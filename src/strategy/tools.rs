//! The stop tools people run, and a team's own stop command, as the command
//! lines they are (see steps.rs for how each runs and is read). Each kind
//! builds the lines its users write: start-stop-daemon as an init script
//! calls it, Debian's `init-d-script` two-pass stop, LSB `killproc`, psmisc
//! `killall`, `pidof | xargs kill`, a kill of the process group.

use super::steps::{self, Step, Steps};
use super::{StopReport, StopStrategy, VictimHandle};
use crate::sandbox::inside::Inside;
use crate::scenario::{Match, StrategyConfig, StrategyKind};
use std::time::{Duration, Instant};

pub struct StopTool(pub StrategyConfig);

/// Beyond a start-stop-daemon schedule's own length: its start and the
/// reads of /proc between signals.
const SCHEDULE_SLACK: Duration = Duration::from_secs(2);

/// OpenRC's own start-stop-daemon inside the trixie root, where
/// scripts/setup-systemd --trixie unpacks Debian 13's openrc package (on a
/// Debian host the package conflicts with sysvinit; Debian 12's does not
/// ship this program).
pub const OPENRC_SSD: &str = "/opt/openrc/usr/lib/rc/sbin/start-stop-daemon";

/// `killproc` calls start-stop-daemon with `--retry 5`, which it fixes.
const KILLPROC_RETRY: &str = "5";

impl StopStrategy for StopTool {
    fn kind(&self) -> StrategyKind {
        self.0.kind
    }

    fn stop(&self, inside: &Inside, victim: &VictimHandle<'_>, requested: Instant) -> StopReport {
        steps::run(
            inside,
            victim,
            requested,
            self.0.timeout.0,
            self.steps(victim),
        )
    }
}

impl StopTool {
    /// The command lines of this tool's stop of `victim`.
    pub fn steps(&self, victim: &VictimHandle<'_>) -> Result<Steps, String> {
        let c = &self.0;
        let target = Target {
            name: self.name(victim),
            daemon: c.exec.clone().unwrap_or_else(|| victim.exe.to_string()),
            pidfile: victim.pidfile.map(|p| p.display().to_string()),
            pid: victim.pid,
        };
        let mut steps = Steps {
            limit: c.timeout.0,
            user: victim.user,
            ..Steps::default()
        };
        match c.kind {
            StrategyKind::Command => return self.command(victim, target.pidfile),
            StrategyKind::StartStopDaemon
            | StrategyKind::InitDScript
            | StrategyKind::Killproc
            | StrategyKind::Openrc => by_pidfile(c, &target, &mut steps)?,
            StrategyKind::Killall | StrategyKind::PidofKill | StrategyKind::ProcessGroup => {
                by_name_or_group(c, &target, &mut steps)?
            }
            kind => return Err(format!("`{}` is not a stop tool", kind.name())),
        }
        Ok(steps)
    }

    /// `command`: the scenario's `exec_stop` (and `exec_stop_post`), as
    /// systemd executes `ExecStop=` lines, with `$MAINPID`, `$PIDFILE` and
    /// `$PGID` substituted as systemd substitutes its variables and set in
    /// the environment for a shell to expand.
    fn command(&self, victim: &VictimHandle<'_>, pidfile: Option<String>) -> Result<Steps, String> {
        let vars = [
            ("MAINPID", Some(victim.pid.to_string())),
            ("PIDFILE", pidfile),
            ("PGID", Some(victim.pid.to_string())),
        ];
        let env: Vec<(String, String)> = vars
            .iter()
            .filter_map(|(k, v)| v.clone().map(|v| (k.to_string(), v)))
            .collect();
        let step = |line: &str| -> Result<Step, String> {
            let argv =
                super::exec_line::argv_with(line, &vars).map_err(|e| format!("`{line}`: {e}"))?;
            Ok(Step {
                argv,
                env: env.clone(),
                ignore_failure: line.trim_start().starts_with('-'),
            })
        };
        let exec_stop = self
            .0
            .exec_stop
            .as_deref()
            .ok_or("`command` needs `exec_stop`")?;
        let mut steps = Steps {
            limit: self.0.timeout.0,
            first: vec![step(exec_stop)?],
            last: Vec::new(),
            user: victim.user,
        };
        if let Some(post) = &self.0.exec_stop_post {
            steps.last.push(step(post)?);
        }
        Ok(steps)
    }

    /// The process name the tool looks for: the scenario's, or the base
    /// name of the victim's program as written (its `comm`).
    fn name(&self, victim: &VictimHandle<'_>) -> String {
        self.0.name.clone().unwrap_or_else(|| {
            let program = victim.program.rsplit('/').next().unwrap_or(victim.program);
            program.to_string()
        })
    }
}

/// The `[Service]` lines of a unit that stops its daemon with this tool:
/// its command lines as `ExecStop=` and `ExecStopPost=`, with the number
/// as systemd's `$MAINPID` (for the report and `stopbench unit`).
pub fn unit_lines(c: &StrategyConfig, s: &crate::scenario::Scenario, exe: &str) -> Vec<String> {
    // A stand-in number, written back as the variable it stands for.
    const MARK: i32 = i32::MAX - 1;
    let victim = VictimHandle {
        pid: MARK,
        pidfd: None,
        cmdline: "",
        program: &s.victim.command.0[0],
        cgroup: None,
        exe,
        pidfile: s.victim.pidfile.as_ref().map(|p| p.0.as_path()),
        user: None,
    };
    let line = |step: &Step| {
        let words: Vec<String> = step
            .argv
            .iter()
            .map(|w| super::shell_word(&w.replace(&MARK.to_string(), "$MAINPID")))
            .collect();
        let env: Vec<String> = step
            .env
            .iter()
            .map(|(k, v)| format!("{k}={}", v.replace(&MARK.to_string(), "$MAINPID")))
            .collect();
        (words.join(" "), env)
    };
    let mut lines = vec![format!("TimeoutStopSec={}", c.timeout)];
    match StopTool(c.clone()).steps(&victim) {
        Ok(steps) => {
            for (key, phase) in [("ExecStop", &steps.first), ("ExecStopPost", &steps.last)] {
                for step in phase {
                    let (words, env) = line(step);
                    if !env.is_empty() {
                        lines.push(format!("# with {}", env.join(" ")));
                    }
                    lines.push(format!("{key}={words}"));
                }
            }
        }
        Err(why) => lines.push(format!("# cannot be built: {why}")),
    }
    lines
}

/// What a tool is told about the daemon.
struct Target {
    /// The process name it looks for.
    name: String,
    /// The daemon's executable (`DAEMON`).
    daemon: String,
    pidfile: Option<String>,
    /// The victim's number, which is also its process group's.
    pid: i32,
}

/// The tools that start from the pidfile (all but killproc's schedule are
/// the scenario's): start-stop-daemon, init-d-script, killproc, OpenRC.
fn by_pidfile(c: &StrategyConfig, t: &Target, steps: &mut Steps) -> Result<(), String> {
    match c.kind {
        StrategyKind::StartStopDaemon => {
            let schedule = c.retry_schedule();
            steps.limit = schedule_limit(&[&schedule])?;
            let mut argv = vec![
                program("start-stop-daemon")?,
                "--stop".into(),
                format!("--retry={schedule}"),
            ];
            for m in c.matches() {
                match m {
                    Match::Pidfile => argv.extend(["--pidfile".into(), need(&t.pidfile)?]),
                    Match::Name => argv.extend(["--name".into(), comm(&t.name)]),
                    Match::Exec => argv.extend(["--exec".into(), t.daemon.clone()]),
                }
            }
            steps.first.push(Step::new(argv));
        }
        StrategyKind::InitDScript => {
            let (first, second) = (c.retry_schedule(), c.second_retry_schedule());
            steps.limit = schedule_limit(&[&first, &second])?;
            let env = [
                ("RETRY", first),
                ("RETRY2", second),
                ("PIDFILE", t.pidfile.clone().unwrap_or_default()),
                ("COMMAND_NAME", comm(&t.name)),
                ("DAEMON", t.daemon.clone()),
            ];
            steps.first.push(Step::script(INIT_D_SCRIPT_STOP, &env));
        }
        StrategyKind::Killproc => {
            steps.limit = schedule_limit(&[KILLPROC_RETRY])?;
            let env = [("PIDFILE", need(&t.pidfile)?), ("DAEMON", t.daemon.clone())];
            let script = ". /lib/lsb/init-functions; killproc -p \"$PIDFILE\" \"$DAEMON\"";
            steps.first.push(Step::script(script, &env));
        }
        _ => {
            let schedule = c.retry_schedule();
            steps.limit = schedule_limit(&[&schedule])?;
            let root = crate::systemd::root_dir(crate::scenario::SystemdRoot::Trixie);
            let argv = [
                &program("chroot")?,
                &root.display().to_string(),
                OPENRC_SSD,
                "--stop",
                "--pidfile",
                &need(&t.pidfile)?,
                "--retry",
                &schedule,
            ];
            steps.first.push(Step::new(argv.map(String::from).to_vec()));
        }
    }
    Ok(())
}

/// The tools that find the daemon by name (killall, pidof) or signal its
/// process group; each has a first signal and, after the wait, a final one.
fn by_name_or_group(c: &StrategyConfig, t: &Target, steps: &mut Steps) -> Result<(), String> {
    let (sig, fin) = (c.kill_signal.short_name(), c.final_signal.short_name());
    match c.kind {
        StrategyKind::Killall => {
            let killall = program("killall")?;
            let mut first = vec![killall.clone()];
            first.extend(c.wait.then(|| "-w".to_string()));
            first.extend(["-s".into(), sig.into(), t.name.clone()]);
            steps.first.push(Step::new(first));
            let last = vec![killall, "-s".into(), fin.into(), t.name.clone()];
            steps.last.push(Step::new(last));
        }
        StrategyKind::PidofKill => {
            for (signal, phase) in [(sig, &mut steps.first), (fin, &mut steps.last)] {
                let script = format!("pidof \"$NAME\" | xargs -r kill -{signal}");
                phase.push(Step::script(&script, &[("NAME", t.name.clone())]));
            }
        }
        _ => {
            // The victim leads a process group of its own: its number.
            let group = format!("-{}", t.pid);
            let first = vec![program("kill")?, format!("-{sig}"), "--".into(), group];
            steps.first.push(Step::new(first));
            let check =
                format!("/bin/kill -0 -- -\"$PGID\" 2>/dev/null && /bin/kill -{fin} -- -\"$PGID\"");
            let pgid = [("PGID", t.pid.to_string())];
            steps.last.push(Step::script(&check, &pgid));
        }
    }
    Ok(())
}

/// Debian's init-d-script stop (`do_stop_cmd` in /lib/init/init-d-script):
/// a first pass by pidfile, name and executable, then a second by the
/// executable alone, then the pidfile removed. The schedules come from
/// `$RETRY` and `$RETRY2` so a trial can shorten them.
const INIT_D_SCRIPT_STOP: &str = r#"start-stop-daemon --stop --quiet --retry="$RETRY" ${PIDFILE:+--pidfile "$PIDFILE"} ${COMMAND_NAME:+--name "$COMMAND_NAME"} ${DAEMON:+--exec "$DAEMON"}
RETVAL="$?"
[ "$RETVAL" = 2 ] && exit 2
if [ -n "$DAEMON" ]; then
    start-stop-daemon --stop --quiet --oknodo --retry="$RETRY2" --exec "$DAEMON"
    [ "$?" = 2 ] && exit 2
fi
rm -f $PIDFILE
exit $RETVAL"#;

/// A name as `/proc/PID/stat` holds it: 15 bytes at most, which
/// start-stop-daemon's `--name` is compared with.
fn comm(name: &str) -> String {
    name.chars().take(15).collect()
}

/// The program's path as systemd would find it; a missing tool is said.
fn program(name: &str) -> Result<String, String> {
    crate::scenario::program::resolve(name)
        .map(|p| p.display().to_string())
        .map_err(|e| e.to_string())
}

fn need(pidfile: &Option<String>) -> Result<String, String> {
    pidfile
        .clone()
        .ok_or_else(|| "this tool reads the daemon's pidfile: set `[victim] pidfile`".into())
}

/// How long schedules may run one after another, with their slack.
fn schedule_limit(schedules: &[&str]) -> Result<Duration, String> {
    let mut seconds = 0;
    for s in schedules {
        seconds += crate::scenario::retry::longest_seconds(s)?;
    }
    Ok(Duration::from_secs(seconds) + SCHEDULE_SLACK)
}

/// The programs a kind runs, each with the Debian package that ships it.
fn needed_programs(kind: StrategyKind) -> &'static [(&'static str, &'static str)] {
    match kind {
        StrategyKind::StartStopDaemon | StrategyKind::InitDScript => {
            &[("start-stop-daemon", "dpkg")]
        }
        StrategyKind::Killproc => &[
            ("start-stop-daemon", "dpkg"),
            ("/lib/lsb/init-functions", "sysvinit-utils"),
        ],
        StrategyKind::Killall => &[("killall", "psmisc")],
        StrategyKind::PidofKill => &[
            ("pidof", "sysvinit-utils"),
            ("xargs", "findutils"),
            ("kill", "procps"),
        ],
        StrategyKind::ProcessGroup | StrategyKind::PlainKill => &[("kill", "procps")],
        StrategyKind::TimeoutK => &[("/usr/bin/timeout", "coreutils")],
        StrategyKind::Openrc => &[("chroot", "coreutils")],
        StrategyKind::PkillF => &[("pkill", "procps")],
        StrategyKind::ExecstoppostCheck => &[("ps", "procps"), ("kill", "procps")],
        _ => &[],
    }
}

/// Why a kind cannot run here: a program it runs is missing. A strategy
/// that cannot run is reported unavailable, never run as a clean stop.
pub fn missing_program(kind: StrategyKind) -> Option<String> {
    if kind == StrategyKind::Openrc {
        let root = crate::systemd::root_dir(crate::scenario::SystemdRoot::Trixie);
        let ssd = root.join(OPENRC_SSD.trim_start_matches('/'));
        if !ssd.exists() {
            return Some(format!(
                "OpenRC's start-stop-daemon is not prepared at `{}`: run scripts/setup-systemd --trixie (as root)",
                ssd.display()
            ));
        }
    }
    missing_among(kind, |name| {
        if name.starts_with('/') {
            std::path::Path::new(name).exists()
        } else {
            crate::scenario::program::resolve(name).is_ok()
        }
    })
}

/// The first program of `kind` that `installed` says is missing.
fn missing_among(kind: StrategyKind, installed: impl Fn(&str) -> bool) -> Option<String> {
    needed_programs(kind).iter().find_map(|(name, package)| {
        (!installed(name)).then(|| {
            format!(
                "`{name}` is not installed (Debian package {package}; scripts/setup installs it)"
            )
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_program_names_its_package() {
        let without_psmisc = |name: &str| name != "killall";
        assert_eq!(
            missing_among(StrategyKind::Killall, without_psmisc).as_deref(),
            Some("`killall` is not installed (Debian package psmisc; scripts/setup installs it)")
        );
        assert_eq!(missing_among(StrategyKind::PidofKill, without_psmisc), None);
        let without_lsb = |name: &str| name != "/lib/lsb/init-functions";
        assert!(missing_among(StrategyKind::Killproc, without_lsb)
            .unwrap()
            .contains("sysvinit-utils"));
        // Every tool this machine has: none is missing (scripts/setup ran).
        for kind in StrategyKind::ALL {
            assert_eq!(missing_program(kind), None, "{}", kind.name());
        }
    }

    #[test]
    fn init_d_script_runs_the_two_passes() {
        let c: StrategyConfig = toml::from_str("kind = \"init-d-script\"").unwrap();
        let victim = VictimHandle {
            pid: 42,
            pidfd: None,
            cmdline: "/usr/sbin/foo_daemon -f",
            program: "/usr/sbin/foo_daemon",
            cgroup: None,
            exe: "/usr/sbin/foo_daemon",
            pidfile: Some(std::path::Path::new("/run/foo.pid")),
            user: None,
        };
        let steps = StopTool(c).steps(&victim).unwrap();
        let env: std::collections::HashMap<_, _> = steps.first[0].env.iter().cloned().collect();
        assert_eq!(env["RETRY"], "TERM/0/CONT/30/KILL/5");
        assert_eq!(env["RETRY2"], "0/30/KILL/5");
        assert_eq!(env["COMMAND_NAME"], "foo_daemon");
        assert_eq!(env["DAEMON"], "/usr/sbin/foo_daemon");
        // Both schedules, one after the other, plus slack.
        assert_eq!(steps.limit, Duration::from_secs(72));
        assert!(steps.last.is_empty());
    }
}
