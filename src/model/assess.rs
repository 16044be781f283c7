//! One strategy's risk under one PID space and churn: what the report,
//! `stopbench model` and the sandbox validation all print.

use super::risk::{per_stop, Estimate, PidSpace, Survival};
use crate::measure::StrategyStats;
use crate::strategy::WindowKind;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq)]
pub enum Assessment {
    /// pidfd, cgroup: no number to recycle; zero by construction.
    ByConstruction,
    /// Strategy whose windows are not traced (real systemd).
    NotMeasured,
    /// A strategy that has windows, but no trial recorded one.
    NoWindows,
    Risk {
        kind: WindowKind,
        /// The model's window (per trial the longer of exposure and race
        /// window) at p50 and p99.
        p50: Duration,
        p99: Duration,
        per_stop: Estimate,
    },
}

/// Assesses `stats` (a strategy of kind `kind`) at `space` and `rates`.
pub fn assess(
    kind: WindowKind,
    stats: Option<&StrategyStats>,
    space: PidSpace,
    rates: &[f64],
    survival: Survival,
) -> Assessment {
    match kind {
        WindowKind::NoneByConstruction => return Assessment::ByConstruction,
        WindowKind::NotMeasured => return Assessment::NotMeasured,
        WindowKind::Number | WindowKind::Name => {}
    }
    let Some(stats) = stats.filter(|s| !s.risk_window_us.is_empty()) else {
        return Assessment::NoWindows;
    };
    match per_stop(&stats.risk_samples, space, rates, survival) {
        Some(per_stop) => Assessment::Risk {
            kind,
            p50: stats.risk_window_at(0.5).unwrap_or_default(),
            p99: stats.risk_window_at(0.99).unwrap_or_default(),
            per_stop,
        },
        None => Assessment::NoWindows,
    }
}

/// `1 in 2.1 million (95%: 1 in 2.5 million to 1 in 1.8 million)`.
pub fn estimate_words(e: &Estimate) -> String {
    format!(
        "{} (95%: {} to {})",
        probability_words(e.p),
        probability_words(e.lo),
        probability_words(e.hi)
    )
}

/// A probability as people read it: `0.0012%`, `1 in 2.1 million`.
pub fn probability_words(p: f64) -> String {
    if p <= 0.0 {
        return "0".into();
    }
    if p >= 0.01 {
        return format!("{:.1}%", p * 100.0);
    }
    let one_in = 1.0 / p;
    if one_in >= 1e6 {
        format!("1 in {:.1} million", one_in / 1e6)
    } else {
        format!("1 in {}", crate::figures::thousands(one_in.round() as u64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probabilities_read_as_words() {
        assert_eq!(probability_words(0.25), "25.0%");
        assert_eq!(probability_words(0.001), "1 in 1,000");
        assert_eq!(probability_words(1.0 / 105_232.0), "1 in 105,232");
        assert_eq!(probability_words(4.77e-7), "1 in 2.1 million");
        assert_eq!(probability_words(0.0), "0");
    }
}
