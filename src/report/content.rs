//! What the report says: the run's numbers turned into a document. Every
//! figure here comes from the run directory; nothing is estimated.

use super::document::{bold, code, text, Block, Document, Span};
use super::plot::Plot;
use super::recommend;
use crate::figures::{opt_bounded, opt_duration, percent, thousands};
use crate::measure::{StrategyStats, Tail};
use crate::results::{MisfireRow, RunResults};
use crate::scenario::{Scenario, StrategyConfig};
use std::collections::BTreeMap;

/// "0 in 5,000 trials (< 0.077%, one-sided 97.5%)" or "50 of 50 trials (100%, 92.9–100% at
/// 95%)". With no misfire the bound is the top of the two-sided 95% Wilson
/// interval, so a one-sided bound at 97.5%, and it says so.
pub fn misfire_rate_words(s: &StrategyStats) -> String {
    let (rate, lo, hi) = s.misfire_rate();
    if s.misfired_trials == 0 {
        format!(
            "0 misfires in {} trials (< {}, one-sided 97.5%)",
            thousands(s.trials),
            percent(hi)
        )
    } else {
        format!(
            "misfired in {} of {} trials ({}, {}–{} at 95%), {} signals in all",
            thousands(s.misfired_trials),
            thousands(s.trials),
            percent(rate),
            percent(lo),
            percent(hi),
            thousands(s.misfires)
        )
    }
}

/// The systemd unit settings that implement a strategy.
pub fn unit_settings(c: &StrategyConfig, s: &Scenario) -> String {
    let mut text = String::from("[Service]");
    for line in crate::systemd::unit::settings(c, s) {
        text.push('\n');
        text.push_str(&line);
    }
    text
}

fn recommendation(results: &RunResults, blocks: &mut Vec<Block>) {
    let stats = &results.stats;
    let order = recommend::rank(stats);
    blocks.push(Block::Heading(2, "Recommendation".into()));
    let Some(&best) = order.first() else {
        blocks.push(Block::Paragraph(vec![text(
            "No trials ran, so there is nothing to recommend.",
        )]));
        return;
    };
    let b = &stats[best];
    let p99 = opt_bounded(b.latency_at(0.99).map(Tail::parts));
    let completion = opt_duration(b.completion_at(0.99));
    if recommend::is_clean(b) {
        blocks.push(Block::Paragraph(vec![
            text("Use "),
            bold(&b.strategy),
            text(format!(
                ": {}, every victim's whole process tree stopped, no error and nothing \
                 left running; p99 {p99} to the tree's death, {completion} to completion.",
                misfire_rate_words(b)
            )),
        ]));
    } else {
        blocks.push(Block::Paragraph(vec![
            bold(
                "No strategy in this run was clean: none stopped every victim's whole tree \
                 without a misfire, a survivor, a leak or an error.",
            ),
            text(format!(
                " The least bad is {}: {}; {}.",
                b.strategy,
                misfire_rate_words(b),
                recommend::faults(b).join(", ")
            )),
        ]));
    }
    let items: Vec<Vec<Span>> = order
        .iter()
        .skip(1)
        .map(|&i| compared_line(results, &stats[i]))
        .collect();
    if !items.is_empty() {
        blocks.push(Block::Paragraph(vec![text("Compared with the others:")]));
        blocks.push(Block::List(items));
    }
    if let Some(config) = results
        .meta
        .scenario
        .strategies
        .iter()
        .find(|c| c.label() == b.strategy)
    {
        blocks.push(Block::Paragraph(vec![
            text("Unit settings that implement "),
            code(&b.strategy),
            text(":"),
        ]));
        blocks.push(Block::Code {
            lang: "ini",
            text: unit_settings(config, &results.meta.scenario),
        });
    }
}

/// One strategy beside the recommended one: its misfires, what it hit most,
/// what it left alive or running, its errors and its latencies.
fn compared_line(results: &RunResults, s: &StrategyStats) -> Vec<Span> {
    let mut line = vec![
        bold(&s.strategy),
        text(format!(": {}", misfire_rate_words(s))),
    ];
    if s.trials > 0 && s.misfires > 0 {
        line.push(text(format!(
            " — {:.2} processes hit per stop",
            s.misfires as f64 / s.trials as f64
        )));
        if let Some((cmd, n)) = most_hit(&results.misfires, &s.strategy) {
            line.extend([
                text(" (most often "),
                code(cmd),
                text(format!(", {})", times(n))),
            ]);
        }
    }
    let counts = [
        (s.survived, "stops left the victim alive"),
        (s.leaks, "processes of its tree left running"),
        (s.errors + s.eperm, "errors or refused signals"),
    ];
    for (n, what) in counts.into_iter().filter(|&(n, _)| n > 0) {
        line.push(text(format!("; {} {what}", thousands(n))));
    }
    line.push(text(format!(
        "; p99 {} to the tree's death, {} to completion.",
        opt_bounded(s.latency_at(0.99).map(Tail::parts)),
        opt_duration(s.completion_at(0.99))
    )));
    line
}

