//! The report of a sweep: each point is a whole run in its own directory;
//! the sweep directory holds sweep.json (what was swept), and gets
//! sweep.csv, the trend plot and a report linking to every point.

use super::document::{bold, text, Block, Document, Span};
use super::{html, markdown, plot, recommend, write_file, ReportError};
use crate::figures::{duration, opt_bounded, thousands};
use crate::measure::Tail;
use crate::results::sweep::{agreement, ModelCheck, SweepResults, POOLED_ALPHA};
use serde::Serialize;
use std::path::Path;

fn model_section(sweep: &SweepResults, checks: &[ModelCheck], blocks: &mut Vec<Block>) {
    blocks.push(Block::Heading(2, "Model check".into()));
    blocks.push(Block::Paragraph(vec![text(
        "The model (cyclic PID allocation; see the README) predicts each point's misfire rate from the sandbox's pid_max, the PIDs in use there, the churn rate achieved, the churners' lifetimes and the exposures and race windows measured at that point (per trial the larger risk of the two). It assumes the victim's number sits at a random position relative to the allocator, as a long-running daemon's does: the scenario gives victims a random PID number (`random_pid`), or ages spread over at least one wrap.",
    )]));
    let (inside, n) = agreement(checks);
    if n > 0 {
        blocks.push(Block::Paragraph(vec![
            bold(format!("{inside} of {n}")),
            text(" applicable cells have the prediction inside the measured 95% interval."),
        ]));
    }
    if let Some(words) = pooled_words(sweep, checks) {
        blocks.push(Block::Paragraph(vec![text(words)]));
    }
    let rows = checks.iter().map(|m| check_row(sweep, m)).collect();
    blocks.push(Block::Table {
        header: [
            sweep.index.parameter.key(),
            "strategy",
            "wrap time",
            "model window p50",
            "predicted",
            "measured",
            "95% interval",
            "agreement",
        ]
        .map(String::from)
        .to_vec(),
        rows,
        numeric: vec![false, false, true, true, true, true, true, false],
    });
}

/// The pooled fit, and the same data against the model scaled ×0.7 and ×1.4.
fn pooled_words(sweep: &SweepResults, checks: &[ModelCheck]) -> Option<String> {
    let fit = sweep.pooled_fit(checks, 1.0)?;
    let verdict = |f: &crate::model::pooled::Fit| {
        format!(
            "χ² = {:.1} on {} cells, p = {:.3} ({})",
            f.chi2,
            f.cells,
            f.p_value,
            if f.passes(POOLED_ALPHA) {
                "fits"
            } else {
                "rejected"
            }
        )
    };
    let scaled: Vec<String> = [0.7, 1.4]
        .iter()
        .filter_map(|&k| Some(format!("×{k}: {}", verdict(&sweep.pooled_fit(checks, k)?))))
        .collect();
    let mut words = format!(
        "Pooled over the applicable cells, the measured counts against the predictions: {}, judged at the {}% level (a χ² goodness of fit, one degree of freedom per cell; see the README). The same data against the model scaled: {}. A validation with power fits the model and rejects both.",
        verdict(&fit),
        POOLED_ALPHA * 100.0,
        scaled.join("; ")
    );
    if fit.sparse > 0 {
        words.push_str(&format!(
            " {} cells expect fewer than 5 misfires, where the χ² approximation is rough.",
            fit.sparse
        ));
    }
    Some(words)
}

/// What a scan of /proc costs at each point: the floor beside what a
/// strategy took. A strategy that looks processes up by name (pkill,
/// killall, pidof) reads every process at least once per stop.
fn processes_section(sweep: &SweepResults, blocks: &mut Vec<Block>) {
    blocks.push(Block::Heading(2, "Processes in the sandbox".into()));
    blocks.push(Block::Paragraph(vec![text(
        "The floor is one scan of the sandbox's /proc as `pgrep -f` makes it (list the directory, read every command line) in direct system calls, median of three: no tool that finds processes by name can stop a daemon faster. The CPU per stop counts the strategy's own work and every program it ran.",
    )]));
    let names = sweep.strategies();
    let mut header = vec!["processes".to_string(), "/proc scan floor".to_string()];
    for name in &names {
        header.push(format!("{name} p50"));
        header.push(format!("{name} CPU/stop"));
    }
    let rows = sweep
        .points
        .iter()
        .map(|(point, r)| {
            let churn = r.meta.churn.as_ref();
            let mut row = vec![
                churn
                    .and_then(|c| c.processes)
                    .map_or(point.value.clone(), thousands),
                churn.and_then(|c| c.proc_scan_us).map_or("–".into(), |us| {
                    duration(std::time::Duration::from_secs_f64(us / 1e6))
                }),
            ];
            for name in &names {
                let s = r.stats.iter().find(|s| &s.strategy == name);
                row.push(opt_bounded(
                    s.and_then(|s| s.latency_at(0.5)).map(Tail::parts),
                ));
                row.push(s.map_or("–".into(), crate::report::content::cpu_words));
            }
            row
        })
        .collect();
    let numeric = vec![true; header.len()];
    blocks.push(Block::Table {
        header,
        rows,
        numeric,
    });
}

