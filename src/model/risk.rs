//! The probability that one stop misfires, from cyclic PID allocation.
//!
//! # Derivation
//!
//! Linux allocates PID numbers cyclically: the allocator keeps a cursor,
//! hands out the next free number above it, and after `pid_max - 1` wraps to
//! 300 (numbers below 300 are reserved after the first pass). A freed
//! number therefore comes back only when the cursor has gone all the way
//! round to it. Every allocation advances the cursor past one free number
//! (and past any numbers in use), so one full cycle takes
//!
//! ```text
//! F = pid_max - 300 - live        free numbers
//! T = F / r                       wrap time, at r allocations per second
//! ```
//!
//! where `live` counts the numbers in use (of 300 and up, threads included).
//!
//! A daemon that has run for many cycles has its number at a position that
//! bears no relation to the cursor's: when its number is freed, it is one
//! of the `F` numbers not in use, equally likely any of them. The cursor
//! meets those in turn (the short-lived processes born just before hold
//! the stretch right behind it, and die before it comes round again; the
//! long-lived ones are skipped), so the time until it reaches the daemon's
//! number is uniform on `[0, T)`. (A young daemon is
//! different: a victim started 10 ms before it died is 10 ms of allocations
//! behind the cursor, and its number returns after almost exactly `T - 10 ms`.
//! The sandbox validation therefore gives its victims ages spread over at
//! least one wrap.)
//!
//! A strategy misfires when, within its race window `w` (from the last
//! moment it knew the number was the victim's to its signal landing), the
//! cursor reaches the number, a new process takes it, and that process is
//! still alive when the signal lands. With the cursor's arrival `a` uniform
//! on `[0, T)`, and `S(u)` the share of new processes still alive `u` after
//! birth:
//!
//! ```text
//! P(w) = (1/T) * integral_0^min(w, T) S(u) du
//! ```
//!
//! For `w < T` the arrival falls inside the window with probability `w/T`,
//! and the newcomer is then `u = w - a` old when the signal lands, `u`
//! uniform on `[0, w)`. For `w >= T` the cursor passes at least once; the
//! number's holder at the signal is whoever took it at the last pass, at
//! most `T` earlier, so the integral stops at `T`. With long-lived
//! newcomers (`S = 1`), `P = min(w, T) / T`: a window as long as the wrap
//! time is a certain misfire.
//!
//! # Which window
//!
//! Two gaps put a strategy that addresses the daemon by number at risk,
//! and each trial records both (see strategy::Exposure):
//!
//! - the **exposure** `w`: from the daemon's death (its number free) to the
//!   strategy's first act on the number after it, a signal or a `kill -0`
//!   or `ps -p` probe. A newcomer that took the number within it is taken
//!   for the daemon. When that act is a probe, the signal comes later, after
//!   the **follow** `f` (the rest of a poll's timeout), and the newcomer
//!   must still be alive then:
//!
//!   ```text
//!   P(w, f) = (1/T) * integral_f^(f + min(w, T)) S(u) du
//!   ```
//!
//!   (arrival `a` uniform in the gap; the newcomer is `f + w - a` old at
//!   the signal). With `f = 0` this is `P(w)` above. It assumes the
//!   probes in between do not find the newcomer gone and a second one back
//!   on the number; with newcomers that outlive the timeout it is exact.
//! - the **race window**: from the last moment the strategy knew the
//!   number was the daemon's (it saw it alive) to its signal landing. A
//!   daemon that dies inside it frees its number there. In the sandbox the
//!   daemon's death is seen, and then the exposure covers it; the window
//!   counts for the risk of a daemon that dies at any moment, an upper
//!   bound (it takes the number as free for the whole window).
//!
//! A trial's probability is the larger of the two; over a distribution of
//! trials and of fork rates (a measured series), the per-stop probability
//! is the mean over both.

use std::time::Duration;

/// PID numbers below this are not reused after the first pass (RESERVED_PIDS).
pub const RESERVED: u32 = 300;

/// The PID space the allocator cycles through.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PidSpace {
    pub pid_max: u32,
    /// Numbers in use (300 and up, threads included) when a number is freed.
    pub live: u32,
}

impl PidSpace {
    /// Free numbers per cycle (at least 1).
    pub fn free(&self) -> f64 {
        f64::from(
            self.pid_max
                .saturating_sub(RESERVED)
                .saturating_sub(self.live)
                .max(1),
        )
    }

