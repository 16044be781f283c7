//! Trials of the `systemd` strategy, run by the agent inside a sandboxed
//! systemd: systemd starts the victim as a unit and stops it with
//! `systemctl stop`; stopbench watches, measures from systemd's own
//! timestamps, and keeps the oracle over its churners and bystanders.

use super::course::{Course, Launched, Stopped};
use super::{TrialRunner, QUIESCE_LIMIT, READY_LIMIT};
use crate::oracle::Cause;
use crate::sandbox::error::TrialError;
use crate::sandbox::inside::Inside;
use crate::sandbox::procfs;
use crate::sandbox::spawn::{self, ChildAction, ExecSpec};
use crate::sandbox::table::Role;
use crate::sandbox::victim_tree::{Member, VictimTree};
use crate::scenario::{Behaviour, Scenario, StrategyConfig, StrategyKind};
use crate::systemd::unit::{self, Start};
use rustix::process::{pidfd_open, pidfd_send_signal, Pid, PidfdFlags, Signal};
use std::collections::HashMap;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub fn unit_name(label: &str) -> String {
    format!("stopbench-{label}.service")
}

const SYSTEMCTL: &str = "/bin/systemctl";

/// Writes the unit of every `systemd` strategy into the container's
/// /run/systemd/system and reloads systemd.
pub fn install_units(scenario: &Scenario, exe: &str) -> Result<(), TrialError> {
    let io = |what: String| move |source| TrialError::Io { what, source };
    std::fs::create_dir_all("/run/stopbench").map_err(io("create /run/stopbench".into()))?;
    std::fs::create_dir_all("/run/systemd/system")
        .map_err(io("create /run/systemd/system".into()))?;
    for c in scenario
        .strategies
        .iter()
        .filter(|c| c.kind == StrategyKind::Systemd)
    {
        let name = unit_name(&c.label());
        let files = match &c.unit {
            // The user's own unit, as written, with its drop-ins.
            Some(text) => unit::own_unit_files(&name, text, &c.unit_dropins),
            None => vec![(
                name.clone(),
                unit::service(scenario, c, Start::Simulated { exe }),
            )],
        };
        for (file, text) in files {
            let path = std::path::Path::new("/run/systemd/system").join(file);
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(io(format!("create `{}`", dir.display())))?;
            }
            std::fs::write(&path, text).map_err(io(format!("write `{}`", path.display())))?;
        }
    }
    let out = std::process::Command::new(SYSTEMCTL)
        .arg("daemon-reload")
        .output()
        .map_err(io("run systemctl".into()))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        return Err(TrialError::Reload(stderr.trim().to_string()));
    }
    Ok(())
}

fn argv(words: &[&str]) -> Vec<String> {
    words.iter().map(|w| w.to_string()).collect()
}

/// `systemctl show` as a map.
fn show(
    inside: &Inside,
    unit: &str,
    properties: &str,
) -> Result<HashMap<String, String>, TrialError> {
    let (cause, text) = inside.run_helper_output(
        &argv(&[SYSTEMCTL, "show", unit, "-p", properties]),
        Duration::from_secs(30),
    )?;
    if cause != Cause::Exited(0) {
        return Err(TrialError::Helper {
            command: format!("systemctl show {unit}"),
            cause,
        });
    }
    Ok(text
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect())
}

/// Waits for the main process's exit (its pidfd turns readable) until
/// `done` is set; then, with forced reuse, takes its number for a fresh
/// bystander as soon as systemd has reaped it (set_tid fails with EEXIST
/// until then). Returns when it died and the reuse holder.
fn watch(
    inside: &Inside,
    pidfd: &OwnedFd,
    pid: i32,
    reuse: Option<&ExecSpec>,
    done: &AtomicBool,
) -> (Option<Instant>, Option<i32>) {
    use rustix::event::{poll, PollFd, PollFlags, Timespec};
    let slice = Timespec {
        tv_sec: 0,
        tv_nsec: 5_000_000,
    };
    let died = loop {
        match poll(&mut [PollFd::new(pidfd, PollFlags::IN)], Some(&slice)) {
            Ok(n) if n > 0 => break Instant::now(),
            Err(rustix::io::Errno::INTR) => continue,
            Err(_) => return (None, None),
            Ok(_) if done.load(Ordering::SeqCst) => return (None, None),
            Ok(_) => {}
        }
    };
    let Some(spec) = reuse else {
        return (Some(died), None);
    };
    let limit = Instant::now() + Duration::from_secs(5);
    while Instant::now() < limit {
        let mut table = inside.shared.table.lock();
        match spawn::spawn(
            &ChildAction::Exec(spec),
            inside.devnull.as_raw_fd(),
            Some(pid),
            false,
        ) {
            Ok(child) => {
                table.register(child.pid, Role::ReuseHolder, spec.cmdline().into());
                return (Some(died), Some(child.pid));
            }
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {
                drop(table);
                std::thread::sleep(Duration::from_micros(50));
            }
            Err(_) => break,
        }
    }
    (Some(died), None)
}

