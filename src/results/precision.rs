//! Where an adaptive run (`until_precision`) reached its precision: per
//! strategy, the first trial count at which its misfire rate's 95% interval
//! was as narrow as asked, read from trials.csv in the order trials ran.

use crate::measure::stats::wilson_width;
use serde::{Deserialize, Serialize};

/// One strategy's way to the precision asked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PrecisionReached {
    pub strategy: String,
    /// Trials it took; `None` when the run ended first (the maximum).
    pub needed: Option<u64>,
    /// Trials recorded in all.
    pub trials: u64,
    /// The width asked for.
    pub target: f64,
    /// The interval's width at the end.
    pub width: f64,
}

/// Follows each strategy's trials (label, misfired) in order.
pub fn reached(target: f64, labels: &[String], trials: &[(String, bool)]) -> Vec<PrecisionReached> {
    labels
        .iter()
        .map(|label| {
            let (mut n, mut k, mut needed) = (0u64, 0u64, None);
            for (_, misfired) in trials.iter().filter(|(l, _)| l == label) {
                n += 1;
                k += u64::from(*misfired);
                if needed.is_none() && wilson_width(k, n) <= target {
                    needed = Some(n);
                }
            }
            PrecisionReached {
                strategy: label.clone(),
                needed,
                trials: n,
                target,
                width: wilson_width(k, n),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_in_n_needs_about_3_84_over_the_width() {
        let labels = vec!["a".to_string(), "b".to_string()];
        let mut trials: Vec<(String, bool)> = (0..100).map(|_| ("a".into(), false)).collect();
        trials.extend((0..10).map(|i| ("b".to_string(), i % 2 == 0)));
        let r = reached(0.1, &labels, &trials);
        // Wilson's upper bound of 0/n is 3.8415/(n + 3.8415): <= 0.1 from n = 35.
        assert_eq!(r[0].needed, Some(35));
        assert_eq!(r[0].trials, 100);
        assert_eq!(r[1].needed, None);
        assert!(r[1].width > 0.1);
    }
}
