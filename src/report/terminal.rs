//! The short table printed at the end of a run.

use crate::measure::{StrategyStats, Tail};
use std::fmt::Write;
use std::time::Duration;

fn short(d: Option<Duration>) -> String {
    match d {
        None => "-".into(),
        Some(d) if d >= Duration::from_secs(1) => format!("{:.2}s", d.as_secs_f64()),
        Some(d) => format!("{:.2}ms", d.as_secs_f64() * 1000.0),
    }
}

/// A quantile, or "> C" when it falls among censored stops.
fn short_tail(t: Option<Tail>) -> String {
    match t {
        Some(Tail::Above(c)) => format!(">{}", short(Some(c))),
        t => short(t.map(Tail::value)),
    }
}

/// Percent with the 95% interval; "0 in N" shows its upper bound, the top
/// of that interval: one-sided at 97.5%.
fn rate(s: &StrategyStats) -> String {
    let (rate, lo, hi) = s.misfire_rate();
    if s.misfired_trials == 0 {
        format!("0% (<{:.2}% @97.5%)", hi * 100.0)
    } else {
        format!("{:.1}% [{:.1}-{:.1}]", rate * 100.0, lo * 100.0, hi * 100.0)
    }
}

pub fn table(stats: &[StrategyStats]) -> String {
    let header = [
        "strategy",
        "trials",
        "exited",
        "killed",
        "surv",
        "err",
        "misfires",
        "misfire rate (95%)",
        "leaks",
        "p50",
        "p99",
        "max",
        "cpu/stop",
    ];
    let rows: Vec<Vec<String>> = stats
        .iter()
        .map(|s| {
            vec![
                s.strategy.clone(),
                s.trials.to_string(),
                s.exited.to_string(),
                s.killed.to_string(),
                s.survived.to_string(),
                s.errors.to_string(),
                s.misfires.to_string(),
                rate(s),
                s.leaks.to_string(),
                short_tail(s.latency_at(0.5)),
                short_tail(s.latency_at(0.99)),
                short_tail(s.latency_max()),
                s.cpu
                    .mean_us()
                    .map_or("-".into(), |(u, y)| format!("{:.2}ms", (u + y) / 1000.0)),
            ]
        })
        .collect();
    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            rows.iter()
                .map(|r| r[i].len())
                .chain([header[i].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    let line = |cells: Vec<&str>, out: &mut String| {
        let padded: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| {
                if i == 0 {
                    format!("{c:<w$}", w = widths[i])
                } else {
                    format!("{c:>w$}", w = widths[i])
                }
            })
            .collect();
        let _ = writeln!(out, "{}", padded.join("  ").trim_end());
    };
    line(header.to_vec(), &mut out);
    for r in &rows {
        line(r.iter().map(String::as_str).collect(), &mut out);
    }
    out
}