/// The process a strategy hit most often, and how often.
fn most_hit<'a>(misfires: &'a [MisfireRow], strategy: &str) -> Option<(&'a str, u64)> {
    let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
    for m in misfires.iter().filter(|m| m.strategy == strategy) {
        *counts.entry(m.hit_cmdline.as_str()).or_default() += 1;
    }
    counts
        .into_iter()
        .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(a.0)))
}

/// "once", "twice", "5 times".
fn times(n: u64) -> String {
    match n {
        1 => "once".into(),
        2 => "twice".into(),
        n => format!("{} times", thousands(n)),
    }
}

/// The mean CPU time per stop, user + system ("0.21 + 0.05 ms"), as
/// hyperfine reports it; "—" where it was not measured.
pub fn cpu_words(s: &StrategyStats) -> String {
    match s.cpu.mean_us() {
        Some((user, sys)) => format!("{:.2} + {:.2} ms", user / 1000.0, sys / 1000.0),
        None => "—".into(),
    }
}

fn results_table(stats: &[StrategyStats]) -> Block {
    let header = [
        "strategy",
        "trials",
        "exited",
        "killed",
        "survived",
        "errors",
        "misfires",
        "misfire rate",
        "95% interval",
        "leaks",
        "p50",
        "p90",
        "p99",
        "p99.9",
        "max",
        "CPU/stop (user + sys)",
    ];
    let rows = stats
        .iter()
        .map(|s| {
            let (rate, lo, hi) = s.misfire_rate();
            vec![
                s.strategy.clone(),
                thousands(s.trials),
                thousands(s.exited),
                thousands(s.killed),
                thousands(s.survived),
                thousands(s.errors),
                thousands(s.misfires),
                percent(rate),
                format!("{}–{}", percent(lo), percent(hi)),
                thousands(s.leaks),
                opt_bounded(s.latency_at(0.5).map(Tail::parts)),
                opt_bounded(s.latency_at(0.9).map(Tail::parts)),
                opt_bounded(s.latency_at(0.99).map(Tail::parts)),
                opt_bounded(s.latency_at(0.999).map(Tail::parts)),
                opt_bounded(s.latency_max().map(Tail::parts)),
                cpu_words(s),
            ]
        })
        .collect();
    Block::Table {
        header: header.iter().map(|h| h.to_string()).collect(),
        rows,
        numeric: (0..header.len()).map(|i| i > 0).collect(),
    }
}

/// What strategies observed beyond the numbers, counted over trials.
fn notes_section(results: &RunResults, blocks: &mut Vec<Block>) {
    if results.notes.is_empty() {
        return;
    }
    blocks.push(Block::Heading(2, "What the strategies saw".into()));
    let rows = results
        .notes
        .iter()
        .flat_map(|(strategy, notes)| {
            notes
                .iter()
                .map(move |(note, n)| vec![strategy.clone(), note.clone(), thousands(*n)])
        })
        .collect();
    blocks.push(Block::Table {
        header: ["strategy", "observation", "trials"]
            .map(String::from)
            .to_vec(),
        rows,
        numeric: vec![false, false, true],
    });
    let mainpid = |needle: &str| {
        results
            .notes
            .values()
            .flat_map(|n| n.keys())
            .any(|k| k.contains(needle))
    };
    if mainpid("$MAINPID in ExecStopPost=") {
        let mut explain = String::from(
            "systemd exports $MAINPID to ExecStopPost= only while it still tracks the main process. \"(empty)\" means the `ps -p $MAINPID` check had no number to check, so its kill never ran, whatever held the old number.",
        );
        if results
            .notes
            .values()
            .flat_map(|n| n.keys())
            .any(|k| k.contains("ExecStopPost=") && !k.contains("(empty)"))
        {
            explain.push_str(" A number means the check ran against it; by then the daemon was gone, so whoever held that number (with forced reuse, a bystander) was what `ps -p` found and `kill` signalled: see the misfires below.");
        }
        blocks.push(Block::Paragraph(vec![text(explain)]));
    }
}

/// Most misfire rows shown individually; the rest are in misfires.csv.
const MISFIRE_ROWS: usize = 30;

