//! A sweep's directory read back: sweep.json (what was swept) and one run
//! directory per point, with the model checked against the oracle at every
//! point. The sweep's report is rendered from this alone.

use super::{LoadError, RunResults};
use crate::scenario::SweepParameter;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// sweep.json.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SweepIndex {
    pub scenario: String,
    pub parameter: SweepParameter,
    /// `(directory label, value as read)` in sweep order.
    pub points: Vec<SweepIndexPoint>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SweepIndexPoint {
    pub label: String,
    pub value: String,
}

pub struct SweepResults {
    pub index: SweepIndex,
    /// Points that ran (a point whose directory is missing was not reached).
    pub points: Vec<(SweepIndexPoint, RunResults)>,
}

impl SweepResults {
    pub fn load(dir: &Path) -> Result<Self, LoadError> {
        let path = dir.join("sweep.json");
        let text = std::fs::read_to_string(&path).map_err(|source| LoadError::Read {
            path: path.display().to_string(),
            source,
        })?;
        let index: SweepIndex = serde_json::from_str(&text).map_err(|e| LoadError::Parse {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        let mut points = Vec::new();
        for point in &index.points {
            let point_dir = dir.join(&point.label);
            if point_dir.join("run.json").exists() {
                points.push((point.clone(), RunResults::load(&point_dir)?));
            }
        }
        Ok(Self { index, points })
    }

    /// Value label for plots: a `max` rate shows the rate it achieved.
    pub fn axis_label(&self, i: usize) -> String {
        let (point, results) = &self.points[i];
        match (&results.meta.churn, self.index.parameter) {
            (Some(c), SweepParameter::ChurnRate) if point.value == "max" => {
                format!("max ({:.0}/s)", c.achieved_rate)
            }
            // Short enough for nine labels side by side: `1000, 2000/s`.
            (_, SweepParameter::Grid) => point
                .value
                .strip_prefix("pid_max ")
                .unwrap_or(&point.value)
                .to_string(),
            _ => point.value.clone(),
        }
    }

    /// Strategy labels over all points, in first-seen order.
    pub fn strategies(&self) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        for (_, r) in &self.points {
            for s in &r.stats {
                if !names.contains(&s.strategy) {
                    names.push(s.strategy.clone());
                }
            }
        }
        names
    }
}

/// The model against the oracle at one point, for one strategy.
pub struct ModelCheck {
    /// Index into `SweepResults::points`.
    pub point: usize,
    pub strategy: String,
    pub check: crate::model::sandbox::Check,
}

impl SweepResults {
    /// Every number-addressing strategy at every point that ran.
    pub fn model_checks(&self) -> Vec<ModelCheck> {
        let mut out = Vec::new();
        for (i, (_, r)) in self.points.iter().enumerate() {
            for s in &r.stats {
                let kind = r.window_kind(&s.strategy);
                if let Some(check) = crate::model::sandbox::check(r, kind, s) {
                    out.push(ModelCheck {
                        point: i,
                        strategy: s.strategy.clone(),
                        check,
                    });
                }
            }
        }
        out
    }
}

impl SweepResults {
    /// The pooled χ² fit of the applicable checks (see model::pooled), with
    /// every prediction scaled by `scale`.
    pub fn pooled_fit(
        &self,
        checks: &[ModelCheck],
        scale: f64,
    ) -> Option<crate::model::pooled::Fit> {
        let cells: Vec<crate::model::pooled::Cell> = checks
            .iter()
            .filter(|c| c.check.applicable.is_ok())
            .filter_map(|c| {
                let s = self.points[c.point]
                    .1
                    .stats
                    .iter()
                    .find(|s| s.strategy == c.strategy)?;
                Some(crate::model::pooled::Cell {
                    trials: s.trials,
                    misfired: s.misfired_trials,
                    predicted: c.check.predicted.p,
                })
            })
            .collect();
        crate::model::pooled::fit(&cells, scale)
    }
}

/// The level at which the pooled fit is judged.
pub const POOLED_ALPHA: f64 = 0.01;

/// "k of n": applicable checks whose prediction is inside the measured interval.
pub fn agreement(checks: &[ModelCheck]) -> (usize, usize) {
    let applicable: Vec<&ModelCheck> = checks
        .iter()
        .filter(|c| c.check.applicable.is_ok())
        .collect();
    let inside = applicable.iter().filter(|c| c.check.inside()).count();
    (inside, applicable.len())
}