    /// Seconds for the cursor to go round once; `None` without forks.
    pub fn wrap_time(&self, fork_rate: f64) -> Option<f64> {
        (fork_rate > 0.0).then(|| self.free() / fork_rate)
    }
}

/// How long the processes that may take a freed number live.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Survival {
    /// Alive for longer than any window (the conservative default).
    LongLived,
    /// Uniform lifetimes in `[min, max]` seconds (the sandbox's churners).
    Uniform { min: f64, max: f64 },
}

impl Survival {
    /// `integral_0^x S(u) du`.
    fn integral(&self, x: f64) -> f64 {
        match *self {
            Survival::LongLived => x,
            Survival::Uniform { min, max } => {
                if x <= min {
                    x
                } else if max <= min {
                    min
                } else if x >= max {
                    (min + max) / 2.0
                } else {
                    let span = max - min;
                    min + (span * span - (max - x) * (max - x)) / (2.0 * span)
                }
            }
        }
    }

    pub fn describe(&self) -> String {
        match *self {
            Survival::LongLived => "newcomers outlive the window".into(),
            Survival::Uniform { min, max } => format!(
                "newcomers live {} to {}",
                crate::scenario::HumanDuration(Duration::from_secs_f64(min)),
                crate::scenario::HumanDuration(Duration::from_secs_f64(max))
            ),
        }
    }
}

/// P(one signal with race window `window` seconds misfires), for wrap time `wrap` seconds.
pub fn misfire_probability(window: f64, wrap: Option<f64>, survival: Survival) -> f64 {
    misfire_probability_after(window, 0.0, wrap, survival)
}

/// P(a newcomer takes the number within `gap` seconds and is still alive
/// `follow` seconds after the gap, when the signal lands); see the module docs.
pub fn misfire_probability_after(
    gap: f64,
    follow: f64,
    wrap: Option<f64>,
    survival: Survival,
) -> f64 {
    let Some(wrap) = wrap.filter(|t| *t > 0.0) else {
        return 0.0;
    };
    let f = follow.max(0.0);
    let w = gap.max(0.0).min(wrap);
    ((survival.integral(f + w) - survival.integral(f)) / wrap).clamp(0.0, 1.0)
}

/// One trial as the model takes it, in seconds (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct RiskSample {
    pub exposure: f64,
    pub follow: f64,
    /// The race window (check to kill).
    pub window: f64,
}

impl RiskSample {
    /// A bare window, as `stopbench model --window` gives it.
    pub fn window(seconds: f64) -> Self {
        Self {
            window: seconds,
            ..Self::default()
        }
    }

    fn probability(&self, wrap: Option<f64>, survival: Survival) -> f64 {
        misfire_probability_after(self.exposure, self.follow, wrap, survival)
            .max(misfire_probability(self.window, wrap, survival))
    }
}

/// A per-stop probability with its 95% interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    pub p: f64,
    pub lo: f64,
    pub hi: f64,
}

