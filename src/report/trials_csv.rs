//! `trials.csv` (one row per trial), `misfires.csv` (one row per misfire)
//! and `victim-signals.csv` (one row per process outside the victim's tree
//! that the victim's own program signalled, in the misfire columns), each
//! row written and flushed as its trial is finalized, so an interrupted run
//! keeps everything it measured, in whole rows. `leaks.csv` lists each
//! process of the victim's tree left alive after a stop.

use super::ms;
use crate::measure::TrialRecord;
use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
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
    "helpers",
    "cpu_user_us",
    "cpu_sys_us",
    "at_ms",
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

pub const LEAK_COLUMNS: &[&str] = &["scenario", "strategy", "trial", "victim_pid", "cmdline"];

/// One append-only CSV file whose length is known to end after a whole row.
struct RowFile {
    file: File,
    whole: u64,
}

impl RowFile {
    fn create(path: &Path, header: &[&str]) -> std::io::Result<Self> {
        let mut file = RowFile {
            file: File::create(path)?,
            whole: 0,
        };
        let mut rows = Rows::new();
        rows.add(header)?;
        file.append(&rows.finish()?)?;
        Ok(file)
    }

    /// Appends whole rows; on an error (a full disk) the file is cut back
    /// to its last whole row.
    fn append(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        match self.file.write_all(bytes) {
            Ok(()) => {
                self.whole += bytes.len() as u64;
                Ok(())
            }
            Err(e) => {
                self.cut_back();
                Err(e)
            }
        }
    }

    /// Cuts the file back to its last whole row (what a failed append left
    /// after it is gone). Shortening needs no space, so it works on a full
    /// disk.
    fn cut_back(&mut self) {
        let _ = self.file.set_len(self.whole);
        let _ = self.file.seek(SeekFrom::Start(self.whole));
    }

    /// Takes back rows appended since the file was `whole` bytes long.
    fn roll_back(&mut self, whole: u64) {
        self.whole = whole;
        self.cut_back();
    }
}

/// Rows serialized in memory, so a file gets them in one write.
struct Rows(csv::Writer<Vec<u8>>);

impl Rows {
    fn new() -> Self {
        Rows(csv::Writer::from_writer(Vec::new()))
    }

    fn add<I, T>(&mut self, record: I) -> std::io::Result<()>
    where
        I: IntoIterator<Item = T>,
        T: AsRef<[u8]>,
    {
        self.0.write_record(record).map_err(std::io::Error::other)
    }

    fn finish(self) -> std::io::Result<Vec<u8>> {
        self.0.into_inner().map_err(|e| e.into_error())
    }
}

/// The per-trial CSV files of a run. A trial's rows reach all four files or
/// none: when one write fails (a full disk), the rows of that trial already
/// written to the others are taken back, so every file holds whole rows of
/// whole trials.
pub struct TrialsWriter {
    scenario: String,
    /// When the run's files were made: each trial's `at_ms` counts from it,
    /// so the .hlog's per-round intervals sit where the rounds ran.
    started: std::time::Instant,
    trials: RowFile,
    misfires: RowFile,
    victim_signals: RowFile,
    leaks: RowFile,
}

impl TrialsWriter {
    pub fn create(dir: &Path, scenario: &str) -> std::io::Result<Self> {
        Ok(Self {
            scenario: scenario.to_string(),
            started: std::time::Instant::now(),
            trials: RowFile::create(&dir.join("trials.csv"), TRIAL_COLUMNS)?,
            misfires: RowFile::create(&dir.join("misfires.csv"), MISFIRE_COLUMNS)?,
            victim_signals: RowFile::create(&dir.join("victim-signals.csv"), MISFIRE_COLUMNS)?,
            leaks: RowFile::create(&dir.join("leaks.csv"), LEAK_COLUMNS)?,
        })
    }

    /// Appends one trial's rows to every file, or to none.
    pub fn write(&mut self, r: &TrialRecord) -> std::io::Result<()> {
        let rows = [
            self.hit_rows(r, &r.misfires)?,
            self.hit_rows(r, &r.victim_signals)?,
            self.leak_rows(r)?,
            self.trial_row(r)?,
        ];
        let mut files = [
            &mut self.misfires,
            &mut self.victim_signals,
            &mut self.leaks,
            &mut self.trials,
        ];
        let before: Vec<u64> = files.iter().map(|f| f.whole).collect();
        for i in 0..files.len() {
            if let Err(e) = files[i].append(&rows[i]) {
                for (file, whole) in files.iter_mut().zip(&before).take(i) {
                    file.roll_back(*whole);
                }
                return Err(e);
            }
        }
        Ok(())
    }

    fn hit_rows(
        &self,
        r: &TrialRecord,
        hits: &[crate::oracle::Misfire],
    ) -> std::io::Result<Vec<u8>> {
        let mut rows = Rows::new();
        for m in hits {
            let seen = serde_json::to_value(m.seen_by)
                .ok()
                .and_then(|v| v.as_str().map(String::from))
                .unwrap_or_default();
            rows.add([
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
        rows.finish()
    }

    fn leak_rows(&self, r: &TrialRecord) -> std::io::Result<Vec<u8>> {
        let mut rows = Rows::new();
        for cmdline in &r.leaked {
            rows.add([
                self.scenario.as_str(),
                &r.strategy,
                &r.trial.to_string(),
                &r.victim_pid.to_string(),
                cmdline,
            ])?;
        }
        rows.finish()
    }

    fn trial_row(&self, r: &TrialRecord) -> std::io::Result<Vec<u8>> {
        let mut rows = Rows::new();
        rows.add([
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
            r.helpers.as_deref().unwrap_or(""),
            &r.cpu.map(|c| c.user_us.to_string()).unwrap_or_default(),
            &r.cpu.map(|c| c.sys_us.to_string()).unwrap_or_default(),
            &format!("{:.1}", self.started.elapsed().as_secs_f64() * 1000.0),
        ])?;
        rows.finish()
    }
}