/// One row of the model-check table.
fn check_row(sweep: &SweepResults, m: &ModelCheck) -> Vec<String> {
    let (r, lo, hi) = m.check.measured;
    let s = sweep.points[m.point]
        .1
        .stats
        .iter()
        .find(|s| s.strategy == m.strategy);
    vec![
        sweep.axis_label(m.point),
        m.strategy.clone(),
        m.check.wrap.map_or("–".into(), |t| {
            duration(std::time::Duration::from_secs_f64(t))
        }),
        s.and_then(|s| s.risk_window_at(0.5))
            .map_or("–".into(), duration),
        format!("{:.1}%", m.check.predicted.p * 100.0),
        format!("{:.1}%", r * 100.0),
        format!("{:.1}–{:.1}%", lo * 100.0, hi * 100.0),
        match &m.check.applicable {
            Ok(()) if m.check.inside() => "inside".into(),
            Ok(()) => "outside".into(),
            Err(why) => format!("not applicable: {why}"),
        },
    ]
}

#[derive(Serialize)]
struct SweepRow<'a> {
    parameter: &'static str,
    value: &'a str,
    strategy: &'a str,
    trials: u64,
    misfired_trials: u64,
    misfire_rate: f64,
    misfire_rate_lo95: f64,
    misfire_rate_hi95: f64,
    survived: u64,
    p50_ms: Option<f64>,
    p99_ms: Option<f64>,
    /// Whether `p50_ms` and `p99_ms` are only lower bounds (they fall among
    /// censored stops, see measure::survival).
    p50_lower_bound: bool,
    p99_lower_bound: bool,
    achieved_churn_rate: Option<f64>,
    pid_max: Option<u32>,
    race_window_p50_ms: Option<f64>,
    /// The model's prediction for this point (number-addressing strategies).
    predicted_misfire_rate: Option<f64>,
    /// `inside`, `outside` or `not applicable`.
    model_agreement: Option<&'static str>,
    /// Mean CPU per stop, user + system.
    cpu_ms: Option<f64>,
    /// Processes in the sandbox, as one /proc scan saw them.
    processes: Option<u64>,
    /// One /proc scan's floor at this point (see procfs::scan_floor).
    proc_scan_ms: Option<f64>,
}

fn write_csv(dir: &Path, sweep: &SweepResults) -> Result<(), ReportError> {
    let path = dir.join("sweep.csv");
    let io = |source| ReportError::Write {
        path: path.display().to_string(),
        source,
    };
    let mut w = csv::Writer::from_path(&path).map_err(|e| io(e.into()))?;
    let checks = sweep.model_checks();
    for (i, (point, r)) in sweep.points.iter().enumerate() {
        for s in &r.stats {
            let check = checks
                .iter()
                .find(|c| c.point == i && c.strategy == s.strategy)
                .map(|c| &c.check);
            let (rate, lo, hi) = s.misfire_rate();
            let ms = |d: Option<std::time::Duration>| d.map(|d| d.as_micros() as f64 / 1000.0);
            w.serialize(SweepRow {
                parameter: sweep.index.parameter.key(),
                value: &point.value,
                strategy: &s.strategy,
                trials: s.trials,
                misfired_trials: s.misfired_trials,
                misfire_rate: (rate * 1e6).round() / 1e6,
                misfire_rate_lo95: (lo * 1e6).round() / 1e6,
                misfire_rate_hi95: (hi * 1e6).round() / 1e6,
                survived: s.survived,
                // A quantile among censored stops is its bound, flagged.
                p50_ms: ms(s.latency_at(0.5).map(Tail::value)),
                p99_ms: ms(s.latency_at(0.99).map(Tail::value)),
                p50_lower_bound: s.latency_at(0.5).is_some_and(Tail::is_bound),
                p99_lower_bound: s.latency_at(0.99).is_some_and(Tail::is_bound),
                achieved_churn_rate: r
                    .meta
                    .churn
                    .as_ref()
                    .map(|c| (c.achieved_rate * 10.0).round() / 10.0),
                pid_max: r.meta.sandbox.as_ref().and_then(|s| s.pid_max),
                race_window_p50_ms: ms(s.window_at(0.5)),
                predicted_misfire_rate: check.map(|c| (c.predicted.p * 1e6).round() / 1e6),
                model_agreement: check.map(|c| match (&c.applicable, c.inside()) {
                    (Err(_), _) => "not applicable",
                    (Ok(()), true) => "inside",
                    (Ok(()), false) => "outside",
                }),
                cpu_ms: s.cpu.mean_us().map(|(u, y)| (u + y).round() / 1e3),
                processes: r.meta.churn.as_ref().and_then(|c| c.processes),
                proc_scan_ms: (r.meta.churn.as_ref())
                    .and_then(|c| c.proc_scan_us)
                    .map(|us| us.round() / 1e3),
            })
            .map_err(|e| io(e.into()))?;
        }
    }
    w.flush().map_err(io)
}

