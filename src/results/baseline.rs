//! Named baselines, in criterion's manner: `run --save-baseline NAME` keeps
//! a copy of the run as NAME for its scenario, and `compare --baseline NAME`
//! sets a new run beside it. They live under `$STOPBENCH_BASELINES`, or
//! `reports/baselines`, as `<NAME>/<scenario>/`, with the last few runs
//! saved under the name in `<NAME>/<scenario>.runs/`: their spread sets the
//! noise thresholds of `compare --baseline` (see compare::calibration).

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum BaselineError {
    #[error("`{0}` is not a baseline name: use letters, digits, `-`, `_` or `.` (not first)")]
    BadName(String),
    #[error("no baseline `{name}` of scenario `{scenario}` (looked in `{path}`); make one with `stopbench run {scenario} --save-baseline {name}`")]
    Missing {
        name: String,
        scenario: String,
        path: String,
    },
    #[error("cannot save baseline `{name}` at `{path}`: {source}")]
    Save {
        name: String,
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// Where the baselines are kept.
pub fn root() -> PathBuf {
    std::env::var_os("STOPBENCH_BASELINES")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("reports/baselines"))
}

fn checked(name: &str) -> Result<&str, BaselineError> {
    super::plain_name(name)
        .then_some(name)
        .ok_or_else(|| BaselineError::BadName(name.into()))
}

/// The directory of baseline `name` of `scenario`.
pub fn dir(name: &str, scenario: &str) -> Result<PathBuf, BaselineError> {
    Ok(root().join(checked(name)?).join(scenario))
}

/// How many runs saved under one name are kept for calibrating the noise
/// thresholds of `compare --baseline` (see compare::calibration).
pub const HISTORY: usize = 5;

/// Where the runs saved under `name` are kept, newest last by name.
fn history_dir(name: &str, scenario: &str) -> Result<PathBuf, BaselineError> {
    Ok(root().join(checked(name)?).join(format!("{scenario}.runs")))
}

/// Keeps the run in `run_dir` as baseline `name`, replacing an older one,
/// and among the last [`HISTORY`] runs saved under that name.
pub fn save(name: &str, scenario: &str, run_dir: &Path) -> Result<PathBuf, BaselineError> {
    let to = dir(name, scenario)?;
    let failed = |path: &Path, source| BaselineError::Save {
        name: name.into(),
        path: path.display().to_string(),
        source,
    };
    super::bundle::copy_dir(run_dir, &to).map_err(|e| failed(&to, e))?;
    let history = history_dir(name, scenario)?;
    // Nanoseconds since the epoch, zero-padded: names sort as they were saved.
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let kept = history.join(format!("{stamp:024}"));
    super::bundle::copy_dir(run_dir, &kept).map_err(|e| failed(&kept, e))?;
    let runs = history_runs(&history);
    for old in runs.iter().take(runs.len().saturating_sub(HISTORY)) {
        let _ = std::fs::remove_dir_all(old);
    }
    Ok(to)
}

fn history_runs(history: &Path) -> Vec<PathBuf> {
    let mut runs: Vec<PathBuf> = std::fs::read_dir(history)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("run.json").is_file())
        .collect();
    runs.sort();
    runs
}

/// The last runs saved as baseline `name` of `scenario`, oldest first (at
/// most [`HISTORY`]; empty for a baseline saved before they were kept).
pub fn history(name: &str, scenario: &str) -> Result<Vec<PathBuf>, BaselineError> {
    Ok(history_runs(&history_dir(name, scenario)?))
}

/// The saved baseline `name` of `scenario`.
pub fn find(name: &str, scenario: &str) -> Result<PathBuf, BaselineError> {
    let at = dir(name, scenario)?;
    if at.join("run.json").is_file() {
        Ok(at)
    } else {
        Err(BaselineError::Missing {
            name: name.into(),
            scenario: scenario.into(),
            path: at.display().to_string(),
        })
    }
}