fn misfire_section(results: &RunResults, blocks: &mut Vec<Block>) {
    blocks.push(Block::Heading(2, "Misfires".into()));
    if results.misfires.is_empty() {
        blocks.push(Block::Paragraph(vec![text(
            "No strategy hit any process other than its victim.",
        )]));
        return;
    }
    let mut grouped: BTreeMap<(String, String, String, String), u64> = BTreeMap::new();
    for m in &results.misfires {
        *grouped
            .entry((
                m.strategy.clone(),
                m.hit_role.clone(),
                m.hit_cmdline.clone(),
                m.signal.clone(),
            ))
            .or_default() += 1;
    }
    blocks.push(Block::Paragraph(vec![text(
        "Which processes each strategy hit, and how often:",
    )]));
    blocks.push(Block::Table {
        header: ["strategy", "hit process", "role", "signal", "times"]
            .map(String::from)
            .to_vec(),
        rows: grouped
            .into_iter()
            .map(|((s, role, cmd, sig), n)| vec![s, cmd, role, sig, thousands(n)])
            .collect(),
        numeric: vec![false, false, false, false, true],
    });
    blocks.push(Block::Paragraph(vec![text(format!(
        "The first {} individual misfires (all {} are in misfires.csv):",
        MISFIRE_ROWS.min(results.misfires.len()),
        thousands(results.misfires.len() as u64)
    ))]));
    blocks.push(Block::Table {
        header: [
            "trial",
            "strategy",
            "victim PID",
            "hit PID",
            "hit process",
            "signal",
            "seen by",
        ]
        .map(String::from)
        .to_vec(),
        rows: results
            .misfires
            .iter()
            .take(MISFIRE_ROWS)
            .map(|m| {
                vec![
                    m.trial.to_string(),
                    m.strategy.clone(),
                    m.victim_pid.to_string(),
                    m.hit_pid.to_string(),
                    m.hit_cmdline.clone(),
                    m.signal.clone(),
                    m.seen_by.clone(),
                ]
            })
            .collect(),
        numeric: vec![true, false, true, true, false, false, false],
    });
}

/// Signals the victim's own program sent outside its tree (`kill -1`): shown
/// apart from the misfires, which are the strategies' alone.
fn victim_signal_section(results: &RunResults, blocks: &mut Vec<Block>) {
    if results.victim_signals.is_empty() {
        return;
    }
    blocks.push(Block::Heading(
        2,
        "Signals sent by the victim itself".into(),
    ));
    let n = results.victim_signals.len() as u64;
    blocks.push(Block::Paragraph(vec![
        text(format!(
            "The daemon under test signalled {} {} outside its own tree (a ",
            thousands(n),
            if n == 1 { "process" } else { "processes" }
        )),
        code("kill -1"),
        text(
            " from its own program). No strategy sent \
             these, so they are not counted as misfires; in production they would hit the \
             daemon's neighbours whatever the stop strategy. All are in ",
        ),
        code("victim-signals.csv"),
        text("."),
    ]));
    let mut grouped: BTreeMap<(String, String, String), u64> = BTreeMap::new();
    for m in &results.victim_signals {
        *grouped
            .entry((m.hit_cmdline.clone(), m.hit_role.clone(), m.signal.clone()))
            .or_default() += 1;
    }
    blocks.push(Block::Table {
        header: ["hit process", "role", "signal", "times"]
            .map(String::from)
            .to_vec(),
        rows: grouped
            .into_iter()
            .map(|((cmd, role, sig), n)| vec![cmd, role, sig, thousands(n)])
            .collect(),
        numeric: vec![false, false, false, true],
    });
}

