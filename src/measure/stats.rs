//! Confidence intervals for rates.

/// 95% Wilson score interval for `k` successes in `n` trials. With `k = 0` the
/// upper bound is about 3.84/n: "0 in N" is never reported as "impossible".
pub fn wilson95(k: u64, n: u64) -> (f64, f64) {
    wilson(k, n, 1.959_963_984_540_054)
}

/// The width of the 95% Wilson interval of `k` in `n` (1 with no trials):
/// "0 in N" is about 3.84/N wide, so a width `w` needs N near 3.84/w.
pub fn wilson_width(k: u64, n: u64) -> f64 {
    if n == 0 {
        return 1.0;
    }
    let (lo, hi) = wilson95(k, n);
    hi - lo
}

/// Wilson score interval of `k` in `n` for a normal quantile `z` (3.29 for 99.9%).
pub fn wilson(k: u64, n: u64, z: f64) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    let (k, n) = (k as f64, n as f64);
    let p = k / n;
    let denom = 1.0 + z * z / n;
    let centre = (p + z * z / (2.0 * n)) / denom;
    let half = z * ((p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt()) / denom;
    // At k = 0 (k = n) the bound is exactly 0 (1); rounding must not say otherwise.
    let lo = if k == 0.0 {
        0.0
    } else {
        (centre - half).max(0.0)
    };
    let hi = if k == n {
        1.0
    } else {
        (centre + half).min(1.0)
    };
    (lo, hi)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wilson_matches_known_values() {
        // Reference values computed by hand from the Wilson formula.
        let (lo, hi) = wilson95(0, 100);
        assert_eq!(lo, 0.0);
        assert!((hi - 0.036995).abs() < 1e-5, "{hi}");
        let (lo, hi) = wilson95(50, 100);
        assert!(
            (lo - 0.403832).abs() < 1e-5 && (hi - 0.596168).abs() < 1e-5,
            "{lo} {hi}"
        );
        let (lo, hi) = wilson95(100, 100);
        assert!((lo - 0.963005).abs() < 1e-5 && hi == 1.0, "{lo} {hi}");
        assert_eq!(wilson95(0, 0), (0.0, 1.0));
    }
}

/// Standard normal CDF, from erfc (Abramowitz–Stegun 7.1.26, |error| < 1.5e-7).
pub fn normal_cdf(z: f64) -> f64 {
    let x = z.abs() / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.327_591_1 * x);
    let poly = t
        * (0.254_829_592
            + t * (-0.284_496_736
                + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    let erfc = poly * (-x * x).exp();
    if z >= 0.0 {
        1.0 - erfc / 2.0
    } else {
        erfc / 2.0
    }
}

/// Two-sided Mann–Whitney U test (normal approximation with tie correction
/// and continuity correction): `(p_value, prob_superiority)` where the latter
/// is P(new > old) + P(new = old)/2. Needs both samples non-empty.
pub fn mann_whitney(old: &[u64], new: &[u64]) -> Option<(f64, f64)> {
    let (n1, n2) = (old.len() as f64, new.len() as f64);
    if old.is_empty() || new.is_empty() {
        return None;
    }
    let mut all: Vec<(u64, bool)> = old
        .iter()
        .map(|&v| (v, false))
        .chain(new.iter().map(|&v| (v, true)))
        .collect();
    all.sort_unstable();
    let n = all.len();
    let (mut rank_sum_new, mut tie_term) = (0.0, 0.0);
    let mut i = 0;
    while i < n {
        let mut j = i;
        while j < n && all[j].0 == all[i].0 {
            j += 1;
        }
        let avg_rank = (i + 1 + j) as f64 / 2.0;
        let t = (j - i) as f64;
        tie_term += t * t * t - t;
        rank_sum_new += all[i..j].iter().filter(|(_, is_new)| *is_new).count() as f64 * avg_rank;
        i = j;
    }
    let u_new = rank_sum_new - n2 * (n2 + 1.0) / 2.0;
    let mean = n1 * n2 / 2.0;
    let nn = n1 + n2;
    let var = n1 * n2 / 12.0 * ((nn + 1.0) - tie_term / (nn * (nn - 1.0)));
    let superiority = u_new / (n1 * n2);
    if var <= 0.0 {
        return Some((1.0, superiority));
    }
    let z = ((u_new - mean).abs() - 0.5).max(0.0) / var.sqrt();
    Some(((2.0 * (1.0 - normal_cdf(z))).min(1.0), superiority))
}

/// Two-sided test that two proportions `k1/n1` and `k2/n2` differ (pooled z).
pub fn two_proportions(k1: u64, n1: u64, k2: u64, n2: u64) -> f64 {
    if n1 == 0 || n2 == 0 {
        return 1.0;
    }
    let (p1, p2) = (k1 as f64 / n1 as f64, k2 as f64 / n2 as f64);
    let pooled = (k1 + k2) as f64 / (n1 + n2) as f64;
    let se = (pooled * (1.0 - pooled) * (1.0 / n1 as f64 + 1.0 / n2 as f64)).sqrt();
    if se == 0.0 {
        return if p1 == p2 { 1.0 } else { 0.0 };
    }
    2.0 * (1.0 - normal_cdf(((p1 - p2) / se).abs()))
}

#[cfg(test)]
mod test_tests {
    use super::*;

    #[test]
    fn normal_cdf_matches_tables() {
        assert!((normal_cdf(0.0) - 0.5).abs() < 1e-7);
        assert!((normal_cdf(1.959_964) - 0.975).abs() < 1e-6);
        assert!((normal_cdf(-1.0) - 0.158_655).abs() < 1e-6);
    }

    #[test]
    fn mann_whitney_separates_and_does_not_invent() {
        let a: Vec<u64> = (0..20).map(|i| 1000 + i).collect();
        let b: Vec<u64> = (0..20).map(|i| 2000 + i).collect();
        let (p, sup) = mann_whitney(&a, &b).unwrap();
        assert!(p < 1e-6 && sup == 1.0, "{p} {sup}");
        let (p, _) = mann_whitney(&a, &a).unwrap();
        assert!(p > 0.9, "{p}");
        // All ties: no evidence either way.
        assert_eq!(mann_whitney(&[5, 5, 5], &[5, 5]).unwrap().0, 1.0);
        assert!(mann_whitney(&[], &[1]).is_none());
        // Textbook example (n1 = n2 = 5, fully separated): U = 0, z = 2.61, p ≈ 0.009 (with continuity 0.0119).
        let (p, _) = mann_whitney(&[1, 2, 3, 4, 5], &[6, 7, 8, 9, 10]).unwrap();
        assert!((p - 0.0119).abs() < 0.002, "{p}");
    }

    #[test]
    fn two_proportions_cases() {
        assert_eq!(two_proportions(0, 50, 0, 50), 1.0);
        assert!(two_proportions(50, 50, 0, 50) < 1e-6);
        assert!(two_proportions(10, 100, 12, 100) > 0.5);
    }
}
