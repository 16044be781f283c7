//! How numbers are written for people, the same in every output: the
//! report, the terminal table, `compare` and `model`.

use std::time::Duration;

/// `5,000`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `2.01 s`, `5.67 ms`, `250 µs`; `35.0 min`, `2.5 h` for wrap times.
pub fn duration(d: Duration) -> String {
    let us = d.as_micros();
    if d.as_secs() >= 7200 {
        format!("{:.1} h", d.as_secs_f64() / 3600.0)
    } else if d.as_secs() >= 120 {
        format!("{:.1} min", d.as_secs_f64() / 60.0)
    } else if us >= 1_000_000 {
        format!("{:.2} s", d.as_secs_f64())
    } else if us >= 1_000 {
        format!("{:.2} ms", d.as_secs_f64() * 1e3)
    } else {
        format!("{us} µs")
    }
}

pub fn opt_duration(d: Option<Duration>) -> String {
    d.map(duration).unwrap_or_else(|| "–".into())
}

/// A quantile that may be only a lower bound (`(value, is_bound)`): a
/// bound reads "> 300.80 ms", never as a measured value.
pub fn opt_bounded(d: Option<(Duration, bool)>) -> String {
    match d {
        Some((d, true)) => format!("> {}", duration(d)),
        Some((d, false)) => duration(d),
        None => "–".into(),
    }
}

/// A p-value as a reader takes it: "p = 0.042", or "p < 0.001" below what
/// the tests (2,000 bootstrap resamples) resolve.
pub fn p_value(p: f64) -> String {
    if p < 0.001 {
        "p < 0.001".to_string()
    } else {
        format!("p = {p:.3}")
    }
}

/// Percent with few digits but never rounding a non-zero rate to zero.
pub fn percent(x: f64) -> String {
    let p = x * 100.0;
    if p == 0.0 {
        "0%".into()
    } else if p < 0.1 {
        format!("{p:.3}%")
    } else if p < 10.0 {
        format!("{p:.2}%")
    } else {
        format!("{p:.1}%")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_numbers_for_people() {
        assert_eq!(thousands(5000), "5,000");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(duration(Duration::from_micros(2_010_000)), "2.01 s");
        assert_eq!(duration(Duration::from_micros(5_670)), "5.67 ms");
        assert_eq!(duration(Duration::from_micros(250)), "250 µs");
        assert_eq!(duration(Duration::from_secs(2097)), "35.0 min");
        assert_eq!(duration(Duration::from_secs(9000)), "2.5 h");
        assert_eq!(percent(0.0006), "0.060%");
        assert_eq!(percent(1.0), "100.0%");
    }
}
