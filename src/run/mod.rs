//! One run of a scenario, from the host's side: launch the sandbox, stream
//! each trial to disk as it arrives, and write the summary files at the end
//! (also when the run was interrupted or the sandbox failed: what was
//! measured is kept and said to be incomplete).

mod out_dir;
mod progress;
mod sweep;

pub use out_dir::default_out_dir;
pub use sweep::execute_sweep;

use crate::measure::Recorder;
use crate::report::{self, trials_csv::TrialsWriter, ReportError};
use crate::results::{Machine, RunMeta, RunResults, SystemdPart, Unavailable};
use crate::sandbox::cgroup::CgroupTree;
use crate::sandbox::{launch::LaunchError, Message, RunPlan, SandboxMode, SandboxProcess};
use crate::scenario::Scenario;
use crate::scenario::StrategyKind;
use crate::systemd::SystemdMachine;
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

pub fn execute(options: RunOptions) -> Result<RunResults, RunError> {
    let RunOptions {
        scenario,
        out_dir,
        quiet,
        exe,
        mode,
    } = options;
    let started_unix = unix_now();
    std::fs::create_dir_all(&out_dir).map_err(write_err(&out_dir))?;
    // Observed before the sandbox starts, so its own churn is left out.
    let host = scenario
        .churn
        .replay
        .clone()
        .or_else(|| crate::model::HostChurn::brief(std::time::Duration::from_millis(500)).ok());
    let scenario_path = out_dir.join("scenario.toml");
    let text =
        toml::to_string(&scenario).unwrap_or_else(|e| format!("# cannot render scenario: {e}\n"));
    std::fs::write(&scenario_path, text).map_err(write_err(&scenario_path))?;
    let mut writer =
        TrialsWriter::create(&out_dir, &scenario.name.0).map_err(write_err(&out_dir))?;
    let (planned, cgroups, unavailable) = plan_strategies(&scenario);
    for u in &unavailable {
        if !quiet {
            eprintln!(
                "warning: strategy `{}` is unavailable here: {}",
                u.strategy, u.reason
            );
        }
    }
    let labels: Vec<String> = planned.strategies.iter().map(|s| s.label()).collect();
    let mut recorder = Recorder::new(&labels);
    let total = scenario.trials.0 as u64 * labels.len() as u64;
    let progress = progress::Progress::new(total, quiet);

    // Strategies that a real systemd runs go to a sandboxed systemd machine;
    // the rest to stopbench's own sandbox. Both stream into the same files.
    let (mut sandboxed, mut in_systemd) = (planned.clone(), planned);
    sandboxed
        .strategies
        .retain(|s| s.kind != StrategyKind::Systemd);
    in_systemd
        .strategies
        .retain(|s| s.kind == StrategyKind::Systemd);
    let mut unavailable = unavailable;
    let mut session = Session {
        writer: &mut writer,
        recorder: &mut recorder,
        progress: &progress,
        warnings: Vec::new(),
        offset: 0,
        out_dir: &out_dir,
    };
    let mut parts = Vec::new();
    if !sandboxed.strategies.is_empty() {
        let plan = RunPlan {
            scenario: sandboxed,
            mode,
            exe: exe.clone(),
            cgroup: cgroups.as_ref().map(|t| t.base.clone()),
        };
        let sandbox = SandboxProcess::launch(&plan)?;
        parts.push(stream(sandbox, &mut session)?);
    }
    if let Some(tree) = &cgroups {
        tree.remove();
    }
    let mut systemd_part = None;
    if !in_systemd.strategies.is_empty() && !INTERRUPTED.load(Ordering::SeqCst) {
        match SystemdMachine::boot(&exe) {
            Ok(machine) => {
                let plan = RunPlan {
                    scenario: in_systemd,
                    mode: SandboxMode::SystemdMachine,
                    exe: INSIDE_EXE.into(),
                    cgroup: None,
                };
                let sandbox = SandboxProcess::launch_in(&plan, machine.leader)?;
                systemd_part = Some(stream(sandbox, &mut session)?);
                drop(machine); // the guard tears the container down
            }
            Err(reason) => {
                for s in &in_systemd.strategies {
                    progress.warn(&format!(
                        "strategy `{}` is unavailable here: {reason}",
                        s.label()
                    ));
                    unavailable.push(Unavailable {
                        strategy: s.label(),
                        reason: reason.clone(),
                    });
                }
            }
        }
    }
    progress.finish();
    let mut warnings = std::mem::take(&mut session.warnings);
    let done = recorder.total_trials();
    let all: Vec<&Part> = parts.iter().chain(systemd_part.as_ref()).collect();
    if let Some(reason) = all.iter().find_map(|p| p.refused.clone()) {
        if done == 0 {
            return Err(RunError::Refused(reason));
        }
        warnings.push(reason);
    }
    let total = total
        - unavailable
            .iter()
            .filter(|u| {
                scenario
                    .strategies
                    .iter()
                    .any(|s| s.label() == u.strategy && s.kind == StrategyKind::Systemd)
            })
            .count() as u64
            * scenario.trials.0 as u64;
    let incomplete = if INTERRUPTED.load(Ordering::SeqCst) {
        Some(format!("interrupted after {done} of {total} trials"))
    } else if let Some(p) = all.iter().find(|p| !p.finished) {
        Some(format!(
            "the sandbox ended early (exit status {:?}) after {done} of {total} trials",
            p.exit
        ))
    } else {
        all.iter().find_map(|p| p.stopped_early.clone())
    };
    let first = parts.first().or(systemd_part.as_ref());
    let meta = RunMeta {
        stopbench_version: env!("CARGO_PKG_VERSION").to_string(),
        scenario,
        machine: Machine::read(),
        sandbox: first.and_then(|p| p.facts.clone()),
        churn: first.and_then(|p| p.churn.clone()),
        systemd: systemd_part
            .filter(|_| !parts.is_empty())
            .map(|p| SystemdPart {
                sandbox: p.facts,
                churn: p.churn,
            }),
        started_unix,
        finished_unix: unix_now(),
        incomplete,
        warnings,
        unavailable,
        floors: read_floors(),
        host,
        strategies: Vec::new(),
    };
    let meta_path = out_dir.join("run.json");
    let text = serde_json::to_string_pretty(&meta).expect("run.json serializes") + "\n";
    std::fs::write(&meta_path, text).map_err(write_err(&meta_path))?;
    let results = report::render_dir(&out_dir)?;
    Ok(results)
}

