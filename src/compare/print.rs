//! What a comparison says: its headline, the terminal's lines and the
//! Markdown of `compare.md`.

use super::{outcomes, Comparison, Verdict, ALPHA};
use crate::figures::{duration, opt_bounded, p_value, thousands};
use crate::measure::Tail;
use std::fmt::Write;
use std::time::Duration;

/// "45.05 ms → > 300.80 ms", with the relative change when both are measured.
fn tail_change(old: Option<Tail>, new: Option<Tail>) -> String {
    match (old, new) {
        (Some(Tail::Measured(a)), Some(Tail::Measured(b))) => change(Some(a), Some(b)),
        (Some(a), Some(b)) => format!(
            "{} → {}",
            opt_bounded(Some(a.parts())),
            opt_bounded(Some(b.parts()))
        ),
        _ => "–".into(),
    }
}

fn change(old: Option<Duration>, new: Option<Duration>) -> String {
    match (old, new) {
        (Some(a), Some(b)) => {
            let rel = (b.as_secs_f64() - a.as_secs_f64()) / a.as_secs_f64().max(1e-9) * 100.0;
            format!("{} → {} ({rel:+.1}%)", duration(a), duration(b))
        }
        _ => "–".into(),
    }
}

impl Comparison {
    /// "no significant change" when nothing moved beyond noise.
    pub fn headline(&self) -> String {
        let moved = |v: Verdict, up: &str, down: &str| match v {
            Verdict::Better => Some(up.to_string()),
            Verdict::Worse => Some(down.to_string()),
            _ => None,
        };
        let mut changed: Vec<String> = Vec::new();
        for s in &self.strategies {
            if let Some(w) = moved(s.latency, "improved", "regressed") {
                changed.push(format!("{} latency {w}", s.strategy));
            }
            if let Some(w) = moved(s.misfires, "fell", "rose") {
                changed.push(format!("{} misfires {w}", s.strategy));
            }
        }
        for s in &self.strategies {
            if let Some(w) = moved(s.completion, "improved", "regressed") {
                changed.push(format!("{} completion {w}", s.strategy));
            }
        }
        for s in &self.strategies {
            if let Some(w) = moved(s.tail, "improved", "regressed") {
                changed.push(format!("{} p99 {w}", s.strategy));
            }
            if let Some(w) = moved(s.completion_tail, "improved", "regressed") {
                changed.push(format!("{} completion p99 {w}", s.strategy));
            }
            for c in &s.outcomes {
                if let Some(w) = moved(c.verdict, "fell", "rose") {
                    changed.push(format!("{} {} trials {w}", s.strategy, c.kind));
                }
            }
        }
        if changed.is_empty() {
            "no significant change".into()
        } else {
            format!("significant change: {}", changed.join("; "))
        }
    }

    fn rows(&self) -> Vec<[String; 8]> {
        self.strategies
            .iter()
            .map(|s| {
                let lat = s.latency.words("faster", "slower");
                let lat = match s.latency_p {
                    Some(p) => format!("{lat} (p = {p:.3})"),
                    None => lat,
                };
                let ((k0, n0), (k1, n1)) = s.misfire_trials;
                let tail = s.tail.words("tail faster", "tail slower");
                let tail = match (s.p99_p, s.p99_interval) {
                    // 2,000 resamples resolve p down to 0.001, no further.
                    (Some(p), Some((lo, hi))) => format!(
                        "{} {tail} ({}; change 95%: {:+.2} to {:+.2} ms)",
                        tail_change(s.p99.0, s.p99.1),
                        p_value(p),
                        lo / 1000.0,
                        hi / 1000.0
                    ),
                    (Some(p), None) => {
                        format!("{} {tail} ({})", tail_change(s.p99.0, s.p99.1), p_value(p))
                    }
                    _ => tail_change(s.p99.0, s.p99.1),
                };
                let mis = format!(
                    "{}/{} → {}/{}: {} (p = {:.3})",
                    thousands(k0),
                    thousands(n0),
                    thousands(k1),
                    thousands(n1),
                    s.misfires.words("fewer misfires", "more misfires"),
                    s.misfire_p
                );
                let done = s.completion.words("faster", "slower");
                let done_tail = s.completion_tail.words("faster", "slower");
                let done = format!(
                    "{} {}; p99 {} {}",
                    change(s.completion_p50.0, s.completion_p50.1),
                    match s.completion_p {
                        Some(p) => format!("{done} (p = {p:.3})"),
                        None => done,
                    },
                    change(s.completion_p99.0, s.completion_p99.1),
                    match s.completion_p99_p {
                        Some(p) => format!("{done_tail} (p = {p:.3})"),
                        None => done_tail,
                    }
                );
                [
                    s.strategy.clone(),
                    tail_change(s.p50.0, s.p50.1),
                    tail,
                    lat,
                    mis,
                    done,
                    outcomes::words(&s.outcomes),
                    self.noise_words(s.noise),
                ]
            })
            .collect()
    }

    /// "±22% of the median, ±100% of the p99 (from 3 saved baseline runs)".
    fn noise_words(&self, noise: super::Noise) -> String {
        let from = match self.calibrated_from {
            0 => "fixed: save the baseline 3 or more times to calibrate it from its reruns"
                .to_string(),
            n => format!(
                "the larger of the fixed share and three times the spread of {n} saved baseline runs"
            ),
        };
        format!(
            "±{:.0}% of the median, ±{:.0}% of the p99 ({from})",
            noise.median * 100.0,
            noise.tail * 100.0
        )
    }

    pub fn terminal(&self) -> String {
        let mut out = format!("{}: {}\n", self.scenario, self.headline());
        if let Some((old, new)) = &self.across_systemd {
            let _ = writeln!(out, "  systemd: old {old}; new {new}");
        }
        for r in self.rows() {
            let _ = writeln!(
                out,
                "  {}\n    p50 {}   p99 {}\n    latency: {}\n    misfired trials: {}\n    completion: {}\n    outcomes: {}\n    noise: {}",
                r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7]
            );
        }
        for u in &self.unmatched {
            let _ = writeln!(out, "  {u}: only in one of the runs");
        }
        out
    }

    pub fn markdown(&self) -> String {
        let mut out = format!(
            "# stopbench compare: {}\n\nOld: `{}`  \nNew: `{}`\n\n**{}** (Mann–Whitney U on latencies, a bootstrap of the p99's change, Fisher's exact test on misfired trials and on each outcome's count; censored stops ranked above every finished one; the {} p-values Holm-adjusted together, α = {ALPHA}; a significant change smaller than the strategy's noise threshold, its `noise` column, counts as noise).\n\n",
            self.scenario,
            self.old,
            self.new,
            self.headline(),
            self.tests,
        );
        if let Some((old, new)) = &self.across_systemd {
            let _ = writeln!(
                out,
                "The two runs differ only in the systemd they ran under: old {old}; new {new}.\n"
            );
        }
        out.push_str("| strategy | p50 | p99 | latency | misfired trials | completion | outcomes | noise |\n| --- | --- | --- | --- | --- | --- | --- | --- |\n");
        for r in self.rows() {
            let _ = writeln!(out, "| {} |", r.join(" | "));
        }
        for u in &self.unmatched {
            let _ = writeln!(out, "\n`{u}` is only in one of the runs.");
        }
        out
    }
}
