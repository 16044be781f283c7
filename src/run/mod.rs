//! One run of a scenario, from the host's side: launch the sandbox, stream
//! each trial to disk as it arrives, and write the summary files at the end
//! (also when the run was interrupted or the sandbox failed: what was
//! measured is kept and said to be incomplete).

mod out_dir;
mod progress;
mod source;
mod sweep;

pub use out_dir::default_out_dir;
pub use source::{Launcher, Live, MessageSource, Replay, SystemdUnavailable};
pub use sweep::execute_sweep;

use crate::measure::Recorder;
use crate::report::{self, trials_csv::TrialsWriter, ReportError};
use crate::results::{Machine, RunMeta, RunResults, SystemdPart, Unavailable};
use crate::sandbox::cgroup::CgroupTree;
use crate::sandbox::{launch::LaunchError, Message, RunPlan, SandboxMode};
use crate::scenario::Scenario;
use crate::scenario::StrategyKind;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// PID of the running sandbox helper (our own unreaped child), so a signal
/// handler can end the sandbox; 0 when none runs.
pub static ACTIVE_SANDBOX: AtomicI32 = AtomicI32::new(0);
/// Set by the interrupt handler.
pub static INTERRUPTED: AtomicBool = AtomicBool::new(false);

pub struct RunOptions {
    pub scenario: Scenario,
    pub out_dir: PathBuf,
    pub quiet: bool,
    /// Our own binary, re-executed inside the sandbox.
    pub exe: String,
    pub mode: SandboxMode,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("cannot write to `{path}`: {source}")]
    Write {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Launch(#[from] LaunchError),
    #[error("the sandbox could not be built: {0}")]
    Refused(String),
    #[error(transparent)]
    Report(#[from] ReportError),
}

fn write_err(path: &Path) -> impl FnOnce(std::io::Error) -> RunError + '_ {
    move |source| RunError::Write {
        path: path.display().to_string(),
        source,
    }
}

/// Runs the scenario in this machine's sandboxes.
pub fn execute(options: RunOptions) -> Result<RunResults, RunError> {
    let mut live = source::Live {
        exe: options.exe.clone(),
    };
    execute_with(options, &mut live)
}

/// Runs the scenario with sandboxes from `launcher`: stopbench's own for
/// every strategy it drives, a sandboxed systemd for the `systemd` ones. Both
/// stream into the same files; the report is rendered from them at the end.
pub fn execute_with(
    options: RunOptions,
    launcher: &mut dyn Launcher,
) -> Result<RunResults, RunError> {
    let RunOptions {
        scenario,
        out_dir,
        quiet,
        exe,
        mode,
    } = options;
    let started_unix = unix_now();
    let probe = crate::results::LoadProbe::start();
    let (host, mut writer) = prepare_out_dir(&scenario, &out_dir, started_unix)?;
    let (planned, cgroups, mut unavailable) = plan_strategies(&scenario, quiet);
    let labels: Vec<String> = planned.strategies.iter().map(|s| s.label()).collect();
    let mut recorder = Recorder::new(&labels);
    let progress = progress::Progress::new(scenario.trials.0 as u64 * labels.len() as u64, quiet);
    let (sandboxed, in_systemd) = split_by_runner(planned);
    let mut session = Session {
        writer: &mut writer,
        recorder: &mut recorder,
        progress: &progress,
        warnings: Vec::new(),
        offset: 0,
        out_dir: &out_dir,
    };
    let own = if sandboxed.strategies.is_empty() {
        None
    } else {
        let plan = RunPlan {
            scenario: sandboxed,
            mode,
            exe,
            cgroup: cgroups.as_ref().map(|t| t.base.clone()),
        };
        Some(stream(launcher.sandbox(&plan)?, &mut session)?)
    };
    // The victims' cgroups are done with once the sandbox's run is over.
    if let Some(tree) = &cgroups {
        tree.remove();
    }
    let systemd = run_in_systemd(launcher, in_systemd, &mut session, &mut unavailable)?;
    let parts = Parts { own, systemd };
    progress.finish();
    let mut warnings = std::mem::take(&mut session.warnings);
    let done = recorder.total_trials();
    let all: Vec<&Part> = parts.own.iter().chain(parts.systemd.as_ref()).collect();
    if let Some(reason) = all.iter().find_map(|p| p.refused.clone()) {
        if done == 0 {
            return Err(RunError::Refused(reason));
        }
        warnings.push(reason);
    }
    let incomplete = incomplete(&scenario, labels.len(), &unavailable, &all, done);
    let machine = Machine::read();
    let load = probe.finish(machine.cores, parts.systemd.is_some());
    warnings.extend(load.warning());
    let fields = parts.into_meta_fields();
    let meta = RunMeta {
        machine,
        load: Some(load),
        finished_unix: unix_now(),
        incomplete,
        warnings,
        unavailable,
        floors: read_floors(),
        host,
        sandbox: fields.sandbox,
        churn: fields.churn,
        systemd: fields.systemd,
        pace: fields.pace,
        ..provisional_meta(&scenario, started_unix)
    };
    write_meta(&out_dir, &meta)?;
    Ok(report::render_dir(&out_dir)?)
}

/// The strategies stopbench's own sandbox runs, and those a real systemd runs.
fn split_by_runner(planned: Scenario) -> (Scenario, Scenario) {
    let (mut sandboxed, mut in_systemd) = (planned.clone(), planned);
    sandboxed
        .strategies
        .retain(|s| s.kind != StrategyKind::Systemd);
    in_systemd
        .strategies
        .retain(|s| s.kind == StrategyKind::Systemd);
    (sandboxed, in_systemd)
}

/// The `systemd` strategies in a sandboxed systemd, unless the run was
/// interrupted; where none boots, they are unavailable, with the reason.
fn run_in_systemd(
    launcher: &mut dyn Launcher,
    in_systemd: Scenario,
    session: &mut Session<'_>,
    unavailable: &mut Vec<Unavailable>,
) -> Result<Option<Part>, RunError> {
    if in_systemd.strategies.is_empty() || INTERRUPTED.load(Ordering::SeqCst) {
        return Ok(None);
    }
    let labels: Vec<String> = in_systemd.strategies.iter().map(|s| s.label()).collect();
    let plan = RunPlan {
        scenario: in_systemd,
        mode: SandboxMode::SystemdMachine,
        exe: String::new(),
        cgroup: None,
    };
    match launcher.systemd(plan) {
        Ok(sandbox) => Ok(Some(stream(sandbox, session)?)),
        Err(SystemdUnavailable::Launch(err)) => Err(err),
        Err(SystemdUnavailable::Boot(reason)) => {
            for strategy in labels {
                session.progress.warn(&format!(
                    "strategy `{strategy}` is unavailable here: {reason}"
                ));
                unavailable.push(Unavailable {
                    strategy,
                    reason: reason.to_string(),
                });
            }
            Ok(None)
        }
    }
}

/// What the run's two kinds of sandbox found.
struct Parts {
    /// stopbench's own sandbox, when any strategy ran there.
    own: Option<Part>,
    /// The sandboxed systemd, when it ran.
    systemd: Option<Part>,
}

impl Parts {
    /// run.json's `sandbox`, `churn` and `systemd`: the first part's
    /// sandbox and churn, and the systemd part's apart when both ran.
    fn into_meta_fields(self) -> MetaFields {
        let first = self.own.as_ref().or(self.systemd.as_ref());
        MetaFields {
            pace: self.own.as_ref().and_then(|p| p.pace),
            sandbox: first.and_then(|p| p.facts.clone()),
            churn: first.and_then(|p| p.churn.clone()),
            systemd: self
                .systemd
                .filter(|_| self.own.is_some())
                .map(|p| SystemdPart {
                    sandbox: p.facts,
                    churn: p.churn,
                }),
        }
    }
}

struct MetaFields {
    /// The pace of stopbench's own trial loop (not a real systemd's).
    pace: Option<crate::results::Pace>,
    sandbox: Option<crate::sandbox::SandboxFacts>,
    churn: Option<crate::churn::ChurnReport>,
    systemd: Option<SystemdPart>,
}

/// Makes the run directory with the scenario as run and an empty
/// trials.csv; returns the host's churn, observed before any sandbox starts
/// (so a run's own churn is left out), and the trials writer.
fn prepare_out_dir(
    scenario: &Scenario,
    out_dir: &Path,
    started_unix: u64,
) -> Result<(Option<crate::model::HostChurn>, TrialsWriter), RunError> {
    std::fs::create_dir_all(out_dir).map_err(write_err(out_dir))?;
    let scenario_path = out_dir.join("scenario.toml");
    let text =
        toml::to_string(scenario).unwrap_or_else(|e| format!("# cannot render scenario: {e}\n"));
    std::fs::write(&scenario_path, text).map_err(write_err(&scenario_path))?;
    let writer = TrialsWriter::create(out_dir, &scenario.name.0).map_err(write_err(out_dir))?;
    // Until the run ends and says otherwise, run.json says it did not: a run
    // killed with SIGKILL leaves a directory `report DIR` renders as such.
    write_meta(out_dir, &provisional_meta(scenario, started_unix))?;
    let host = scenario
        .churn
        .replay
        .clone()
        .or_else(|| crate::model::HostChurn::brief(std::time::Duration::from_millis(500)).ok());
    Ok((host, writer))
}

/// run.json while the run is under way.
fn provisional_meta(scenario: &Scenario, started_unix: u64) -> RunMeta {
    RunMeta {
        stopbench_version: env!("CARGO_PKG_VERSION").to_string(),
        machine: Machine::read(),
        scenario: scenario.clone(),
        started_unix,
        finished_unix: started_unix,
        incomplete: Some(
            "the run did not finish: stopbench ended before it wrote its results \
             (killed, or the machine went down); the trials here are those it finished"
                .into(),
        ),
        warnings: Vec::new(),
        load: None,
        unavailable: Vec::new(),
        floors: None,
        host: None,
        sandbox: None,
        churn: None,
        systemd: None,
        pace: None,
        strategies: Vec::new(),
        merged: None,
    }
}

/// Writes run.json whole or not at all.
fn write_meta(out_dir: &Path, meta: &RunMeta) -> Result<(), RunError> {
    let text = serde_json::to_string_pretty(meta).expect("run.json serializes") + "\n";
    Ok(report::write_atomically(
        &out_dir.join("run.json"),
        text.as_bytes(),
    )?)
}

/// Why the run holds fewer trials than planned, if it does: interrupted,
/// a sandbox that ended early, or a limit reached. `planned` strategies
/// were to run; those a sandboxed systemd could not run never had trials.
fn incomplete(
    scenario: &Scenario,
    planned: usize,
    unavailable: &[Unavailable],
    parts: &[&Part],
    done: u64,
) -> Option<String> {
    let not_booted = unavailable
        .iter()
        .filter(|u| {
            scenario
                .strategies
                .iter()
                .any(|s| s.label() == u.strategy && s.kind == StrategyKind::Systemd)
        })
        .count();
    let total = (planned - not_booted) as u64 * scenario.trials.0 as u64;
    if INTERRUPTED.load(Ordering::SeqCst) {
        Some(format!("interrupted after {done} of {total} trials"))
    } else if let Some(p) = parts.iter().find(|p| !p.finished) {
        Some(format!(
            "the sandbox ended early (exit status {:?}) after {done} of {total} trials",
            p.exit
        ))
    } else {
        parts.iter().find_map(|p| p.stopped_early.clone())
    }
}

/// What streaming one sandbox's messages found.
struct Part {
    facts: Option<crate::sandbox::SandboxFacts>,
    churn: Option<crate::churn::ChurnReport>,
    refused: Option<String>,
    stopped_early: Option<String>,
    finished: bool,
    exit: Option<i32>,
    pace: Option<crate::results::Pace>,
}

/// Where trials go as they arrive.
struct Session<'a> {
    writer: &'a mut TrialsWriter,
    recorder: &'a mut Recorder,
    progress: &'a progress::Progress,
    warnings: Vec<String>,
    /// Trials already written by an earlier part of the run.
    offset: u32,
    out_dir: &'a std::path::Path,
}

