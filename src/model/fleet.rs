//! From one stop to a fleet: expected misfires per year, with an interval
//! that carries both the uncertainty of the per-stop probability (from the
//! measured windows) and the year-to-year scatter of a rare count (Poisson).

use super::risk::Estimate;

/// A fleet of hosts, each stopping the service this often.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fleet {
    pub hosts: u64,
    pub stops_per_day: f64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Projection {
    pub stops_per_year: f64,
    /// Expected misfires per year.
    pub expected: f64,
    /// A range that one year's misfire count falls in with at least 95%
    /// probability: the Poisson 2.5% point at the per-stop interval's low end
    /// and the 97.5% point at its high end. It carries both the uncertainty
    /// of the per-stop estimate and a rare count's scatter, so it is wider
    /// than either (checked by simulation in the tests).
    pub lo: u64,
    pub hi: u64,
}

impl Fleet {
    pub fn stops_per_year(&self) -> f64 {
        self.hosts as f64 * self.stops_per_day * 365.0
    }

    pub fn project(&self, per_stop: Estimate) -> Projection {
        let stops = self.stops_per_year();
        Projection {
            stops_per_year: stops,
            expected: per_stop.p * stops,
            lo: poisson_quantile(0.025, per_stop.lo * stops),
            hi: poisson_quantile(0.975, per_stop.hi * stops),
        }
    }
}

/// The smallest k with P(X <= k) >= q for X ~ Poisson(mean).
pub fn poisson_quantile(q: f64, mean: f64) -> u64 {
    if mean <= 0.0 {
        return 0;
    }
    if mean > 1e4 {
        // Normal approximation; the relative error is far below a count's.
        let z = if q < 0.5 { -1.959964 } else { 1.959964 };
        return (mean + z * mean.sqrt()).round().max(0.0) as u64;
    }
    let mut pmf = (-mean).exp();
    let mut cdf = pmf;
    let mut k = 0u64;
    while cdf < q {
        k += 1;
        pmf *= mean / k as f64;
        cdf += pmf;
        if pmf == 0.0 && cdf < q {
            break;
        }
    }
    k
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poisson_quantiles_match_tables() {
        // Poisson(1): P(0)=.368, P(<=1)=.736, P(<=2)=.920, P(<=3)=.981.
        assert_eq!(poisson_quantile(0.025, 1.0), 0);
        assert_eq!(poisson_quantile(0.975, 1.0), 3);
        // Poisson(100): 2.5% and 97.5% points are 81 and 120.
        assert_eq!(poisson_quantile(0.025, 100.0), 81);
        assert_eq!(poisson_quantile(0.975, 100.0), 120);
        assert_eq!(poisson_quantile(0.975, 0.0), 0);
    }

    #[test]
    fn a_fleet_multiplies_stops() {
        let fleet = Fleet {
            hosts: 10_000,
            stops_per_day: 24.0,
        };
        assert_eq!(fleet.stops_per_year(), 87_600_000.0);
        let p = Estimate {
            p: 1e-6,
            lo: 1e-6,
            hi: 1e-6,
        };
        let y = fleet.project(p);
        assert!((y.expected - 87.6).abs() < 1e-9);
        assert!(y.lo < 87 && y.hi > 88 && y.lo > 60 && y.hi < 120);
    }

    /// The stated coverage holds: with the per-stop probability estimated
    /// from a sample of windows (as a run measures them) and one year's
    /// count drawn from the true rate, the range holds the count in at least
    /// 95% of simulated years.
    #[test]
    fn a_years_count_falls_in_the_range_at_least_95_percent_of_the_time() {
        use crate::model::risk::{per_stop, PidSpace, RiskSample, Survival};
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(11);
        let space = PidSpace {
            pid_max: 4_194_304,
            live: 1_000,
        };
        let rate = 2000.0;
        let wrap = space.wrap_time(rate).unwrap();
        let fleet = Fleet {
            hosts: 10_000,
            stops_per_day: 24.0,
        };
        // Exposures uniform on [0, 10 ms): true per-stop probability 5 ms / T.
        let truth = 0.005 / wrap * fleet.stops_per_year();
        let (runs, mut covered) = (2_000, 0);
        for _ in 0..runs {
            let samples: Vec<RiskSample> = (0..30)
                .map(|_| RiskSample {
                    exposure: rng.random_range(0.0..0.010),
                    ..RiskSample::default()
                })
                .collect();
            let estimate = per_stop(&samples, space, &[rate], Survival::LongLived).unwrap();
            let y = fleet.project(estimate);
            let count = poisson_sample(&mut rng, truth);
            covered += u32::from(y.lo <= count && count <= y.hi);
        }
        let coverage = f64::from(covered) / f64::from(runs);
        assert!(coverage >= 0.95, "coverage {coverage}");
    }

    /// A Poisson draw by inversion (means up to a few hundred).
    fn poisson_sample(rng: &mut impl rand::Rng, mean: f64) -> u64 {
        let u: f64 = rng.random();
        let (mut k, mut pmf) = (0u64, (-mean).exp());
        let mut cdf = pmf;
        while cdf < u && k < 100_000 {
            k += 1;
            pmf *= mean / k as f64;
            cdf += pmf;
        }
        k
    }
}
