//! The tests a comparison gates on: Fisher's exact test for misfire counts
//! (rare events, where a normal approximation says nothing true), a
//! bootstrap of a quantile's change for the tail (p99), and Holm's
//! correction so that many comparisons do not find changes by chance.

use rand::{Rng, SeedableRng};

/// ln(n!) for the hypergeometric terms, summed once up to `n`.
fn ln_factorials(n: u64) -> Vec<f64> {
    let mut out = Vec::with_capacity(n as usize + 1);
    out.push(0.0);
    let mut acc = 0.0;
    for i in 1..=n {
        acc += (i as f64).ln();
        out.push(acc);
    }
    out
}

/// Two-sided Fisher exact test of `k1` in `n1` against `k2` in `n2`: the
/// probability, given the margins, of a table at most as likely as the one
/// seen.
pub fn fisher_exact(k1: u64, n1: u64, k2: u64, n2: u64) -> f64 {
    if n1 == 0 || n2 == 0 {
        return 1.0;
    }
    let (k, n) = (k1 + k2, n1 + n2);
    let lf = ln_factorials(n);
    let ln_p = |a: u64| {
        // a successes in the first sample: C(n1, a) C(n2, k - a) / C(n, k).
        lf[n1 as usize] - lf[a as usize] - lf[(n1 - a) as usize] + lf[n2 as usize]
            - lf[(k - a) as usize]
            - lf[(n2 - (k - a)) as usize]
            - (lf[n as usize] - lf[k as usize] - lf[(n - k) as usize])
    };
    let lo = k.saturating_sub(n2);
    let hi = k.min(n1);
    let seen = ln_p(k1);
    // A relative tolerance, as R's fisher.test uses, so ties in probability
    // count as "as extreme".
    let p: f64 = (lo..=hi)
        .map(ln_p)
        .filter(|&l| l <= seen + 1e-7)
        .map(f64::exp)
        .sum();
    p.min(1.0)
}

/// The `q` quantile of sorted values (nearest rank, as HdrHistogram reports).
fn quantile(sorted: &[u64], q: f64) -> u64 {
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// The change of the `q` quantile from `old` to `new`: a 95% bootstrap
/// interval of it (µs), and a two-sided bootstrap p-value (twice
/// the share of resampled changes on the far side of zero). Seeded, so a
/// comparison gives the same answer every time it is made.
pub struct QuantileShift {
    pub interval: (f64, f64),
    pub p: f64,
}

/// Resamples per bootstrap: enough for a p-value near 0.001.
const RESAMPLES: usize = 2_000;

pub fn bootstrap_quantile_shift(old: &[u64], new: &[u64], q: f64) -> Option<QuantileShift> {
    if old.is_empty() || new.is_empty() {
        return None;
    }
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x5709_BE4C);
    let mut scratch = Vec::new();
    let mut resample = |from: &[u64], rng: &mut rand::rngs::StdRng| {
        scratch.clear();
        scratch.extend((0..from.len()).map(|_| from[rng.random_range(0..from.len())]));
        scratch.sort_unstable();
        quantile(&scratch, q) as f64
    };
    let mut changes: Vec<f64> = (0..RESAMPLES)
        .map(|_| resample(new, &mut rng) - resample(old, &mut rng))
        .collect();
    changes.sort_by(f64::total_cmp);
    let at = |share: f64| changes[((share * RESAMPLES as f64) as usize).min(RESAMPLES - 1)];
    let below = changes.iter().filter(|&&c| c <= 0.0).count() as f64 / RESAMPLES as f64;
    let above = changes.iter().filter(|&&c| c >= 0.0).count() as f64 / RESAMPLES as f64;
    Some(QuantileShift {
        interval: (at(0.025), at(0.975)),
        p: (2.0 * below.min(above)).min(1.0),
    })
}

/// Holm–Bonferroni: each p-value adjusted for the `len` tests made together
/// (step-down, kept monotone), in the order given. Controls the chance of
/// any false finding at the level asked, whatever the tests' dependence.
pub fn holm(p: &[f64]) -> Vec<f64> {
    let m = p.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&a, &b| p[a].total_cmp(&p[b]));
    let mut adjusted = vec![1.0; m];
    let mut running: f64 = 0.0;
    for (rank, &i) in order.iter().enumerate() {
        running = running.max(((m - rank) as f64 * p[i]).min(1.0));
        adjusted[i] = running;
    }
    adjusted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fisher_matches_reference_values() {
        // R: fisher.test(matrix(c(0, 100, 5, 95), 2))$p.value = 0.05933
        assert!((fisher_exact(0, 100, 5, 100) - 0.059_33).abs() < 1e-4);
        // R: fisher.test(matrix(c(3, 7, 1, 9), 2))$p.value = 0.5820
        assert!((fisher_exact(3, 10, 1, 10) - 0.582_0).abs() < 1e-3);
        assert!((fisher_exact(0, 50, 0, 50) - 1.0).abs() < 1e-12);
        // 0 of 1000 against 10 of 1000: a real rise.
        assert!(fisher_exact(0, 1000, 10, 1000) < 0.01);
    }

    #[test]
    fn holm_steps_down_and_stays_monotone() {
        let adjusted = holm(&[0.01, 0.04, 0.03, 0.5]);
        assert!((adjusted[0] - 0.04).abs() < 1e-12);
        assert!((adjusted[2] - 0.09).abs() < 1e-12);
        assert!((adjusted[1] - 0.09).abs() < 1e-12);
        assert!((adjusted[3] - 0.5).abs() < 1e-12);
    }

    #[test]
    fn the_bootstrap_sees_a_tail_move_and_not_a_rerun() {
        let old: Vec<u64> = (0..200).map(|i| 1_000 + (i * 37) % 200).collect();
        let same: Vec<u64> = (0..200).map(|i| 1_000 + (i * 53) % 200).collect();
        let mut tail = old.clone();
        for v in tail.iter_mut().filter(|v| **v > 1_180) {
            *v += 5_000;
        }
        let moved = bootstrap_quantile_shift(&old, &tail, 0.99).unwrap();
        assert!(moved.p < 0.01 && moved.interval.0 > 0.0, "{}", moved.p);
        let rerun = bootstrap_quantile_shift(&old, &same, 0.99).unwrap();
        assert!(rerun.p > 0.05, "{}", rerun.p);
    }
}