/// Writes each trial of a sandbox to disk as it arrives.
fn stream(
    mut sandbox: Box<dyn MessageSource>,
    session: &mut Session<'_>,
) -> Result<Part, RunError> {
    ACTIVE_SANDBOX.store(sandbox.pid(), Ordering::SeqCst);
    let mut part = Part {
        facts: None,
        churn: None,
        refused: None,
        stopped_early: None,
        finished: false,
        exit: None,
        pace: None,
    };
    let mut last = session.offset;
    let (mut first_at, mut last_at, mut records) = (None, None, 0u64);
    while let Some(message) = sandbox.next_message() {
        match message {
            Ok(Message::Started { facts }) => {
                if let Some(note) = &facts.pid_max_note {
                    session.progress.warn(note);
                    session.warnings.push(note.clone());
                }
                part.facts = Some(facts);
            }
            Ok(Message::Trial { mut record }) => {
                let now = std::time::Instant::now();
                first_at.get_or_insert(now);
                last_at = Some(now);
                records += 1;
                record.trial += session.offset;
                last = last.max(record.trial + 1);
                let trials_path = session.out_dir.join("trials.csv");
                session
                    .writer
                    .write(&record)
                    .map_err(write_err(&trials_path))?;
                session.recorder.record(&record.tally());
                session.progress.advance(session.recorder.total_misfires());
            }
            Ok(Message::Warning { text }) => {
                session.progress.warn(&text);
                session.warnings.push(text);
            }
            Ok(Message::Finished {
                churn,
                stopped_early,
            }) => {
                part.churn = Some(churn);
                part.stopped_early = stopped_early;
                part.finished = true;
            }
            Ok(Message::Failed { reason }) => part.refused = Some(reason),
            Err(err) => session.warnings.push(err.to_string()),
        }
    }
    ACTIVE_SANDBOX.store(0, Ordering::SeqCst);
    if let (Some(first), Some(last)) = (first_at, last_at) {
        part.pace = crate::results::Pace::between(first, last, records);
    }
    part.exit = sandbox.wait();
    session.offset = last;
    Ok(part)
}

