//! Files for continuous-benchmarking services, written with every report:
//! `bmf.json` in the Bencher Metric Format, and `github-benchmark.json` in
//! github-action-benchmark's `customSmallerIsBetter` form. The misfire
//! rate's 95% Wilson interval becomes Bencher's lower and upper values, so a
//! "0 in 30" run is not read as "never". A latency quantile that falls
//! among censored stops (stops that never finished in their trial) is only
//! a lower bound: it is left out rather than exported as a value, and the
//! share of censored stops is exported beside it (`censored-share`, and
//! "censored stops" in github-benchmark.json), so a dashboard sees the
//! tail get worse instead of a p99 that improved.

use crate::measure::{StrategyStats, Tail};
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
        // A quantile among censored stops is only a bound: never exported
        // as a value (see the module doc); `censored-share` says why it is
        // missing.
        let measured = |q: f64| s.latency_at(q).and_then(Tail::measured);
        if let Some(p50) = measured(0.5) {
            measures.insert(
                "latency".into(),
                json!({ "value": ns(p50), "lower_value": measured(0.05).map(ns), "upper_value": measured(0.95).map(ns) }),
            );
        }
        if let Some(p99) = measured(0.99) {
            measures.insert("latency-p99".into(), json!({ "value": ns(p99) }));
        }
        if s.trials > s.errors {
            measures.insert(
                "censored-share".into(),
                json!({ "value": s.censored_share() }),
            );
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
        let measured = |q: f64| s.latency_at(q).and_then(Tail::measured);
        if let Some(p50) = measured(0.5) {
            out.push(
                json!({ "name": format!("{name} stop p50"), "unit": "ms", "value": ms(p50),
                "extra": format!("{} trials", s.trials) }),
            );
        }
        if let Some(p99) = measured(0.99) {
            out.push(json!({ "name": format!("{name} stop p99"), "unit": "ms", "value": ms(p99) }));
        }
        if s.trials > s.errors {
            out.push(json!({
                "name": format!("{name} censored stops"),
                "unit": "%",
                "value": (s.censored_share() * 1e4).round() / 1e2,
                "extra": format!("{} of {} stops did not finish in their trial; a quantile among them is only a lower bound and is not exported", s.censored, s.trials - s.errors),
            }));
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

    /// One pidfd stop, no misfire, no leak.
    fn stop(outcome: Outcome, latency_us: Option<u64>, completion_us: u64) -> TrialTally<'static> {
        TrialTally {
            strategy: "pidfd",
            outcome,
            latency_us,
            completion_us,
            misfires: 0,
            victim_signals: 0,
            leaks: 0,
            pid_reused: false,
            race_window_us: None,
            exposure_us: None,
            follow_us: None,
            cpu: None,
        }
    }

    #[test]
    fn the_misfire_interval_is_the_range() {
        let mut rec = Recorder::new(&["pidfd".to_string()]);
        for i in 0..30u64 {
            rec.record(&stop(Outcome::Exited, Some(100 + i), 200));
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
                "s/pidfd censored stops",
                "s/pidfd misfire rate"
            ]
        );
        assert_eq!(g[2]["value"], 0.0);
        assert_eq!(g[3]["range"], "0.00–11.35%");
    }

    #[test]
    fn a_bound_is_never_exported_as_a_value() {
        let mut rec = Recorder::new(&["pidfd".to_string()]);
        for i in 0..30u64 {
            // Three stops never finished within their 300 ms.
            let censored = i < 3;
            rec.record(&if censored {
                stop(Outcome::Survived, None, 300_000)
            } else {
                stop(Outcome::Exited, Some(100 + i), 200)
            });
        }
        let b = bmf("s", &rec.strategies);
        let m = &b["s/pidfd"];
        // p50 is measured; p95 and p99 fall among the censored stops.
        assert!(m["latency"]["value"].as_f64().unwrap() > 0.0);
        assert!(m["latency"]["upper_value"].is_null());
        assert!(m["latency-p99"].is_null());
        assert!((m["censored-share"]["value"].as_f64().unwrap() - 0.1).abs() < 1e-9);
        let g = github_benchmark("s", &rec.strategies);
        assert!(!g.to_string().contains("stop p99"));
        assert!(g.to_string().contains("censored stops"));
    }
}
