//! Files for continuous-benchmarking services, written with every report:
//! `bmf.json` in the Bencher Metric Format, and `github-benchmark.json` in
//! github-action-benchmark's `customSmallerIsBetter` form. The misfire
//! rate's 95% Wilson interval becomes Bencher's lower and upper values, so a
//! "0 in 30" run is not read as "never".

use crate::measure::StrategyStats;
use serde_json::{json, Map, Value};
use std::time::Duration;

fn ns(d: Duration) -> f64 {
    d.as_nanos() as f64
}

/// The Bencher Metric Format: one benchmark per `scenario/strategy`, with
/// measures `latency` (p50, ns), `latency-p99` (ns), `completion` (p50 of
/// the stop's return, ns) and `misfire-rate` (a share, with its interval).
pub fn bmf(scenario: &str, stats: &[StrategyStats]) -> Value {
    let mut out = Map::new();
    for s in stats {
        let mut measures = Map::new();
        if let Some(p50) = s.latency_at(0.5) {
            measures.insert(
                "latency".into(),
                json!({ "value": ns(p50), "lower_value": s.latency_at(0.05).map(ns), "upper_value": s.latency_at(0.95).map(ns) }),
            );
        }
        if let Some(p99) = s.latency_at(0.99) {
            measures.insert("latency-p99".into(), json!({ "value": ns(p99) }));
        }
        if let Some(done) = s.completion_at(0.5) {
            measures.insert("completion".into(), json!({ "value": ns(done) }));
        }
        if s.trials > 0 {
            let (rate, lo, hi) = s.misfire_rate();
            measures.insert(
                "misfire-rate".into(),
                json!({ "value": rate, "lower_value": lo, "upper_value": hi }),
            );
        }
        out.insert(
            format!("{scenario}/{}", s.strategy),
            Value::Object(measures),
        );
    }
    Value::Object(out)
}

/// github-action-benchmark's `customSmallerIsBetter`: a list of named
/// values, each smaller-is-better, with the misfire interval as its range.
pub fn github_benchmark(scenario: &str, stats: &[StrategyStats]) -> Value {
    let mut out = Vec::new();
    let ms = |d: Duration| (d.as_secs_f64() * 1e6).round() / 1e3;
    for s in stats {
        let name = format!("{scenario}/{}", s.strategy);
        if let Some(p50) = s.latency_at(0.5) {
            out.push(
                json!({ "name": format!("{name} stop p50"), "unit": "ms", "value": ms(p50),
                "extra": format!("{} trials", s.trials) }),
            );
        }
        if let Some(p99) = s.latency_at(0.99) {
            out.push(json!({ "name": format!("{name} stop p99"), "unit": "ms", "value": ms(p99) }));
        }
        if s.trials > 0 {
            let (rate, lo, hi) = s.misfire_rate();
            out.push(json!({
                "name": format!("{name} misfire rate"),
                "unit": "%",
                "value": (rate * 1e4).round() / 1e2,
                "range": format!("{:.2}–{:.2}%", lo * 100.0, hi * 100.0),
                "extra": format!("{} of {} trials misfired (95% Wilson interval)", s.misfired_trials, s.trials),
            }));
        }
    }
    Value::Array(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measure::{Outcome, Recorder, TrialTally};

    #[test]
    fn the_misfire_interval_is_the_range() {
        let mut rec = Recorder::new(&["pidfd".to_string()]);
        for i in 0..30u64 {
            rec.record(&TrialTally {
                strategy: "pidfd",
                outcome: Outcome::Exited,
                latency_us: Some(100 + i),
                completion_us: 200,
                misfires: 0,
                victim_signals: 0,
                leaks: 0,
                pid_reused: false,
                race_window_us: None,
                exposure_us: None,
                follow_us: None,
                cpu: None,
            });
        }
        let b = bmf("s", &rec.strategies);
        let m = &b["s/pidfd"]["misfire-rate"];
        assert_eq!(m["value"], 0.0);
        assert_eq!(m["lower_value"], 0.0);
        // Wilson 0 of 30: 3.8415 / 33.8415.
        assert!((m["upper_value"].as_f64().unwrap() - 0.1135).abs() < 1e-3);
        assert!(b["s/pidfd"]["latency"]["value"].as_f64().unwrap() > 0.0);
        let g = github_benchmark("s", &rec.strategies);
        let names: Vec<&str> = g
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "s/pidfd stop p50",
                "s/pidfd stop p99",
                "s/pidfd misfire rate"
            ]
        );
        assert_eq!(g[2]["range"], "0.00–11.35%");
    }
}