/// The scenario as the sandbox will run it: strategies this machine cannot
/// support are left out and reported with the reason, never run as errors.
/// Each strategy left out is warned about, unless `quiet`.
fn plan_strategies(
    scenario: &Scenario,
    quiet: bool,
) -> (Scenario, Option<CgroupTree>, Vec<Unavailable>) {
    let mut planned = scenario.clone();
    let mut unavailable = Vec::new();
    let mut cgroups = None;
    // Every victim gets a cgroup of its own where one can be made (root), so
    // its tree is tracked exactly; the cgroup strategy cannot run without.
    let sandboxed = scenario
        .strategies
        .iter()
        .any(|s| s.kind != StrategyKind::Systemd);
    if sandboxed {
        match CgroupTree::create(std::process::id()) {
            Ok(tree) => cgroups = Some(tree),
            Err(reason) => {
                let hint = if nix::unistd::geteuid().is_root() {
                    ""
                } else {
                    " (as an ordinary user stopbench cannot create cgroups; run as root)"
                };
                for s in scenario
                    .strategies
                    .iter()
                    .filter(|s| s.kind == StrategyKind::Cgroup)
                {
                    unavailable.push(Unavailable {
                        strategy: s.label(),
                        reason: format!("{reason}{hint}"),
                    });
                }
                planned
                    .strategies
                    .retain(|s| s.kind != StrategyKind::Cgroup);
            }
        }
    }
    for s in planned.strategies.iter() {
        if let Some(reason) = crate::strategy::tools::missing_program(s.kind) {
            unavailable.push(Unavailable {
                strategy: s.label(),
                reason,
            });
        }
    }
    planned
        .strategies
        .retain(|s| !unavailable.iter().any(|u| u.strategy == s.label()));
    for u in unavailable.iter().filter(|_| !quiet) {
        eprintln!(
            "warning: strategy `{}` is unavailable here: {}",
            u.strategy, u.reason
        );
    }
    (planned, cgroups, unavailable)
}

/// The calibration of scripts/floors.sh, if one was made.
fn read_floors() -> Option<serde_json::Value> {
    let path = std::env::var_os("STOPBENCH_FLOORS")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| "reports/floors.json".into());
    serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests;
