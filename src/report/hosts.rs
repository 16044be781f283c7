//! A merged run's hosts: each host's figures beside the pool's, whether the
//! hosts agree, the worst host first when they do not, and the fleet-year
//! projection summed over each host's own churn and windows.

use super::document::{bold, code, text, Block, Span};
use crate::figures::{opt_bounded, percent, thousands};
use crate::measure::Tail;
use crate::merge::agreement::{self, HostStanding};
use crate::model::{assess, Assessment, Fleet, Survival};
use crate::results::RunResults;

/// Each host's standing against the others (none for a run of one host),
/// worked out once per report.
pub fn standings(results: &RunResults) -> Vec<HostStanding> {
    if results.meta.merged.is_none() {
        return Vec::new();
    }
    agreement::standings(&results.hosts)
}

/// The line a merged report leads with when its hosts disagree.
pub fn disagreement_note(results: &RunResults, standings: &[HostStanding]) -> Option<Vec<Span>> {
    let worst = agreement::worst_host(standings, &results.hosts)?;
    let why: Vec<String> = standings
        .iter()
        .filter(|s| s.host == worst)
        .filter_map(|s| s.flag.as_ref().map(|f| format!("`{}`: {f}", s.strategy)))
        .collect();
    Some(vec![
        bold("The hosts disagree. Worst host: "),
        code(worst),
        text(format!(
            " ({}). The pooled figures below hide this; see Hosts.",
            why.join("; ")
        )),
    ])
}

pub fn section(results: &RunResults, standings: &[HostStanding], blocks: &mut Vec<Block>) {
    let Some(merged) = &results.meta.merged else {
        return;
    };
    let worst = agreement::worst_host(standings, &results.hosts).map(str::to_string);
    blocks.push(Block::Heading(2, "Hosts".into()));
    blocks.push(Block::Paragraph(vec![text(format!(
        "This run pools {} hosts' runs of one scenario (`stopbench merge`): counts are summed, latency histograms added (lossless; no percentile is averaged) and each rate's interval is the pooled Wilson interval. Each host is set against the others pooled: Fisher's exact test on trials with a misfire, Mann–Whitney U on stop latencies (Holm-adjusted over the hosts, Bonferroni over the tests, α = 0.05). The significant host farthest from the typical host (the median of the hosts' figures) is flagged and left out of the others, and the search repeats; a latency difference counts only beyond {:.0}% of the typical median. Each host's own run and report are in `hosts/`.",
        merged.hosts.len(),
        agreement::SPREAD * 100.0
    ))]));
    blocks.push(Block::Paragraph(match &worst {
        Some(w) => vec![bold("The hosts disagree. "), text("Worst host first: "), code(w.clone())],
        None => vec![text("The hosts agree: no host differs from the rest beyond chance and the spread threshold.")],
    }));
    let mut order: Vec<&str> = merged.hosts.iter().map(|h| h.host.as_str()).collect();
    if let Some(w) = &worst {
        order.sort_by_key(|h| *h != w.as_str());
    }
    blocks.push(host_table(results, &order, standings));
    fleet_year(results, &order, blocks);
}

