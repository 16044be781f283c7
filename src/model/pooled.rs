//! One verdict over every cell of a validation: a χ² goodness of fit of the
//! measured misfire counts to the model's predictions.
//!
//! Per-cell intervals have little power: with 150 trials a model off by
//! ×0.7 or ×1.4 still lands inside most of them. Pooled over cells, the
//! same bias adds up. For cell `i` with `n_i` trials, `k_i` of them with a
//! misfire, and predicted rate `p_i`,
//!
//! ```text
//! X² = Σ (k_i − n_i p_i)² / (n_i p_i (1 − p_i))
//! ```
//!
//! follows a χ² law with one degree of freedom per cell when the model is
//! right (the normal approximation of each binomial count; cells expecting
//! fewer than 5 misfires make it rough, and are counted in `sparse`). The
//! p-value is the chance of an `X²` at least this large from a right model.
//! Run with the predictions scaled (×0.7, ×1.4), the same data must reject
//! the scaled models: that is the validation's power, shown beside it.

/// A cell: trials, trials with a misfire, and the predicted rate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cell {
    pub trials: u64,
    pub misfired: u64,
    pub predicted: f64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fit {
    pub chi2: f64,
    /// Cells counted (one degree of freedom each).
    pub cells: usize,
    /// Cells expecting fewer than 5 misfires.
    pub sparse: usize,
    pub p_value: f64,
}

impl Fit {
    /// The model is not rejected at `alpha` (e.g. 0.01).
    pub fn passes(&self, alpha: f64) -> bool {
        self.p_value >= alpha
    }
}

/// The fit of `cells` to their predictions scaled by `scale`; `None` without
/// a cell whose scaled prediction lies strictly between 0 and 1.
pub fn fit(cells: &[Cell], scale: f64) -> Option<Fit> {
    let mut chi2 = 0.0;
    let (mut counted, mut sparse) = (0, 0);
    for c in cells {
        let p = c.predicted * scale;
        if c.trials == 0 || p <= 0.0 || p >= 1.0 {
            continue;
        }
        let n = c.trials as f64;
        let expected = n * p;
        chi2 += (c.misfired as f64 - expected).powi(2) / (expected * (1.0 - p));
        counted += 1;
        sparse += usize::from(expected < 5.0);
    }
    (counted > 0).then(|| Fit {
        chi2,
        cells: counted,
        sparse,
        p_value: chi2_survival(chi2, counted as f64),
    })
}

/// P(χ²(df) ≥ x): the regularized upper incomplete gamma Q(df/2, x/2).
pub fn chi2_survival(x: f64, df: f64) -> f64 {
    if x <= 0.0 {
        return 1.0;
    }
    gamma_q(df / 2.0, x / 2.0)
}

/// Q(a, x) by its series below `a + 1` and its continued fraction above
/// (both converge fast there), to about 1e-12.
fn gamma_q(a: f64, x: f64) -> f64 {
    let log_prefix = a * x.ln() - x - ln_gamma(a);
    if x < a + 1.0 {
        // P(a, x) = e^-x x^a / Γ(a+1) · Σ x^n / ((a+1)…(a+n))
        let (mut term, mut sum, mut ap) = (1.0 / a, 1.0 / a, a);
        for _ in 0..10_000 {
            ap += 1.0;
            term *= x / ap;
            sum += term;
            if term.abs() < sum.abs() * 1e-15 {
                break;
            }
        }
        (1.0 - sum * log_prefix.exp()).clamp(0.0, 1.0)
    } else {
        // Lentz's method for the continued fraction of Q.
        let tiny = 1e-300;
        let mut b = x + 1.0 - a;
        let mut c = 1.0 / tiny;
        let mut d = 1.0 / b;
        let mut h = d;
        for i in 1..10_000 {
            let an = -(i as f64) * (i as f64 - a);
            b += 2.0;
            d = an * d + b;
            if d.abs() < tiny {
                d = tiny;
            }
            c = b + an / c;
            if c.abs() < tiny {
                c = tiny;
            }
            d = 1.0 / d;
            let delta = d * c;
            h *= delta;
            if (delta - 1.0).abs() < 1e-15 {
                break;
            }
        }
        (log_prefix.exp() * h).clamp(0.0, 1.0)
    }
}

/// ln Γ(x) for x > 0 (Lanczos, g = 7, nine terms: about 1e-15).
fn ln_gamma(x: f64) -> f64 {
    const G: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // Reflection: Γ(x)Γ(1−x) = π / sin(πx).
        return (std::f64::consts::PI / (std::f64::consts::PI * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut sum = G[0];
    for (i, g) in G.iter().enumerate().skip(1) {
        sum += g / (x + i as f64);
    }
    let t = x + 7.5;
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + sum.ln()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn chi2_tail_matches_tables() {
        // Critical values: P(χ²(1) ≥ 3.841) = 0.05, P(χ²(4) ≥ 13.277) = 0.01,
        // P(χ²(10) ≥ 18.307) = 0.05; χ²(2) has the closed form e^(−x/2).
        assert!(close(chi2_survival(3.841, 1.0), 0.05, 1e-4));
        assert!(close(chi2_survival(13.277, 4.0), 0.01, 1e-4));
        assert!(close(chi2_survival(18.307, 10.0), 0.05, 1e-4));
        assert!(close(chi2_survival(5.0, 2.0), (-2.5f64).exp(), 1e-12));
        assert!(close(chi2_survival(0.5, 2.0), (-0.25f64).exp(), 1e-12));
        assert_eq!(chi2_survival(0.0, 3.0), 1.0);
    }

    #[test]
    fn a_right_model_fits_and_a_scaled_one_does_not() {
        // Eight cells of 1,000 trials measured exactly at the prediction.
        let cells: Vec<Cell> = [0.02, 0.03, 0.04, 0.05, 0.02, 0.03, 0.04, 0.05]
            .iter()
            .map(|&p| Cell {
                trials: 1000,
                misfired: (p * 1000.0) as u64,
                predicted: p,
            })
            .collect();
        let right = fit(&cells, 1.0).unwrap();
        assert!(right.chi2 < 1e-9 && right.passes(0.01), "{right:?}");
        assert_eq!((right.cells, right.sparse), (8, 0));
        for scale in [0.7, 1.4] {
            let wrong = fit(&cells, scale).unwrap();
            assert!(!wrong.passes(0.01), "×{scale}: {wrong:?}");
        }
        // No usable cell, no verdict.
        let none = Cell {
            trials: 10,
            misfired: 0,
            predicted: 0.0,
        };
        assert_eq!(fit(&[none], 1.0), None);
    }
}