fn machine_section(results: &RunResults, blocks: &mut Vec<Block>) {
    let m = &results.meta;
    blocks.push(Block::Heading(2, "Machine".into()));
    let mut items = vec![vec![text(format!(
        "Linux {}, {} cores, host pid_max {}.",
        m.machine.kernel,
        m.machine.cores,
        m.machine
            .host_pid_max
            .map_or("unknown".into(), |p| p.to_string())
    ))]];
    if let Some(sb) = &m.sandbox {
        let mode = match sb.mode {
            crate::sandbox::SandboxMode::Root => "as root",
            crate::sandbox::SandboxMode::UserNamespace => "in a user namespace",
            crate::sandbox::SandboxMode::SystemdMachine => "of a sandboxed systemd's container",
        };
        let pid_max = match (sb.pid_max, &sb.pid_max_note) {
            (Some(p), _) => format!("pid_max {p}"),
            (None, Some(note)) => format!("pid_max not applied: {note}"),
            (None, None) => "pid_max unknown".into(),
        };
        items.push(vec![text(format!(
            "Sandbox: own PID and mount namespaces {mode}, {pid_max}."
        ))]);
    }
    if let Some(sb) = m.systemd_sandbox() {
        let version = sb
            .systemd_version
            .as_deref()
            .unwrap_or("systemd (version unknown)");
        let pid_max = sb
            .pid_max
            .map_or("pid_max not applied".into(), |p| format!("pid_max {p}"));
        items.push(vec![text(format!(
            "Real systemd: {version}, booted from the `{}` root in its own container, {pid_max}.",
            m.scenario.sandbox.systemd_root.name()
        ))]);
    }
    if let Some(c) = &m.churn {
        items.push(vec![text(format!(
            "Churn achieved: {:.0} processes/s (target {}), {} spawned in {:.1} s.",
            c.achieved_rate,
            c.target,
            thousands(c.spawned),
            c.seconds
        ))]);
    }
    if let Some(load) = &m.load {
        let others = load
            .others_share
            .map_or("not measured beside a real systemd".into(), |s| {
                format!("{:.0}% of the CPU time", s * 100.0)
            });
        items.push(vec![text(format!(
            "Other work during the run: {others}; load average {:.2} at the start{}.",
            load.load_at_start,
            if load.busy { " (busy)" } else { "" }
        ))]);
    }
    items.push(vec![text(format!("stopbench {}.", m.stopbench_version))]);
    blocks.push(Block::List(items));
}

/// The whole report of one run.
/// An adaptive run's stop: the width asked and the trials each strategy needed.
fn precision_note(results: &RunResults) -> Option<Vec<Span>> {
    let target = results.meta.scenario.until_precision?;
    let each: Vec<String> = results
        .precision
        .iter()
        .map(|p| match p.needed {
            Some(n) => format!("`{}` needed {}", p.strategy, thousands(n)),
            None => format!(
                "`{}` did not get there in {} (its interval is {} wide)",
                p.strategy,
                thousands(p.trials),
                percent(p.width)
            ),
        })
        .collect();
    Some(vec![
        bold("Adaptive run: "),
        text(format!(
            "it ran until every strategy's misfire interval was at most {} wide, within {} trials each; {}.",
            percent(target.0),
            thousands(u64::from(results.meta.scenario.trials.0)),
            each.join(", ")
        )),
    ])
}

pub fn document(results: &RunResults, plots: Vec<Plot>) -> Document {
    let s = &results.meta.scenario;
    let mut blocks = Vec::new();
    if !s.description.is_empty() {
        blocks.push(Block::Paragraph(vec![text(s.description.clone())]));
    }
    let mut notes: Vec<Vec<Span>> = Vec::new();
    let standings = super::hosts::standings(results);
    notes.extend(super::hosts::disagreement_note(results, &standings));
    if let Some(why) = &results.meta.incomplete {
        notes.push(vec![bold("Incomplete run: "), text(why.clone())]);
    }
    for w in &results.meta.warnings {
        notes.push(vec![bold("Warning: "), text(w.clone())]);
    }
    if let Some(line) = precision_note(results) {
        notes.push(line);
    }
    if !notes.is_empty() {
        blocks.push(Block::List(notes));
    }
    recommendation(results, &mut blocks);
    blocks.push(Block::Heading(2, "Results".into()));
    blocks.push(Block::Paragraph(vec![text(
        "Latency runs from the stop request to the death of the victim's whole tree (its main process and every descendant); a stop whose tree did not die within the trial is censored: it took longer than its completion, and every percentile counts it so (Kaplan–Meier); a percentile that falls among censored stops is only a bound and reads \"> C\". A misfire is a signal that reached any process but the victim and its descendants; the rate is the share of trials with one, with a 95% Wilson interval.",
    )]));
    blocks.push(results_table(&results.stats));
    if !results.meta.unavailable.is_empty() {
        blocks.push(Block::Paragraph(vec![bold(
            "Not measured on this machine:",
        )]));
        blocks.push(Block::List(
            results
                .meta
                .unavailable
                .iter()
                .map(|u| vec![code(&u.strategy), text(format!(": {}.", u.reason))])
                .collect(),
        ));
    }
    super::hosts::section(results, &standings, &mut blocks);
    for plot in plots {
        blocks.push(Block::Plot(plot));
    }
    notes_section(results, &mut blocks);
    super::risk::section(results, &mut blocks);
    misfire_section(results, &mut blocks);
    victim_signal_section(results, &mut blocks);
    super::scenario_text::scenario_section(results, &mut blocks);
    machine_section(results, &mut blocks);
    Document {
        title: format!("stopbench: {}", s.name),
        blocks,
    }
}