fn host_table(results: &RunResults, order: &[&str], standings: &[HostStanding]) -> Block {
    let merged = results.meta.merged.as_ref().expect("a merged run");
    let mut rows = Vec::new();
    for &host in order {
        let Some((_, stats)) = results.hosts.iter().find(|(h, _)| h == host) else {
            continue;
        };
        let run = merged.hosts.iter().find(|h| h.host == host);
        for s in stats {
            let (rate, lo, hi) = s.misfire_rate();
            let standing = standings
                .iter()
                .find(|x| x.host == host && x.strategy == s.strategy);
            rows.push(vec![
                host.to_string(),
                run.map_or("-".into(), |r| r.machine.kernel.clone()),
                s.strategy.clone(),
                thousands(s.trials),
                format!("{} ({}–{})", percent(rate), percent(lo), percent(hi)),
                opt_bounded(s.latency_at(0.5).map(Tail::parts)),
                opt_bounded(s.latency_at(0.99).map(Tail::parts)),
                standing
                    .and_then(|x| x.flag.clone())
                    .unwrap_or_else(|| "agrees".into()),
            ]);
        }
    }
    for s in &results.stats {
        let (rate, lo, hi) = s.misfire_rate();
        rows.push(vec![
            "all hosts".into(),
            String::new(),
            s.strategy.clone(),
            thousands(s.trials),
            format!("{} ({}–{})", percent(rate), percent(lo), percent(hi)),
            opt_bounded(s.latency_at(0.5).map(Tail::parts)),
            opt_bounded(s.latency_at(0.99).map(Tail::parts)),
            "pooled".into(),
        ]);
    }
    Block::Table {
        header: [
            "host",
            "kernel",
            "strategy",
            "trials",
            "misfire rate (95%)",
            "p50",
            "p99",
            "against the rest",
        ]
        .map(String::from)
        .to_vec(),
        rows,
        numeric: vec![false, false, false, true, true, true, true, false],
    }
}

/// An expected count per year, legible however small: `2.4`, `0.031`,
/// `3.2e-6`.
fn per_year(x: f64) -> String {
    if x <= 0.0 {
        "0".into()
    } else if x < 0.01 {
        format!("{x:.1e}")
    } else if x < 10.0 {
        format!("{x:.2}")
    } else {
        format!("{x:.0}")
    }
}

/// Expected misfires per year, each host with its own churn and its own
/// measured windows, summed: never hosts times a mean.
fn fleet_year(results: &RunResults, order: &[&str], blocks: &mut Vec<Block>) {
    let merged = results.meta.merged.as_ref().expect("a merged run");
    let one_host = Fleet {
        hosts: 1,
        stops_per_day: merged.stops_per_day,
    };
    let mut rows = Vec::new();
    for s in &results.stats {
        let kind = results.window_kind(&s.strategy);
        let (mut expected, mut lo, mut hi, mut parts) = (0.0, 0.0, 0.0, Vec::new());
        let mut missing = Vec::new();
        for &host in order {
            let run = merged.hosts.iter().find(|h| h.host == host);
            let stats = results
                .hosts
                .iter()
                .find(|(h, _)| h == host)
                .and_then(|(_, v)| v.iter().find(|x| x.strategy == s.strategy));
            let Some(churn) = run.and_then(|r| r.host_churn.as_ref()) else {
                missing.push(host);
                continue;
            };
            let (space, rates) = super::risk::host_space(churn);
            match assess(kind, stats, space, &rates, Survival::LongLived) {
                Assessment::Risk { per_stop, .. } => {
                    let p = one_host.project(per_stop);
                    expected += p.expected;
                    lo += per_stop.lo * p.stops_per_year;
                    hi += per_stop.hi * p.stops_per_year;
                    parts.push(format!("{host} {}", per_year(p.expected)));
                }
                Assessment::ByConstruction => parts.push(format!("{host} 0")),
                _ => missing.push(host),
            }
        }
        let total = if parts.is_empty() {
            "not modelled".to_string()
        } else {
            format!(
                "{} ({}–{} in a year, 95%)",
                per_year(expected),
                crate::model::fleet::poisson_quantile(0.025, lo),
                crate::model::fleet::poisson_quantile(0.975, hi)
            )
        };
        let mut each = parts.join(", ");
        if !missing.is_empty() {
            each.push_str(&format!("; no model for {}", missing.join(", ")));
        }
        rows.push(vec![s.strategy.clone(), each, total]);
    }
    blocks.push(Block::Paragraph(vec![text(format!(
        "Fleet-year: each host's expected misfires per year at {} stops a day, from its own churn (pid_max, live PIDs, fork rate) and its own measured windows, then summed over the hosts.",
        merged.stops_per_day
    ))]));
    blocks.push(Block::Table {
        header: [
            "strategy",
            "each host (expected per year)",
            "fleet-year sum",
        ]
        .map(String::from)
        .to_vec(),
        rows,
        numeric: vec![false, false, true],
    });
}