/// When the last process of the unit's tree was gone: once the main process
/// exited (its pidfd turns readable), the unit's cgroup is polled through
/// /proc until none of its processes is left, or until `done`. The unit's
/// orphans are systemd's to reap, so this is as close as the agent can see.
fn watch_tree(tree: &VictimTree, pidfd: &OwnedFd, done: &AtomicBool) -> Option<Instant> {
    use rustix::event::{poll, PollFd, PollFlags, Timespec};
    let slice = Timespec {
        tv_sec: 0,
        tv_nsec: 1_000_000,
    };
    loop {
        match poll(&mut [PollFd::new(pidfd, PollFlags::IN)], Some(&slice)) {
            Ok(n) if n > 0 => break,
            Err(rustix::io::Errno::INTR) | Ok(_) if !done.load(Ordering::SeqCst) => {}
            _ => return None,
        }
    }
    loop {
        if tree.members().is_empty() {
            return Some(Instant::now());
        }
        if done.load(Ordering::SeqCst) {
            return None;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// What the recorder line in ExecStopPost= wrote:
/// `RESULT CODE STATUS EXIT_MONOTONIC_US [MAINPID]`.
struct PostRecord {
    result: String,
    code: String,
    status: String,
    /// systemd's `ExecMainExitTimestampMonotonic` (µs, CLOCK_MONOTONIC).
    exit_us: Option<u64>,
    mainpid: String,
}

impl PostRecord {
    /// How the main process ended, as `$EXIT_CODE` and `$EXIT_STATUS` say.
    fn victim_end(&self) -> Option<Cause> {
        match self.code.as_str() {
            "exited" => self.status.parse().ok().map(Cause::Exited),
            "killed" | "dumped" => format!("SIG{}", self.status)
                .parse::<nix::sys::signal::Signal>()
                .ok()
                .map(|s| Cause::Signaled(s as i32)),
            _ => None,
        }
    }
}

fn read_post(path: &str) -> Option<PostRecord> {
    let text = std::fs::read_to_string(path).ok()?;
    let (head, mainpid) = text.trim().split_once('[')?;
    let mut words = head.split_whitespace();
    Some(PostRecord {
        result: words.next().unwrap_or_default().to_string(),
        code: words.next().unwrap_or_default().to_string(),
        status: words.next().unwrap_or_default().to_string(),
        exit_us: words
            .next()
            .and_then(|w| w.parse().ok())
            .filter(|&us| us > 0),
        mainpid: mainpid.trim_end_matches(']').to_string(),
    })
}

/// One trial of a `systemd` strategy: systemd starts the unit and
/// `systemctl stop` stops it.
struct UnitCourse<'c> {
    unit: String,
    config: &'c StrategyConfig,
    /// How long one `systemctl` call may take.
    limit: Duration,
    /// When systemd saw the unit active (`ActiveEnterTimestampMonotonic`,
    /// µs of the CLOCK_MONOTONIC the container shares), for `RuntimeMaxSec=`.
    active_us: Option<u64>,
}

impl Course for UnitCourse<'_> {
    fn start(&mut self, runner: &mut TrialRunner<'_>) -> Result<Launched, TrialError> {
        let (mainpid, pidfd) = runner.start_unit(&self.unit, self.limit)?;
        self.active_us = None;
        if self.config.runtime_max.is_some() {
            let show = argv(&[
                SYSTEMCTL,
                "show",
                "-p",
                "ActiveEnterTimestampMonotonic",
                "--value",
                &self.unit,
            ]);
            let shown = runner.inside.run_helper_output(&show, self.limit);
            self.active_us = shown.ok().and_then(|(_, s)| s.trim().parse().ok());
        }
        // systemd gave the unit a cgroup of its own: the victim's tree is
        // exactly what it holds (read from the main process, as this
        // process's cgroup namespace names it). Its directory, where the
        // container's cgroup2 mount shows it, lists the members at once;
        // without it every process's cgroup is read.
        let cgroup: Option<Arc<str>> = procfs::cgroup(mainpid).map(Into::into);
        let dir = cgroup.as_deref().and_then(|name| {
            let dir = crate::sandbox::cgroup::cgroup2_mount()?.join(name.trim_start_matches('/'));
            dir.join("cgroup.procs").exists().then_some(dir)
        });
        let tree = VictimTree {
            main: mainpid,
            cgroup,
            dir,
            keeper: None,
            snapshot: Vec::new(),
        };
        Ok(Launched {
            tree,
            pidfd: Some(pidfd),
            gone_before_stop: false,
        })
    }

    fn abandon(&mut self, runner: &TrialRunner<'_>) {
        runner.reset_unit(&self.unit);
    }

    fn stop(&mut self, runner: &TrialRunner<'_>, launched: &Launched) -> Stopped {
        let (unit, config, limit) = (&self.unit, self.config, self.limit);
        let post_file = format!("/run/stopbench/{unit}.post");
        let _ = std::fs::remove_file(&post_file);
        let inside = runner.inside;
        let tree = &launched.tree;
        let mainpid = tree.main;
        let Some(pidfd) = launched.pidfd.as_ref() else {
            let now = Instant::now();
            let mut stopped = Stopped::between(now, now);
            stopped.strategy_error = Some(format!("{unit}: no pidfd for its main process"));
            return stopped;
        };
        let reuse_spec = runner.newcomer_spec();
        let done = AtomicBool::new(false);
        let (stop, t0, requested, completed, died, tree_gone, reuse_holder) =
            std::thread::scope(|scope| {
                let done = &done;
                let spec = reuse_spec.as_deref();
                let watcher = scope.spawn(move || watch(inside, pidfd, mainpid, spec, done));
                let tree_watcher = scope.spawn(move || watch_tree(tree, pidfd, done));
                // The container shares the host's CLOCK_MONOTONIC (no time namespace).
                let (t0, requested) = (crate::sys::monotonic_us(), Instant::now());
                let (stop, (t0, requested)) =
                    if config.watchdog.is_some() || config.runtime_max.is_some() {
                        self.systemds_own_stop(runner, pidfd, (t0, requested))
                    } else {
                        let argv = argv(&[SYSTEMCTL, "stop", unit]);
                        (inside.run_helper(&argv, &[], limit), (t0, requested))
                    };
                let completed = Instant::now();
                // A main process still alive a moment after the stop returned survived it.
                std::thread::sleep(Duration::from_millis(20));
                done.store(true, Ordering::SeqCst);
                let (died, holder) = watcher.join().unwrap_or((None, None));
                let tree_gone = tree_watcher.join().unwrap_or(None);
                (stop, t0, requested, completed, died, tree_gone, holder)
            });
        let post = read_post(&post_file);
        let victim_end = post.as_ref().and_then(PostRecord::victim_end);
        // systemd escalated when the main process died of the final signal.
        let killed = config.final_signal != config.kill_signal
            && victim_end == Some(Cause::Signaled(config.final_signal.number()));
        let mut stopped = Stopped::between(requested, completed);
        stopped.main_end = died.map(|at| (victim_end.unwrap_or(Cause::Exited(0)), at));
        stopped.tree_gone = tree_gone;
        stopped.leaked = tree.members();
        // The moment systemd escalated is not observed: a death by the
        // final signal is a kill, any other an exit.
        stopped.final_phase_at = died.filter(|_| killed);
        stopped.strategy_error = stop.as_ref().err().map(ToString::to_string);
        stopped.victim_end = victim_end;
        stopped.reuse_holder = reuse_holder;
        if stop.is_ok() {
            if let Some(p) = &post {
                let mut note = format!("Result={}", p.result);
                stopped.systemd_exit = p
                    .exit_us
                    .map(|us| Duration::from_micros(us.saturating_sub(t0)));
                if config.exec_stop_post.is_some() {
                    let m = &p.mainpid;
                    note.push_str(&format!(
                        "; $MAINPID in ExecStopPost={}",
                        if m.is_empty() { "(empty)" } else { m }
                    ));
                    stopped.pid_reused = (!m.is_empty())
                        .then_some(reuse_holder.is_some() && m == &mainpid.to_string());
                }
                // One stop per row in systemd's own words, as
                // `journalctl -u` shows it (the row's first recorded
                // stop: nothing before it but its own start).
                if runner.journaled.borrow_mut().insert(unit.clone()) {
                    note.push_str(&format!("; journal: {}", runner.journal(unit)));
                }
                stopped.note = Some(note);
            } else {
                stopped.note = Some("ExecStopPost= did not run".into());
            }
        }
        stopped
    }

    fn clean_up(&mut self, runner: &TrialRunner<'_>, launched: &Launched, leaked: &[Member]) {
        let inside = runner.inside;
        // systemd's own kill for the unit, then exact kills of what we saw leak.
        let _ = inside.run_helper(
            &argv(&[SYSTEMCTL, "kill", "--signal=SIGKILL", &self.unit]),
            &[],
            Duration::from_secs(10),
        );
        for m in leaked {
            inside.kill_member(&launched.tree, m);
        }
        let deadline = Instant::now() + QUIESCE_LIMIT;
        while leaked.iter().any(|m| procfs::alive(m.pid, m.start)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(2));
        }
        runner.reset_unit(&self.unit);
    }
}

