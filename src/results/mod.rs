//! A run directory read back: the single source every report is rendered
//! from, whether right after the run or later by `stopbench report DIR`,
//! so a re-render reproduces the report byte for byte.

pub mod baseline;
pub mod bundle;
pub mod merged;
mod meta;
pub mod precision;
pub mod sweep;

pub use meta::{LoadProbe, Machine, MachineLoad, Pace, RunMeta, SystemdPart, Unavailable};

use crate::measure::{Outcome, Recorder, StrategyStats, TrialTally};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A name that can be a directory and an HdrHistogram tag: letters,
/// digits, `-`, `_` and `.`, not starting with `.` (baselines, hosts).
pub fn plain_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// One row of misfires.csv.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, Deserialize)]
pub struct MisfireRow {
    pub scenario: String,
    pub strategy: String,
    pub trial: u32,
    pub victim_pid: i32,
    pub victim_cmdline: String,
    pub hit_pid: i32,
    pub hit_role: String,
    pub hit_cmdline: String,
    pub signal: String,
    pub seen_by: String,
}

/// The columns of trials.csv a report needs.
#[derive(Debug, Deserialize)]
struct TrialRow {
    strategy: String,
    outcome: String,
    /// Empty when censored.
    latency_us: Option<u64>,
    strategy_ms: f64,
    misfires: u64,
    leaks: u64,
    pid_reused: String,
    victim_gone_before_stop: bool,
    #[serde(default)]
    note: Option<String>,
    #[serde(default)]
    race_window_us: Option<u64>,
    /// Absent from runs written before the column existed.
    #[serde(default)]
    victim_signals: u64,
    /// Absent from runs written before the column existed.
    #[serde(default)]
    exposure_us: Option<u64>,
    #[serde(default)]
    exposure_follow_us: Option<u64>,
    /// Absent from runs written before the columns existed.
    #[serde(default)]
    cpu_user_us: Option<u64>,
    #[serde(default)]
    cpu_sys_us: Option<u64>,
    #[serde(default)]
    round: u32,
    /// When the host received the trial, in ms from the run's start.
    #[serde(default)]
    at_ms: Option<f64>,
    /// The host that ran the trial: only in a merged run.
    #[serde(default)]
    host: Option<String>,
}

/// One trial's death latency and when it ran, for the per-round intervals
/// of the .hlog.
#[derive(Debug, Clone, Copy)]
pub struct TimedTrial {
    pub round: u32,
    pub at_ms: Option<f64>,
    pub latency_us: Option<u64>,
}

/// Latency samples of a run, in µs per strategy.
#[derive(Debug, Default)]
pub struct LatencySamples {
    /// Measured death latencies (µs).
    pub death: BTreeMap<String, Vec<u64>>,
    /// Censoring times (µs) of the stops whose tree did not die in their
    /// trial: each took longer than that (see measure::survival).
    pub death_censored: BTreeMap<String, Vec<u64>>,
    pub completion: BTreeMap<String, Vec<u64>>,
}

pub struct RunResults {
    pub dir: PathBuf,
    pub meta: RunMeta,
    /// scenario.toml as run.
    pub scenario_toml: String,
    /// Per strategy, in the scenario's order.
    pub stats: Vec<StrategyStats>,
    pub misfires: Vec<MisfireRow>,
    /// Processes outside the victim's tree that the victim itself signalled
    /// (victim-signals.csv, in the misfire columns; empty in older runs).
    pub victim_signals: Vec<MisfireRow>,
    /// Per strategy, each distinct note (e.g. systemd's `Result=`) and how many trials had it.
    pub notes: BTreeMap<String, BTreeMap<String, u64>>,
    /// For an adaptive run: where each strategy reached the precision asked.
    pub precision: Vec<precision::PrecisionReached>,
    /// Per strategy, its trials in the order they ran.
    pub timeline: BTreeMap<String, Vec<TimedTrial>>,
    /// A merged run's hosts, in the order merged, each with its own
    /// per-strategy figures (empty for a run of one host).
    pub hosts: Vec<(String, Vec<StrategyStats>)>,
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read `{path}`: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("`{path}` is not a stopbench run file: {message}")]
    Parse { path: String, message: String },
}

