//! Quantiles of stop latencies with censored stops counted.
//!
//! A stop whose victim tree did not die within its trial (a survivor, a
//! leak) has no death latency, but it has a bound: it took longer than the
//! time it was watched, its *censoring time*. Dropping such stops makes a
//! run with more timeouts read faster, so every latency quantile is taken
//! over all trials, as survival analysis does with right-censored data: the
//! Kaplan–Meier product-limit estimate of the distribution,
//! `S(t) = Π_{t_i ≤ t} (1 − d_i / n_i)` over the distinct death times `t_i`
//! (`d_i` deaths at `t_i`, `n_i` stops still undecided just before it).
//! With one common censoring time above every death this is the ordinary
//! quantile with the censored stops placed above every measured one.
//!
//! A quantile the estimate never reaches falls among the censored stops:
//! it is not a number, only a bound, [`Tail::Above`] the smallest censoring
//! time among the stops still undecided after the last death (each of those
//! is known to have taken longer than that).

use std::time::Duration;

/// A latency quantile: measured, or only known to be above a bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Tail {
    Measured(Duration),
    /// Longer than this: the quantile falls among censored stops. Orders
    /// after every measured value: a stop that never finished is the
    /// slowest stop.
    Above(Duration),
}

impl Tail {
    /// The value, or the bound.
    pub fn value(self) -> Duration {
        match self {
            Self::Measured(d) | Self::Above(d) => d,
        }
    }

    /// The value and whether it is only a bound, for formatting.
    pub fn parts(self) -> (Duration, bool) {
        (self.value(), self.is_bound())
    }

    /// Whether the value is only a lower bound.
    pub fn is_bound(self) -> bool {
        matches!(self, Self::Above(_))
    }

    /// The value when measured; `None` for a bound.
    pub fn measured(self) -> Option<Duration> {
        match self {
            Self::Measured(d) => Some(d),
            Self::Above(_) => None,
        }
    }
}

/// Where rank tests (Mann–Whitney, a bootstrap of a quantile) place a
/// censored stop: above every finished one (the largest recordable latency
/// is an hour), in the order of its censoring time. Gehan's rule for
/// censored data: a stop that never finished is slower than any that did.
pub const CENSORED_RANK: u64 = 1 << 50;

/// Finished latencies (µs) and censoring times as one sample for rank
/// tests, the censored placed by [`CENSORED_RANK`].
pub fn ranked_sample(finished: impl IntoIterator<Item = u64>, censored: &[u64]) -> Vec<u64> {
    finished
        .into_iter()
        .chain(censored.iter().map(|c| CENSORED_RANK + c))
        .collect()
}

/// One distinct time with how many stops died there and how many were
/// censored there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AtTime {
    pub us: u64,
    pub deaths: u64,
    pub censored: u64,
}

/// Groups `deaths` (time, count) and `censored` times into [`AtTime`]s,
/// sorted by time.
pub fn group(deaths: impl IntoIterator<Item = (u64, u64)>, censored: &[u64]) -> Vec<AtTime> {
    let mut map = std::collections::BTreeMap::<u64, (u64, u64)>::new();
    for (us, n) in deaths {
        map.entry(us).or_default().0 += n;
    }
    for &us in censored {
        map.entry(us).or_default().1 += 1;
    }
    map.into_iter()
        .map(|(us, (deaths, censored))| AtTime {
            us,
            deaths,
            censored,
        })
        .collect()
}

