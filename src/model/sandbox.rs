//! The model applied to a sandbox run, to check it against what the oracle
//! counted: the sandbox's own pid_max, the PIDs held there (init's threads,
//! bystanders), the churn rate it achieved and its churners' lifetimes.

use super::risk::{per_stop, Estimate, PidSpace, Survival};
use crate::measure::StrategyStats;
use crate::results::RunResults;
use crate::strategy::WindowKind;

/// A new PID namespace starts with this pid_max when none is set.
const NAMESPACE_DEFAULT_PID_MAX: u32 = 4_194_304;

/// Prediction against measurement for one strategy of one run.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    pub predicted: Estimate,
    /// Share of trials with a misfire and its 95% Wilson interval.
    pub measured: (f64, f64, f64),
    /// The model's assumptions hold for this run; otherwise why not.
    pub applicable: Result<(), String>,
    /// Seconds per wrap of the sandbox's PID space.
    pub wrap: Option<f64>,
}

impl Check {
    /// The prediction lies within the measured 95% interval.
    pub fn inside(&self) -> bool {
        let (_, lo, hi) = self.measured;
        self.predicted.p >= lo - 1e-12 && self.predicted.p <= hi + 1e-12
    }
}

/// The sandbox's PID space, churn rate and newcomer lifetimes, as run.
pub fn sandbox_inputs(results: &RunResults) -> Option<(PidSpace, f64, Survival)> {
    let churn = results.meta.churn.as_ref()?;
    let pid_max = results
        .meta
        .sandbox
        .as_ref()
        .and_then(|s| s.pid_max)
        .unwrap_or(NAMESPACE_DEFAULT_PID_MAX);
    let held = churn.held_pids.unwrap_or(0.0).round() as u32;
    let l = &results.meta.scenario.churn.lifetime;
    Some((
        PidSpace {
            pid_max,
            live: held,
        },
        churn.achieved_rate,
        Survival::Uniform {
            min: l.min.0.as_secs_f64(),
            max: l.max.0.as_secs_f64(),
        },
    ))
}

/// Checks a number-addressing strategy's measured misfire rate against the
/// model; `None` for strategies without windows or runs without churn data.
pub fn check(results: &RunResults, kind: WindowKind, stats: &StrategyStats) -> Option<Check> {
    if kind != WindowKind::Number || stats.risk_window_us.is_empty() {
        return None;
    }
    let (space, rate, survival) = sandbox_inputs(results)?;
    let predicted = per_stop(&stats.risk_samples, space, &[rate], survival)?;
    let wrap = space.wrap_time(rate);
    let scenario = &results.meta.scenario;
    let applicable = if scenario.churn.forced_reuse {
        Err("forced reuse hands the number over at once; the model is for natural reuse".into())
    } else if scenario.victim.random_pid {
        Ok(())
    } else {
        let spread = scenario.victim.exit_after.max.0.as_secs_f64()
            - scenario.victim.exit_after.min.0.as_secs_f64();
        match wrap {
            Some(t) if spread + 1e-9 >= t => Ok(()),
            Some(t) => Err(format!(
                "victims' ages spread over {:.0} ms, less than one wrap ({:.0} ms): the allocator's position is not random",
                spread * 1e3,
                t * 1e3
            )),
            None => Ok(()),
        }
    };
    Some(Check {
        predicted,
        measured: stats.misfire_rate(),
        applicable,
        wrap,
    })
}