impl UnitCourse<'_> {
    /// A stop systemd makes on its own (`WatchdogSec=`, `RuntimeMaxSec=`):
    /// waits until the main process died and the unit is down, its
    /// ExecStopPost= lines run, as `systemctl stop` would return. Returns
    /// how it ended and its request, `(CLOCK_MONOTONIC µs, Instant)`
    /// (`waited`, the moment the wait began, if it cannot be read).
    fn systemds_own_stop(
        &self,
        runner: &TrialRunner<'_>,
        pidfd: &OwnedFd,
        waited: (u64, Instant),
    ) -> (Result<Cause, TrialError>, (u64, Instant)) {
        let (unit, limit) = (&self.unit, self.limit);
        let died = wait_readable(pidfd, limit) && runner.wait_unit_down(unit, limit);
        let asked = self.systemd_request(unit);
        let ended = match (died, asked) {
            (true, Some(_)) => Ok(Cause::Exited(0)),
            (false, _) => Err(TrialError::HelperTimeout {
                cmdline: format!("systemd's own stop of {unit}"),
                limit,
            }),
            (true, None) => Err(TrialError::Io {
                what: format!("read when systemd stopped {unit} (last watchdog ping, activation)"),
                source: std::io::Error::from(std::io::ErrorKind::NotFound),
            }),
        };
        (ended, asked.unwrap_or(waited))
    }

    /// When systemd asked for the stop itself, as `(CLOCK_MONOTONIC µs,
    /// Instant)`: the victim's last watchdog ping (`WatchdogSec=`: the stop
    /// is systemd noticing the silence), or the unit's activation plus
    /// `RuntimeMaxSec=`.
    fn systemd_request(&self, unit: &str) -> Option<(u64, Instant)> {
        let (now_us, now) = (crate::sys::monotonic_us(), Instant::now());
        let at_us = match (
            self.config.watchdog,
            self.config.runtime_max,
            self.active_us,
        ) {
            (Some(_), _, _) => std::fs::read_to_string(format!("/run/stopbench/{unit}.ping"))
                .ok()?
                .trim()
                .parse::<u64>()
                .ok()?,
            (None, Some(max), Some(active)) => active + max.0.as_micros() as u64,
            _ => return None,
        };
        let ago = Duration::from_micros(now_us.saturating_sub(at_us));
        Some((at_us, now.checked_sub(ago)?))
    }
}