/// The Kaplan–Meier quantile `q` (0..=1) of `times` (sorted by time, as
/// [`group`] makes them): the first death time where the estimated share
/// of stops done reaches `q`. At one time, deaths count before the
/// censorings (those were watched at least that long). `None` without any
/// observation.
pub fn quantile(times: &[AtTime], q: f64) -> Option<Tail> {
    let total: u64 = times.iter().map(|t| t.deaths + t.censored).sum();
    if total == 0 {
        return None;
    }
    let mut at_risk = total;
    let mut survival = 1.0f64;
    let mut last_death_index = None;
    for (i, t) in times.iter().enumerate() {
        if t.deaths > 0 {
            survival *= 1.0 - t.deaths as f64 / at_risk as f64;
            last_death_index = Some(i);
            // A tolerance for the product's rounding: 99 of 100 is p99.
            if 1.0 - survival >= q - 1e-9 {
                return Some(Tail::Measured(Duration::from_micros(t.us)));
            }
        }
        at_risk -= t.deaths + t.censored;
    }
    // Beyond every death: among the censored stops after the last one.
    let after = last_death_index.map_or(0, |i| i + 1);
    let bound = times[after..]
        .iter()
        .find(|t| t.censored > 0)
        .or_else(|| times.iter().rev().find(|t| t.censored > 0))
        .map(|t| t.us)?;
    Some(Tail::Above(Duration::from_micros(bound)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    fn q(deaths: &[u64], censored: &[u64], at: f64) -> Option<Tail> {
        let times = group(deaths.iter().map(|&d| (d * 1000, 1)), &{
            censored.iter().map(|c| c * 1000).collect::<Vec<_>>()
        });
        quantile(&times, at)
    }

    #[test]
    fn without_censoring_it_is_the_ordinary_quantile() {
        let deaths: Vec<u64> = (1..=100).collect();
        assert_eq!(q(&deaths, &[], 0.5), Some(Tail::Measured(ms(50))));
        assert_eq!(q(&deaths, &[], 0.99), Some(Tail::Measured(ms(99))));
        assert_eq!(q(&deaths, &[], 1.0), Some(Tail::Measured(ms(100))));
        assert_eq!(q(&deaths, &[], 0.0), Some(Tail::Measured(ms(1))));
        assert_eq!(q(&[], &[], 0.5), None);
    }

    #[test]
    fn one_common_censoring_time_puts_the_censored_above_every_death() {
        // 92 deaths at 1..=92 ms, 8 stops watched 300 ms and not done.
        let deaths: Vec<u64> = (1..=92).collect();
        let censored = [300; 8];
        assert_eq!(q(&deaths, &censored, 0.5), Some(Tail::Measured(ms(50))));
        assert_eq!(q(&deaths, &censored, 0.92), Some(Tail::Measured(ms(92))));
        // p99 falls among the censored: not a number, "> 300 ms".
        assert_eq!(q(&deaths, &censored, 0.99), Some(Tail::Above(ms(300))));
        assert_eq!(q(&deaths, &censored, 1.0), Some(Tail::Above(ms(300))));
    }

    #[test]
    fn ties_count_together() {
        // 5, 5, 5, 10: F(5) = 3/4, so p50 and p75 are 5, p80 is 10.
        assert_eq!(q(&[5, 5, 5, 10], &[], 0.5), Some(Tail::Measured(ms(5))));
        assert_eq!(q(&[5, 5, 5, 10], &[], 0.75), Some(Tail::Measured(ms(5))));
        assert_eq!(q(&[5, 5, 5, 10], &[], 0.8), Some(Tail::Measured(ms(10))));
        // A death and a censoring at the same time: the death first, so the
        // censored stop is still at risk there.
        // 4 stops: death 5, censored 5, death 8, death 9.
        // S(5) = 3/4; at risk after 5: 2; S(8) = 3/4 * 1/2 = 3/8; S(9) = 0.
        assert_eq!(q(&[5, 8, 9], &[5], 0.25), Some(Tail::Measured(ms(5))));
        assert_eq!(q(&[5, 8, 9], &[5], 0.6), Some(Tail::Measured(ms(8))));
        assert_eq!(q(&[5, 8, 9], &[5], 0.7), Some(Tail::Measured(ms(9))));
    }

    #[test]
    fn censored_stops_between_deaths_weigh_on_what_follows() {
        // Hand-computed: deaths 10, 20, 40, 50; censored 15 and 30 (6 stops).
        // n=6 at 10: S = 5/6 (F 0.1667). Censored 15: at risk 4.
        // 20: S = 5/6 * 3/4 = 0.625 (F 0.375). Censored 30: at risk 2.
        // 40: S = 0.625 * 1/2 = 0.3125 (F 0.6875). 50: S = 0 (F 1).
        let (d, c) = ([10, 20, 40, 50], [15, 30]);
        assert_eq!(q(&d, &c, 0.15), Some(Tail::Measured(ms(10))));
        assert_eq!(q(&d, &c, 0.2), Some(Tail::Measured(ms(20))));
        assert_eq!(q(&d, &c, 0.375), Some(Tail::Measured(ms(20))));
        assert_eq!(q(&d, &c, 0.5), Some(Tail::Measured(ms(40))));
        assert_eq!(q(&d, &c, 0.69), Some(Tail::Measured(ms(50))));
        // Dropping the censored would have said p50 = 20 ms.
    }

    #[test]
    fn everything_censored_is_only_a_bound() {
        assert_eq!(q(&[], &[300, 310], 0.5), Some(Tail::Above(ms(300))));
        assert_eq!(q(&[], &[300, 310], 0.0), Some(Tail::Above(ms(300))));
    }

    #[test]
    fn the_bound_is_the_first_censoring_after_the_last_death() {
        // A censoring before the last death does not bound the tail.
        assert_eq!(
            q(&[10, 20], &[15, 300, 400], 0.99),
            Some(Tail::Above(ms(300)))
        );
        // Measured values order before every bound.
        assert!(Tail::Measured(ms(5000)) < Tail::Above(ms(1)));
    }
}
