//! HdrHistogram's percentile-distribution text format (`.hgrm`), in
//! milliseconds, as HdrHistogram's `outputPercentileDistribution` writes it,
//! so its plotter and other hgrm tools read our files.

use hdrhistogram::Histogram;
use std::fmt::Write;

/// Renders `hist` (values in µs) with values scaled to milliseconds.
pub fn render(hist: &Histogram<u64>) -> String {
    let scale = 1000.0;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:>12} {:>14} {:>10} {:>14}\n",
        "Value", "Percentile", "TotalCount", "1/(1-Percentile)"
    );
    if hist.is_empty() {
        return out;
    }
    let mut total = 0u64;
    for v in hist.iter_quantiles(5) {
        total += v.count_since_last_iteration();
        let q = v.quantile_iterated_to();
        let value = hist.highest_equivalent(v.value_iterated_to()) as f64 / scale;
        if q < 1.0 {
            let _ = writeln!(
                out,
                "{value:>12.3} {q:>2.12} {total:>10} {:>14.2}",
                1.0 / (1.0 - q)
            );
        } else {
            let _ = writeln!(out, "{value:>12.3} {q:>2.12} {total:>10}");
        }
    }
    let _ = writeln!(
        out,
        "#[Mean    = {:>12.3}, StdDeviation   = {:>12.3}]",
        hist.mean() / scale,
        hist.stdev() / scale
    );
    let _ = writeln!(
        out,
        "#[Max     = {:>12.3}, Total count    = {:>12}]",
        hist.max() as f64 / scale,
        hist.len()
    );
    let _ = writeln!(
        out,
        "#[Buckets = {:>12}, SubBuckets     = {:>12}]",
        hist.buckets(),
        sub_buckets(hist.sigfig())
    );
    out
}

/// HdrHistogram's sub-bucket count for a precision of `sigfig` digits.
fn sub_buckets(sigfig: u8) -> u64 {
    (2 * 10u64.pow(sigfig as u32)).next_power_of_two()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_header_rows_and_footer() {
        let mut h = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).unwrap();
        for us in [1000u64, 2000, 3000, 2_000_000] {
            h.record(us).unwrap();
        }
        let text = render(&h);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].contains("Value") && lines[0].contains("1/(1-Percentile)"));
        assert!(
            text.contains("#[Max     =     2000.895") || text.contains("#[Max     =     2000."),
            "{text}"
        );
        assert!(text.contains("Total count    =            4"), "{text}");
        assert!(text.contains("SubBuckets     =         2048"), "{text}");
        // The last distribution row is the 100th percentile.
        let last_row = lines.iter().rev().find(|l| !l.starts_with('#')).unwrap();
        assert!(last_row.contains("1.000000000000"), "{last_row}");
    }
}