/// Mean misfire probability over the trials' samples and fork rates (each
/// equally likely); `None` without samples. The interval is the mean's
/// normal 95% interval over the measured trials (the samples are a sample;
/// the rates are taken as given).
pub fn per_stop(
    samples: &[RiskSample],
    space: PidSpace,
    rates: &[f64],
    survival: Survival,
) -> Option<Estimate> {
    if samples.is_empty() || rates.is_empty() {
        return None;
    }
    let wraps: Vec<Option<f64>> = rates.iter().map(|&r| space.wrap_time(r)).collect();
    let p_of = |s: &RiskSample| {
        wraps
            .iter()
            .map(|&t| s.probability(t, survival))
            .sum::<f64>()
            / wraps.len() as f64
    };
    let probs: Vec<f64> = samples.iter().map(p_of).collect();
    let nf = probs.len() as f64;
    let mean = probs.iter().sum::<f64>() / nf;
    let var = probs.iter().map(|p| (p - mean).powi(2)).sum::<f64>() / (nf - 1.0).max(1.0);
    let half = 1.96 * (var / nf).sqrt();
    Some(Estimate {
        p: mean,
        lo: (mean - half).max(0.0),
        hi: (mean + half).min(1.0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn wrap_time_is_free_pids_over_fork_rate() {
        let space = PidSpace {
            pid_max: 4_194_304,
            live: 1_004,
        };
        // (4194304 - 300 - 1004) / 2000 = 2096.5 s
        assert!(close(space.wrap_time(2000.0).unwrap(), 2096.5));
        let small = PidSpace {
            pid_max: 1_324,
            live: 24,
        };
        assert!(close(small.wrap_time(1000.0).unwrap(), 1.0));
        assert_eq!(small.wrap_time(0.0), None);
    }

    #[test]
    fn a_window_is_a_share_of_the_wrap() {
        let long = Survival::LongLived;
        // 2 ms of a 1 s wrap: 0.2%.
        assert!(close(misfire_probability(0.002, Some(1.0), long), 0.002));
        // A window at least as long as the wrap: certain.
        assert!(close(misfire_probability(1.0, Some(1.0), long), 1.0));
        assert!(close(misfire_probability(5.0, Some(1.0), long), 1.0));
        // No forks, no reuse.
        assert_eq!(misfire_probability(5.0, None, long), 0.0);
    }

    #[test]
    fn short_lived_newcomers_are_often_gone_when_the_signal_lands() {
        // Lifetimes exactly 10 ms: only a newcomer born in the last 10 ms of
        // the window is still there. Window 100 ms, wrap 1 s: 10 ms / 1 s.
        let fixed = Survival::Uniform {
            min: 0.01,
            max: 0.01,
        };
        assert!(close(misfire_probability(0.1, Some(1.0), fixed), 0.01));
        // Uniform 0..20 ms: mean lifetime 10 ms, same answer for a long window.
        let uniform = Survival::Uniform {
            min: 0.0,
            max: 0.02,
        };
        assert!(close(misfire_probability(0.1, Some(1.0), uniform), 0.01));
        // Halfway through the lifetimes: integral 0..10ms of (20-u)/20 = 7.5 ms.
        assert!(close(misfire_probability(0.01, Some(1.0), uniform), 0.0075));
    }

    #[test]
    fn an_exposure_counts_only_newcomers_alive_when_the_signal_follows() {
        let long = Survival::LongLived;
        // A 5 ms gap to the probe, the signal 40 ms later: with newcomers
        // that outlive it, 5 ms of a 1 s wrap.
        assert!(close(
            misfire_probability_after(0.005, 0.04, Some(1.0), long),
            0.005
        ));
        // Newcomers living exactly 30 ms are gone before the signal: none.
        let short = Survival::Uniform {
            min: 0.03,
            max: 0.03,
        };
        assert_eq!(
            misfire_probability_after(0.005, 0.04, Some(1.0), short),
            0.0
        );
        // Living exactly 42 ms: only those born in the gap's first 3 ms are
        // still there 40 ms after it ends.
        let fixed = Survival::Uniform {
            min: 0.042,
            max: 0.042,
        };
        assert!(close(
            misfire_probability_after(0.005, 0.04, Some(1.0), fixed),
            0.002
        ));
        // The larger of exposure and race window counts.
        let s = RiskSample {
            exposure: 0.005,
            follow: 0.0,
            window: 0.002,
        };
        assert!(close(s.probability(Some(1.0), long), 0.005));
        let s = RiskSample {
            exposure: 0.0,
            follow: 0.0,
            window: 0.002,
        };
        assert!(close(s.probability(Some(1.0), long), 0.002));
    }

    #[test]
    fn per_stop_averages_over_windows_and_rates() {
        let space = PidSpace {
            pid_max: 1_300,
            live: 0,
        };
        // Free 1000: wraps of 1 s (1000/s) and 0.5 s (2000/s).
        let w = RiskSample::window;
        let windows = [w(0.1), w(0.1), w(0.1), w(0.3)];
        let e = per_stop(&windows, space, &[1000.0, 2000.0], Survival::LongLived).unwrap();
        // At 1 s: (3*0.1 + 0.3)/4 = 0.15; at 0.5 s: (3*0.2 + 0.6)/4 = 0.3.
        assert!(close(e.p, 0.225));
        assert!(e.lo < e.p && e.p < e.hi);
        // One window length: no spread.
        let e = per_stop(&[w(0.1); 10], space, &[1000.0], Survival::LongLived).unwrap();
        assert!(close(e.lo, 0.1) && close(e.hi, 0.1));
        assert_eq!(per_stop(&[], space, &[1.0], Survival::LongLived), None);
    }
}
