//! Exporters and the report: one file per output format, one file per plot.
//! Everything here renders from a [`RunResults`] read back from the run
//! directory, so `stopbench report DIR` reproduces it exactly. Units are
//! chosen only here.

pub mod content;
pub mod document;
pub mod export;
pub mod hgrm;
pub mod hlog;
pub mod hosts;
pub mod html;
pub mod markdown;
pub mod plot;
pub mod recommend;
pub mod risk;
mod scenario_text;
pub mod summary;
pub mod sweep;
pub mod terminal;
pub mod trials_csv;

use crate::results::RunResults;
use std::path::Path;
use std::time::Duration;

/// Milliseconds with microsecond precision, for CSV and tables.
pub fn ms(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64() * 1000.0)
}

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Load(#[from] crate::results::LoadError),
    #[error("cannot write `{path}`: {source}")]
    Write {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot render `{path}`: {message}")]
    Render { path: String, message: String },
    #[error(transparent)]
    Plot(#[from] plot::PlotError),
}

pub(crate) fn write_file(path: &Path, bytes: &[u8]) -> Result<(), ReportError> {
    std::fs::write(path, bytes).map_err(|source| ReportError::Write {
        path: path.display().to_string(),
        source,
    })
}

/// Writes `path` whole or not at all: a temporary file beside it, renamed
/// over it. A run killed meanwhile keeps the old file; the temporary one is
/// removed by the next `render_dir`.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), ReportError> {
    let tmp = temporary_beside(path);
    let io = |source| ReportError::Write {
        path: path.display().to_string(),
        source,
    };
    std::fs::write(&tmp, bytes).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        io(e)
    })
}

fn temporary_beside(path: &Path) -> std::path::PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp"))
}

/// Reads a run directory and (re)writes every file derived from it.
pub fn render_dir(dir: &Path) -> Result<RunResults, ReportError> {
    // A run killed while it wrote run.json may have left its temporary copy.
    let _ = std::fs::remove_file(temporary_beside(&dir.join("run.json")));
    let mut results = RunResults::load(dir)?;
    let name = results.name().to_string();
    let rows: Vec<summary::SummaryRow> = results
        .stats
        .iter()
        .map(|s| summary::SummaryRow::new(&name, s))
        .collect();
    let io = |path: &Path| {
        let path = path.display().to_string();
        move |source| ReportError::Write { path, source }
    };
    summary::write_csv(&dir.join("summary.csv"), &rows).map_err(io(&dir.join("summary.csv")))?;
    summary::write_json(&dir.join("summary.json"), &rows).map_err(io(&dir.join("summary.json")))?;
    results.meta.strategies = rows;
    let meta = serde_json::to_string_pretty(&results.meta).expect("run.json serializes") + "\n";
    write_atomically(&dir.join("run.json"), meta.as_bytes())?;
    write_histograms(&results, dir)?;
    write_host_union(&results, dir)?;
    let pretty = |v: serde_json::Value| serde_json::to_string_pretty(&v).expect("json") + "\n";
    write_file(
        &dir.join("bmf.json"),
        pretty(export::bmf(&name, &results.stats)).as_bytes(),
    )?;
    write_file(
        &dir.join("github-benchmark.json"),
        pretty(export::github_benchmark(&name, &results.stats)).as_bytes(),
    )?;
    let plots = plot::render_run(&results)?;
    let doc = content::document(&results, plots);
    write_file(&dir.join("report.md"), markdown::render(&doc).as_bytes())?;
    write_file(&dir.join("index.html"), html::render(&doc).as_bytes())?;
    Ok(results)
}

/// Each strategy's histograms: .hgrm for people and plotters, .hlog (one
/// interval per round) for HdrHistogram's log tools.
fn write_histograms(results: &RunResults, dir: &Path) -> Result<(), ReportError> {
    let length = Duration::from_secs(
        results
            .meta
            .finished_unix
            .saturating_sub(results.meta.started_unix),
    );
    for s in &results.stats {
        write_file(
            &dir.join(format!("{}.hgrm", s.strategy)),
            hgrm::render(&s.latency_us).as_bytes(),
        )?;
        let rounds = hlog::per_round(
            results
                .timeline
                .get(&s.strategy)
                .map_or(&[][..], |t| &t[..]),
            &s.latency_us,
            length,
        );
        let intervals: Vec<hlog::Interval> = rounds
            .iter()
            .map(|(offset, length, hist)| hlog::Interval {
                offset: *offset,
                length: *length,
                hist,
                tag: s.strategy.clone(),
            })
            .collect();
        let comment = format!(
            "stopbench stop latency of `{}`, values in microseconds, one interval per round",
            s.strategy
        );
        let log = hlog::write_intervals(&intervals, &comment, results.meta.started_unix).map_err(
            |e| ReportError::Render {
                path: format!("{}.hlog", s.strategy),
                message: e.to_string(),
            },
        )?;
        write_file(&dir.join(format!("{}.hlog", s.strategy)), &log)?;
        // The stop's completion (what a deploy waits for), beside the death.
        write_file(
            &dir.join(format!("completion-{}.hgrm", s.strategy)),
            hgrm::render(&s.completion_us).as_bytes(),
        )?;
        let tag = format!("completion-{}", s.strategy);
        let log = hlog::write(&s.completion_us, &tag, results.meta.started_unix, length).map_err(
            |e| ReportError::Render {
                path: format!("{tag}.hlog"),
                message: e.to_string(),
            },
        )?;
        write_file(&dir.join(format!("{tag}.hlog")), &log)?;
        if !s.race_window_us.is_empty() {
            write_file(
                &dir.join(format!("race-window-{}.hgrm", s.strategy)),
                hgrm::render(&s.race_window_us).as_bytes(),
            )?;
        }
        if !s.exposure_us.is_empty() {
            write_file(
                &dir.join(format!("exposure-{}.hgrm", s.strategy)),
                hgrm::render(&s.exposure_us).as_bytes(),
            )?;
        }
    }
    Ok(())
}

/// A merged run's tagged union: per strategy, one interval per host,
/// tagged with the host, placed where that host's run went on, so
/// HdrHistogram's tools can pick a host (`-tag`) or add them all.
fn write_host_union(results: &RunResults, dir: &Path) -> Result<(), ReportError> {
    let Some(merged) = &results.meta.merged else {
        return Ok(());
    };
    for s in &results.stats {
        let intervals: Vec<hlog::Interval> = merged
            .hosts
            .iter()
            .filter_map(|run| {
                let stats = results.hosts.iter().find(|(h, _)| *h == run.host)?;
                let hist = &stats
                    .1
                    .iter()
                    .find(|x| x.strategy == s.strategy)?
                    .latency_us;
                Some(hlog::Interval {
                    offset: Duration::from_secs(
                        run.started_unix.saturating_sub(results.meta.started_unix),
                    ),
                    length: Duration::from_secs(
                        run.finished_unix.saturating_sub(run.started_unix).max(1),
                    ),
                    hist,
                    tag: run.host.clone(),
                })
            })
            .collect();
        let comment = format!(
            "stopbench stop latency of `{}` per host (tag = host), values in microseconds",
            s.strategy
        );
        let name = format!("hosts-{}.hlog", s.strategy);
        let log = hlog::write_intervals(&intervals, &comment, results.meta.started_unix).map_err(
            |e| ReportError::Render {
                path: name.clone(),
                message: e.to_string(),
            },
        )?;
        write_file(&dir.join(name), &log)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
