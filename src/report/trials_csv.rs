//! `trials.csv` (one row per trial), `misfires.csv` (one row per misfire)
//! and `victim-signals.csv` (one row per process outside the victim's tree
//! that the victim's own program signalled, in the misfire columns), each
//! row written and flushed as its trial is finalized, so an interrupted run
//! keeps everything it measured, in whole rows. `leaks.csv` lists each
//! process of the victim's tree left alive after a stop.

use super::ms;
use crate::measure::TrialRecord;
use std::fs::File;
use std::path::Path;

pub const TRIAL_COLUMNS: &[&str] = &[
    "scenario",
    "strategy",
    "trial",
    "round",
    "outcome",
    "latency_ms",
    "latency_us",
    "strategy_ms",
    "misfires",
    "leaks",
    "pid_reused",
    "victim_pid",
    "victim_end",
    "victim_gone_before_stop",
    "error",
    "note",
    "systemd_exit_ms",
    "race_window_us",
    "victim_signals",
    "exposure_us",
    "exposure_follow_us",
];

pub const MISFIRE_COLUMNS: &[&str] = &[
    "scenario",
    "strategy",
    "trial",
    "victim_pid",
    "victim_cmdline",
    "hit_pid",
    "hit_role",
    "hit_cmdline",
    "signal",
    "seen_by",
];

pub struct TrialsWriter {
    scenario: String,
    trials: csv::Writer<File>,
    misfires: csv::Writer<File>,
    victim_signals: csv::Writer<File>,
    leaks: csv::Writer<File>,
}

pub const LEAK_COLUMNS: &[&str] = &["scenario", "strategy", "trial", "victim_pid", "cmdline"];

impl TrialsWriter {
    pub fn create(dir: &Path, scenario: &str) -> std::io::Result<Self> {
        let mut trials = csv::Writer::from_writer(File::create(dir.join("trials.csv"))?);
        trials.write_record(TRIAL_COLUMNS)?;
        trials.flush()?;
        let mut misfires = csv::Writer::from_writer(File::create(dir.join("misfires.csv"))?);
        misfires.write_record(MISFIRE_COLUMNS)?;
        misfires.flush()?;
        let mut victim_signals =
            csv::Writer::from_writer(File::create(dir.join("victim-signals.csv"))?);
        victim_signals.write_record(MISFIRE_COLUMNS)?;
        victim_signals.flush()?;
        let mut leaks = csv::Writer::from_writer(File::create(dir.join("leaks.csv"))?);
        leaks.write_record(LEAK_COLUMNS)?;
        leaks.flush()?;
        Ok(Self {
            scenario: scenario.to_string(),
            trials,
            misfires,
            victim_signals,
            leaks,
        })
    }

    pub fn write(&mut self, r: &TrialRecord) -> std::io::Result<()> {
        for (list, out) in [
            (&r.misfires, &mut self.misfires),
            (&r.victim_signals, &mut self.victim_signals),
        ] {
            for m in list {
                let seen = serde_json::to_value(m.seen_by)
                    .ok()
                    .and_then(|v| v.as_str().map(String::from))
                    .unwrap_or_default();
                out.write_record([
                    self.scenario.as_str(),
                    &r.strategy,
                    &r.trial.to_string(),
                    &r.victim_pid.to_string(),
                    &r.victim_cmdline,
                    &m.hit_pid.to_string(),
                    &m.hit_role,
                    &m.hit_cmdline,
                    &m.signal,
                    &seen,
                ])?;
            }
            out.flush()?;
        }
        for cmdline in &r.leaked {
            self.leaks.write_record([
                self.scenario.as_str(),
                &r.strategy,
                &r.trial.to_string(),
                &r.victim_pid.to_string(),
                cmdline,
            ])?;
        }
        self.leaks.flush()?;
        self.trials.write_record([
            self.scenario.as_str(),
            &r.strategy,
            &r.trial.to_string(),
            &r.round.to_string(),
            r.outcome.name(),
            &r.latency.map(ms).unwrap_or_default(),
            &r.latency
                .map(|l| l.as_micros().to_string())
                .unwrap_or_default(),
            &ms(r.strategy_time),
            &r.misfires.len().to_string(),
            &r.leaks.to_string(),
            r.pid_reused
                .map_or("", |b| if b { "true" } else { "false" }),
            &r.victim_pid.to_string(),
            &r.victim_end.map(|c| c.to_string()).unwrap_or_default(),
            if r.victim_gone_before_stop {
                "true"
            } else {
                "false"
            },
            r.error.as_deref().unwrap_or(""),
            r.note.as_deref().unwrap_or(""),
            &r.systemd_exit.map(ms).unwrap_or_default(),
            &r.race_window
                .map(|w| w.as_micros().to_string())
                .unwrap_or_default(),
            &r.victim_signals.len().to_string(),
            &r.exposure
                .map(|w| w.as_micros().to_string())
                .unwrap_or_default(),
            &r.exposure_follow
                .map(|w| w.as_micros().to_string())
                .unwrap_or_default(),
        ])?;
        // One flush per row: csv buffers the row and hands it to one write().
        self.trials.flush()
    }
}
