//! Named baselines, in criterion's manner: `run --save-baseline NAME` keeps
//! a copy of the run as NAME for its scenario, and `compare --baseline NAME`
//! sets a new run beside it. They live under `$STOPBENCH_BASELINES`, or
//! `reports/baselines`, as `<NAME>/<scenario>/`.

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

/// Keeps the run in `run_dir` as baseline `name`, replacing an older one.
pub fn save(name: &str, scenario: &str, run_dir: &Path) -> Result<PathBuf, BaselineError> {
    let to = dir(name, scenario)?;
    super::bundle::copy_dir(run_dir, &to).map_err(|source| BaselineError::Save {
        name: name.into(),
        path: to.display().to_string(),
        source,
    })?;
    Ok(to)
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
