//! Confidence intervals for rates.

/// 95% Wilson score interval for `k` successes in `n` trials. With `k = 0` the
/// upper bound is about 3.84/n: "0 in N" is never reported as "impossible".
pub fn wilson95(k: u64, n: u64) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    let z = 1.959_963_984_540_054_f64;
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
