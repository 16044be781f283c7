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
use crate::results::{Machine, RunMeta, RunResults, Unavailable};
use crate::sandbox::cgroup::CgroupTree;
use crate::sandbox::{launch::LaunchError, Message, RunPlan, SandboxMode, SandboxProcess};
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

    let plan = RunPlan {
        scenario: planned,
        mode,
        exe,
        cgroup: cgroups.as_ref().map(|t| t.base.clone()),
    };
    let mut sandbox = SandboxProcess::launch(&plan)?;
    ACTIVE_SANDBOX.store(sandbox.pid(), Ordering::SeqCst);
    let (mut facts, mut churn, mut refused, mut stopped_early, mut finished) =
        (None, None, None, None, false);
    let mut warnings = Vec::new();
    while let Some(message) = sandbox.next_message() {
        match message {
            Ok(Message::Started { facts: f }) => {
                if let Some(note) = &f.pid_max_note {
                    progress.warn(note);
                    warnings.push(note.clone());
                }
                facts = Some(f);
            }
            Ok(Message::Trial { record }) => {
                let trials_path = out_dir.join("trials.csv");
                writer.write(&record).map_err(write_err(&trials_path))?;
                recorder.record(&record.tally());
                progress.advance(recorder.total_misfires());
            }
            Ok(Message::Warning { text }) => {
                progress.warn(&text);
                warnings.push(text);
            }
            Ok(Message::Finished {
                churn: c,
                stopped_early: s,
            }) => {
                churn = Some(c);
                stopped_early = s;
                finished = true;
            }
            Ok(Message::Failed { reason }) => refused = Some(reason),
            Err(err) => warnings.push(err),
        }
    }
    ACTIVE_SANDBOX.store(0, Ordering::SeqCst);
    let exit = sandbox.wait();
    if let Some(tree) = &cgroups {
        tree.remove();
    }
    progress.finish();
    if let Some(reason) = refused {
        if recorder.total_trials() == 0 {
            return Err(RunError::Refused(reason));
        }
        warnings.push(reason);
    }
    let incomplete = if INTERRUPTED.load(Ordering::SeqCst) {
        Some(format!(
            "interrupted after {} of {total} trials",
            recorder.total_trials()
        ))
    } else if !finished {
        Some(format!(
            "the sandbox ended early (exit status {exit:?}) after {} of {total} trials",
            recorder.total_trials()
        ))
    } else {
        stopped_early
    };
    let meta = RunMeta {
        stopbench_version: env!("CARGO_PKG_VERSION").to_string(),
        scenario,
        machine: Machine::read(),
        sandbox: facts,
        churn,
        started_unix,
        finished_unix: unix_now(),
        incomplete,
        warnings,
        unavailable,
        strategies: Vec::new(),
    };
    let meta_path = out_dir.join("run.json");
    let text = serde_json::to_string_pretty(&meta).expect("run.json serializes") + "\n";
    std::fs::write(&meta_path, text).map_err(write_err(&meta_path))?;
    let results = report::render_dir(&out_dir)?;
    Ok(results)
}

/// The scenario as the sandbox will run it: strategies this machine cannot
/// support are left out and reported with the reason, never run as errors.
fn plan_strategies(scenario: &Scenario) -> (Scenario, Option<CgroupTree>, Vec<Unavailable>) {
    let mut planned = scenario.clone();
    let mut unavailable = Vec::new();
    let mut cgroups = None;
    if scenario
        .strategies
        .iter()
        .any(|s| s.kind == StrategyKind::Cgroup)
    {
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

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