fn read(path: &Path) -> Result<String, LoadError> {
    std::fs::read_to_string(path).map_err(|source| LoadError::Read {
        path: path.display().to_string(),
        source,
    })
}

fn read_misfire_rows(path: &Path) -> Result<Vec<MisfireRow>, LoadError> {
    csv::Reader::from_path(path)
        .map_err(|e| parse_err(path, e))?
        .deserialize()
        .collect::<Result<Vec<MisfireRow>, _>>()
        .map_err(|e| parse_err(path, e))
}

fn parse_err(path: &Path, message: impl ToString) -> LoadError {
    LoadError::Parse {
        path: path.display().to_string(),
        message: message.to_string(),
    }
}

/// Everything a run directory's report takes from trials.csv, row by row.
struct TrialsRead {
    labels: Vec<String>,
    recorder: Recorder,
    notes: BTreeMap<String, BTreeMap<String, u64>>,
    /// Each trial's strategy and whether it misfired, in order.
    sequence: Vec<(String, bool)>,
    timeline: BTreeMap<String, Vec<TimedTrial>>,
    hosts: Vec<(String, Recorder)>,
}

impl TrialsRead {
    fn new(labels: Vec<String>) -> Self {
        Self {
            recorder: Recorder::new(&labels),
            labels,
            notes: BTreeMap::new(),
            sequence: Vec::new(),
            timeline: BTreeMap::new(),
            hosts: Vec::new(),
        }
    }

    fn add(&mut self, row: &TrialRow, outcome: Outcome) {
        if let Some(note) = row.note.as_ref().filter(|n| !n.is_empty()) {
            *self
                .notes
                .entry(row.strategy.clone())
                .or_default()
                .entry(note.clone())
                .or_default() += 1;
        }
        self.sequence.push((row.strategy.clone(), row.misfires > 0));
        // Runs written before censoring stored 0 for a victim gone before its stop.
        let latency_us = row.latency_us.filter(|_| !row.victim_gone_before_stop);
        self.timeline
            .entry(row.strategy.clone())
            .or_default()
            .push(TimedTrial {
                round: row.round,
                at_ms: row.at_ms,
                latency_us,
            });
        let tally = row.tally(outcome, latency_us);
        if let Some(host) = &row.host {
            let at = match self.hosts.iter().position(|(h, _)| h == host) {
                Some(i) => i,
                None => {
                    self.hosts.push((host.clone(), Recorder::new(&self.labels)));
                    self.hosts.len() - 1
                }
            };
            self.hosts[at].1.record(&tally);
        }
        self.recorder.record(&tally);
    }
}

impl TrialRow {
    /// The row as the recorder takes it.
    fn tally(&self, outcome: Outcome, latency_us: Option<u64>) -> TrialTally<'_> {
        TrialTally {
            strategy: &self.strategy,
            outcome,
            latency_us,
            completion_us: (self.strategy_ms * 1000.0).round() as u64,
            misfires: self.misfires,
            victim_signals: self.victim_signals,
            leaks: self.leaks,
            pid_reused: self.pid_reused == "true",
            race_window_us: self.race_window_us,
            exposure_us: self.exposure_us,
            follow_us: self.exposure_follow_us,
            cpu: self
                .cpu_user_us
                .zip(self.cpu_sys_us)
                .map(|(user_us, sys_us)| crate::measure::CpuTime { user_us, sys_us }),
        }
    }
}