/// Where our binary is bind-mounted inside a sandboxed systemd's container.
const INSIDE_EXE: &str = "/usr/local/bin/stopbench";

/// What streaming one sandbox's messages found.
struct Part {
    facts: Option<crate::sandbox::SandboxFacts>,
    churn: Option<crate::churn::ChurnReport>,
    refused: Option<String>,
    stopped_early: Option<String>,
    finished: bool,
    exit: Option<i32>,
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
fn stream(mut sandbox: SandboxProcess, session: &mut Session<'_>) -> Result<Part, RunError> {
    ACTIVE_SANDBOX.store(sandbox.pid(), Ordering::SeqCst);
    let mut part = Part {
        facts: None,
        churn: None,
        refused: None,
        stopped_early: None,
        finished: false,
        exit: None,
    };
    let mut last = session.offset;
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
            Err(err) => session.warnings.push(err),
        }
    }
    ACTIVE_SANDBOX.store(0, Ordering::SeqCst);
    part.exit = sandbox.wait();
    session.offset = last;
    Ok(part)
}

/// The scenario as the sandbox will run it: strategies this machine cannot
/// support are left out and reported with the reason, never run as errors.
fn plan_strategies(scenario: &Scenario) -> (Scenario, Option<CgroupTree>, Vec<Unavailable>) {
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
