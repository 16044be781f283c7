//! The report's race-window section: each strategy's measured windows and
//! what they mean on the host itself (its pid_max, live PIDs and fork rate),
//! beside the sandbox's result. The model is in crate::model.

use super::document::{text, Block};
use crate::figures::duration;
use crate::measure::StrategyStats;
use crate::model::{assess, estimate_words, Assessment, HostChurn, PidSpace, Survival};
use crate::results::RunResults;
use crate::strategy::WindowKind;

/// The host's PID space and rates, as the model takes them.
pub fn host_space(host: &HostChurn) -> (PidSpace, Vec<f64>) {
    (
        PidSpace {
            pid_max: host.pid_max,
            live: host.live_pids,
        },
        host.rates.clone(),
    )
}

pub fn section(results: &RunResults, blocks: &mut Vec<Block>) {
    blocks.push(Block::Heading(2, "Race windows and production risk".into()));
    blocks.push(Block::Paragraph(vec![text(
        "Two windows put a strategy that addresses the daemon by number at risk. Its exposure runs from the daemon's death (its number free) to the strategy's first act on that number after it: a signal, or a `kill -0` or `ps -p` probe whose answer decides what comes next. It is recorded in every trial, whether or not a signal followed: a poll that finds the number gone was exposed until that probe, since a newcomer on the number would have looked alive and drawn the final signal (the model then asks that the newcomer still be alive when that signal would land). Its race window runs from the last moment it knew the number was its daemon's (it read the pidfile, or saw the number alive) to the moment its signal landed: a live daemon that dies in between frees its number inside it, so for the risk of a daemon that may die at any moment it is an upper bound. The model takes, per trial, the larger risk of the two. Times inside helper programs come from a small preloaded shim (`ps` listing /proc, kill() returning).",
    )]));
    if results.meta.scenario.churn.forced_reuse {
        blocks.push(Block::Paragraph(vec![text(
            "This run handed the victim's number to a new process at once (forced reuse). A strategy fooled by the newcomer (its `kill -0` or `ps -p` sees the number alive) waits out its timeout before it signals again, so its race windows here are that long: a worst case. Its exposure ends at its first act after the death, as without forced reuse; `stopbench model` measures both without forced reuse.",
        )]));
    }
    if results.meta.merged.is_some() {
        blocks.push(Block::Paragraph(vec![text(
            "A merged run: each host has its own churn, so production risk is stated per host, and summed into a fleet-year, in the Hosts section.",
        )]));
    }
    let host = results.meta.host.as_ref();
    let (space, rates) = match host {
        Some(h) => host_space(h),
        None => (
            PidSpace {
                pid_max: 0,
                live: 0,
            },
            Vec::new(),
        ),
    };
    if let Some(h) = host {
        let wrap = space
            .wrap_time(h.fork_rate())
            .map_or("never (no forks)".to_string(), |t| {
                duration(std::time::Duration::from_secs_f64(t))
            });
        blocks.push(Block::Paragraph(vec![text(format!(
            "This host: pid_max {}, {} PIDs in use, {:.0} forks/s ({}, {}); a freed number comes back after {wrap}. Production risk below is the model's (cyclic allocation; see the README) for this host's churn and the windows measured here, assuming the process that takes a recycled number outlives the window.",
            h.pid_max,
            h.live_pids,
            h.fork_rate(),
            h.source,
            h.scope.describe()
        ))]));
    }
    let rows = results
        .stats
        .iter()
        .map(|s| {
            // Without a host there is no rate; the windows are still shown.
            let rates = if host.is_some() { &rates[..] } else { &[0.0] };
            let a = assess(
                results.window_kind(&s.strategy),
                Some(s),
                space,
                rates,
                Survival::LongLived,
            );
            let (misfire, _, _) = s.misfire_rate();
            let mut cells = vec![s.strategy.clone(), format!("{:.1}%", misfire * 100.0)];
            cells.extend(risk_cells(s, a, host.is_some()));
            cells
        })
        .collect();
    blocks.push(Block::Table {
        header: vec![
            "strategy".into(),
            "misfires here".into(),
            "race window p50".into(),
            "exposure p50".into(),
            "model window p50 / p99".into(),
            "production risk on this host".into(),
        ],
        rows,
        numeric: vec![false, true, true, true, true, false],
    });
}

/// A strategy's race window, exposure, model window and production risk,
/// as the risk table shows them.
fn risk_cells(s: &StrategyStats, a: Assessment, host_known: bool) -> Vec<String> {
    let same = |what: &str, why: &str| vec![what.into(), what.into(), what.into(), why.into()];
    match a {
        Assessment::ByConstruction => same(
            "none",
            "0 by construction: it holds the process (pidfd) or its cgroup, never a number",
        ),
        Assessment::NotMeasured => same(
            "not measured",
            "not modelled: helpers inside the sandboxed systemd are not traced",
        ),
        Assessment::NoWindows => same(
            "-",
            "no trial signalled by number (or the shim was unavailable)",
        ),
        Assessment::Risk {
            kind,
            p50,
            p99,
            per_stop,
        } => {
            let mut words = if host_known {
                format!("per stop: {}", estimate_words(&per_stop))
            } else {
                "no host churn recorded".to_string()
            };
            if kind == WindowKind::Name {
                words.push_str(", scan to kill; name matches are a separate risk, measured above");
            }
            vec![
                s.window_at(0.5).map_or("-".into(), duration),
                s.exposure_at(0.5).map_or("-".into(), duration),
                format!("{} / {}", duration(p50), duration(p99)),
                words,
            ]
        }
    }
}