/// The recommended strategy at point `i`, with a link to its report.
fn best_at(sweep: &SweepResults, i: usize) -> Vec<Span> {
    let (point, r) = &sweep.points[i];
    let key = sweep.index.parameter.key();
    let mut line = vec![text(format!("{key} = {}: ", sweep.axis_label(i)))];
    match recommend::rank(&r.stats).first() {
        Some(&best) => {
            let s = &r.stats[best];
            line.push(bold(&s.strategy));
            line.push(text(format!(
                " ({}, {} of {} trials misfired, p99 {}) — ",
                if recommend::is_clean(s) {
                    "clean"
                } else {
                    "no clean strategy"
                },
                thousands(s.misfired_trials),
                thousands(s.trials),
                opt_bounded(s.latency_at(0.99).map(Tail::parts))
            )));
        }
        None => line.push(text("no trials — ")),
    }
    line.push(Span::Link(
        "report".into(),
        format!("{}/index.html", point.label),
    ));
    line
}

fn document(
    sweep: &SweepResults,
    plots: Vec<plot::Plot>,
    checks: &[ModelCheck],
    check_plot: Option<plot::Plot>,
) -> Document {
    let key = sweep.index.parameter.key();
    let mut blocks = vec![Block::Paragraph(vec![text(format!(
        "A sweep of `{key}` over {} values; every point is a full run with its own report.",
        sweep.index.points.len()
    ))])];
    if sweep.points.len() < sweep.index.points.len() {
        blocks.push(Block::Paragraph(vec![
            bold("Incomplete sweep: "),
            text(format!(
                "{} of {} points ran.",
                sweep.points.len(),
                sweep.index.points.len()
            )),
        ]));
    }
    blocks.push(Block::Heading(2, "Trend".into()));
    for p in plots {
        blocks.push(Block::Plot(p));
    }
    if sweep.index.parameter == crate::scenario::SweepParameter::Processes {
        processes_section(sweep, &mut blocks);
    }
    if !checks.is_empty() {
        model_section(sweep, checks, &mut blocks);
        if let Some(p) = check_plot {
            blocks.push(Block::Plot(p));
        }
    }
    blocks.push(Block::Heading(2, "Best strategy at each point".into()));
    let items: Vec<Vec<Span>> = (0..sweep.points.len()).map(|i| best_at(sweep, i)).collect();
    blocks.push(Block::List(items));
    blocks.push(Block::Heading(2, "All points".into()));
    blocks.push(all_points(sweep));
    Document {
        title: format!("stopbench sweep: {} over {key}", sweep.index.scenario),
        blocks,
    }
}

/// Every point's strategies in one table.
fn all_points(sweep: &SweepResults) -> Block {
    let key = sweep.index.parameter.key();
    let mut rows = Vec::new();
    for (i, (_, r)) in sweep.points.iter().enumerate() {
        for s in &r.stats {
            let (rate, lo, hi) = s.misfire_rate();
            rows.push(vec![
                sweep.axis_label(i),
                s.strategy.clone(),
                thousands(s.trials),
                format!("{:.1}%", rate * 100.0),
                format!("{:.1}–{:.1}%", lo * 100.0, hi * 100.0),
                thousands(s.survived),
                opt_bounded(s.latency_at(0.5).map(Tail::parts)),
                opt_bounded(s.latency_at(0.99).map(Tail::parts)),
                crate::report::content::cpu_words(s),
            ]);
        }
    }
    Block::Table {
        header: [
            key,
            "strategy",
            "trials",
            "misfire rate",
            "95% interval",
            "survived",
            "p50",
            "p99",
            "CPU/stop (user + sys)",
        ]
        .map(String::from)
        .to_vec(),
        rows,
        numeric: vec![false, false, true, true, true, true, true, true, true],
    }
}

/// (Re)writes sweep.csv, the trend plot, report.md and index.html of a sweep directory.
pub fn render_sweep_dir(dir: &Path) -> Result<SweepResults, ReportError> {
    let sweep = SweepResults::load(dir)?;
    write_csv(dir, &sweep)?;
    let mut plots = vec![plot::sweep::plot(dir, &sweep)?];
    if sweep.index.parameter == crate::scenario::SweepParameter::Processes {
        plots.push(plot::processes::plot(dir, &sweep)?);
    }
    let checks = sweep.model_checks();
    let check_plot = if checks.is_empty() {
        None
    } else {
        Some(plot::model_check::plot(dir, &sweep, &checks)?)
    };
    let doc = document(&sweep, plots, &checks, check_plot);
    write_file(&dir.join("report.md"), markdown::render(&doc).as_bytes())?;
    write_file(&dir.join("index.html"), html::render(&doc).as_bytes())?;
    Ok(sweep)
}