/// Whether `fd` (a pidfd) turned readable, its process dead, within `limit`.
fn wait_readable(fd: &OwnedFd, limit: Duration) -> bool {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use std::os::fd::AsFd;
    let deadline = Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let ms =
            PollTimeout::try_from(left.as_millis().min(60_000) as i32).unwrap_or(PollTimeout::ZERO);
        let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, ms) {
            Ok(n) if n > 0 => return true,
            Err(nix::errno::Errno::EINTR) => {}
            _ if left.is_zero() => return false,
            _ => {}
        }
    }
}

impl TrialRunner<'_> {
    /// One trial of a `systemd` strategy; its record is emitted with the next.
    pub fn run_unit(
        &mut self,
        trial: u32,
        round: u32,
        config: &StrategyConfig,
        label: &str,
    ) -> bool {
        self.newcomer = config.newcomer.unwrap_or(self.scenario.churn.newcomer);
        let mut course = UnitCourse {
            unit: unit_name(label),
            config,
            limit: config.timeout.0 * 4 + Duration::from_secs(30),
            active_us: None,
        };
        self.run_trial(trial, round, label, &mut course)
    }

    /// `systemctl start` (Type=notify: returns once the victim is ready), then its main PID.
    fn start_unit(&self, unit: &str, limit: Duration) -> Result<(i32, OwnedFd), TrialError> {
        match self
            .inside
            .run_helper(&argv(&[SYSTEMCTL, "start", unit]), &[], limit)?
        {
            Cause::Exited(0) => {}
            cause => {
                return Err(TrialError::UnitStart {
                    unit: unit.to_string(),
                    cause,
                    why: self.why_not_started(unit),
                })
            }
        }
        if self.scenario.victim.behaviour == Behaviour::Exec {
            std::thread::sleep(self.scenario.victim.startup.0);
        }
        let props = show(self.inside, unit, "MainPID")?;
        let pid: i32 = props
            .get("MainPID")
            .and_then(|p| p.parse().ok())
            .unwrap_or(0);
        let fd = Pid::from_raw(pid)
            .ok_or_else(|| TrialError::NoMainProcess(unit.to_string()))
            .and_then(|p| {
                pidfd_open(p, PidfdFlags::empty()).map_err(|source| TrialError::Pidfd {
                    what: pid.to_string(),
                    source,
                })
            })?;
        // The pidfd names the process systemd reported, unless it was already replaced.
        if show(self.inside, unit, "MainPID")?
            .get("MainPID")
            .map(String::as_str)
            != Some(&pid.to_string())
        {
            return Err(TrialError::MainProcessChanged(unit.to_string()));
        }
        if self.scenario.victim.behaviour == Behaviour::Stopped {
            let _ = pidfd_send_signal(&fd, Signal::STOP);
            let deadline = Instant::now() + READY_LIMIT;
            while procfs::stat(pid).is_some_and(|s| s.state != 'T') && Instant::now() < deadline {
                std::thread::sleep(Duration::from_micros(200));
            }
        }
        Ok((pid, fd))
    }

    /// What a helper said (stdout and stderr), one line per entry joined
    /// by " | ", or why it could not run: a diagnosis, not a measurement.
    fn said(&self, words: &[&str]) -> String {
        match self
            .inside
            .run_helper_said(&argv(words), Duration::from_secs(10))
        {
            Ok((_, text)) => text
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect::<Vec<_>>()
                .join(" | "),
            Err(e) => format!("({} failed: {e})", words[0]),
        }
    }

    /// The unit's journal so far, as `journalctl -u` prints it.
    fn journal(&self, unit: &str) -> String {
        self.said(&["/bin/journalctl", "-u", unit, "-o", "cat", "--no-pager"])
    }

    /// systemd's own account of a start that failed: the unit's `Result`
    /// and how its start process ended, then the journal's last lines of
    /// the unit, so an error row says why.
    fn why_not_started(&self, unit: &str) -> String {
        let props = self.said(&[
            SYSTEMCTL,
            "show",
            unit,
            "-p",
            "Result",
            "-p",
            "ExecMainCode",
            "-p",
            "ExecMainStatus",
        ]);
        let journal = self.said(&[
            "/bin/journalctl",
            "-u",
            unit,
            "-n",
            "8",
            "-o",
            "cat",
            "--no-pager",
        ]);
        format!("{props}; journal: {journal}")
    }

    /// Waits until `unit` is no longer active or deactivating (its stop,
    /// ExecStopPost= included, is over); `false` after `limit`.
    fn wait_unit_down(&self, unit: &str, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        let show = argv(&[SYSTEMCTL, "show", "-p", "ActiveState", "--value", unit]);
        while Instant::now() < deadline {
            let state = self
                .inside
                .run_helper_output(&show, Duration::from_secs(10));
            match state {
                Ok((_, s)) if !matches!(s.trim(), "active" | "deactivating" | "activating") => {
                    return true
                }
                Err(_) => return false,
                _ => std::thread::sleep(Duration::from_millis(5)),
            }
        }
        false
    }

    fn reset_unit(&self, unit: &str) {
        let _ = self.inside.run_helper(
            &argv(&[SYSTEMCTL, "reset-failed", unit]),
            &[],
            Duration::from_secs(10),
        );
    }
}