impl RunResults {
    /// How the strategy labelled `label` acts on the victim's number, from
    /// the scenario it ran (a label not in it is a real systemd's row).
    pub fn window_kind(&self, label: &str) -> crate::strategy::WindowKind {
        self.meta
            .scenario
            .strategies
            .iter()
            .find(|s| s.label() == label)
            .map_or(crate::scenario::StrategyKind::Systemd, |s| s.kind)
            .window_kind()
    }

    /// Reads run.json, scenario.toml, trials.csv and misfires.csv of `dir`.
    pub fn load(dir: &Path) -> Result<Self, LoadError> {
        let meta_path = dir.join("run.json");
        let meta: RunMeta =
            serde_json::from_str(&read(&meta_path)?).map_err(|e| parse_err(&meta_path, e))?;
        let scenario_toml = read(&dir.join("scenario.toml"))?;
        let labels: Vec<String> = meta
            .scenario
            .strategies
            .iter()
            .map(|s| s.label())
            .filter(|l| !meta.unavailable.iter().any(|u| &u.strategy == l))
            .collect();
        let trials_path = dir.join("trials.csv");
        let mut reader =
            csv::Reader::from_path(&trials_path).map_err(|e| parse_err(&trials_path, e))?;
        let mut read = TrialsRead::new(labels);
        for (line, row) in reader.deserialize::<TrialRow>().enumerate() {
            let row = row.map_err(|e| parse_err(&trials_path, format!("row {}: {e}", line + 2)))?;
            let outcome = Outcome::parse(&row.outcome).ok_or_else(|| {
                parse_err(
                    &trials_path,
                    format!("row {}: outcome `{}`", line + 2, row.outcome),
                )
            })?;
            read.add(&row, outcome);
        }
        let TrialsRead {
            recorder,
            notes,
            sequence,
            timeline,
            hosts,
            ..
        } = read;
        let misfires = read_misfire_rows(&dir.join("misfires.csv"))?;
        let victim_path = dir.join("victim-signals.csv");
        let victim_signals = if victim_path.exists() {
            read_misfire_rows(&victim_path)?
        } else {
            Vec::new()
        };
        let precision = meta.scenario.until_precision.map_or(Vec::new(), |p| {
            let labels: Vec<String> = recorder
                .strategies
                .iter()
                .map(|s| s.strategy.clone())
                .collect();
            precision::reached(p.0, &labels, &sequence)
        });
        Ok(Self {
            dir: dir.to_path_buf(),
            precision,
            timeline,
            hosts: hosts.into_iter().map(|(h, r)| (h, r.strategies)).collect(),
            meta,
            scenario_toml,
            stats: recorder.strategies,
            misfires,
            victim_signals,
            notes,
        })
    }

    /// Per strategy, in µs: the deaths of stops whose victim tree died, and
    /// the completions of every stop that ran; for comparisons.
    pub fn latency_samples(dir: &Path) -> Result<LatencySamples, LoadError> {
        let path = dir.join("trials.csv");
        let mut samples = LatencySamples::default();
        let mut reader = csv::Reader::from_path(&path).map_err(|e| parse_err(&path, e))?;
        for row in reader.deserialize::<TrialRow>() {
            let row = row.map_err(|e| parse_err(&path, e))?;
            if row.outcome == "error" {
                continue;
            }
            let completion = (row.strategy_ms * 1000.0).round() as u64;
            if let Some(us) = row.latency_us.filter(|_| !row.victim_gone_before_stop) {
                samples
                    .death
                    .entry(row.strategy.clone())
                    .or_default()
                    .push(us.max(1));
            } else if Outcome::parse(&row.outcome).is_some_and(|o| row.tally(o, None).censored()) {
                samples
                    .death_censored
                    .entry(row.strategy.clone())
                    .or_default()
                    .push(completion.max(1));
            }
            samples
                .completion
                .entry(row.strategy)
                .or_default()
                .push(completion.max(1));
        }
        Ok(samples)
    }

    pub fn name(&self) -> &str {
        &self.meta.scenario.name.0
    }
}
