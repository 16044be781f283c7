//! Running a sweep: one full run per value, each in `<out>/<label>/`, then
//! the sweep's own report over all of them.

use super::{execute, RunError, RunOptions, INTERRUPTED};
use crate::report::sweep::render_sweep_dir;
use crate::results::sweep::{SweepIndex, SweepIndexPoint, SweepResults};
use crate::scenario::{SweepParameter, SweepPoint};
use std::sync::atomic::Ordering;

pub fn execute_sweep(
    options: RunOptions,
    parameter: SweepParameter,
    points: Vec<SweepPoint>,
) -> Result<SweepResults, RunError> {
    let RunOptions {
        scenario,
        out_dir,
        quiet,
        exe,
        mode,
    } = options;
    let io = |path: std::path::PathBuf| {
        move |source| RunError::Write {
            path: path.display().to_string(),
            source,
        }
    };
    std::fs::create_dir_all(&out_dir).map_err(io(out_dir.clone()))?;
    let text =
        toml::to_string(&scenario).unwrap_or_else(|e| format!("# cannot render scenario: {e}\n"));
    std::fs::write(out_dir.join("scenario.toml"), text)
        .map_err(io(out_dir.join("scenario.toml")))?;
    let index = SweepIndex {
        scenario: scenario.name.0.clone(),
        parameter,
        points: points
            .iter()
            .map(|p| SweepIndexPoint {
                label: p.label.clone(),
                value: p.value.clone(),
            })
            .collect(),
    };
    let json = serde_json::to_string_pretty(&index).expect("sweep.json serializes") + "\n";
    std::fs::write(out_dir.join("sweep.json"), json).map_err(io(out_dir.join("sweep.json")))?;
    for (i, point) in points.into_iter().enumerate() {
        if INTERRUPTED.load(Ordering::SeqCst) {
            break;
        }
        if !quiet {
            eprintln!(
                "stopbench: sweep point {}/{}: {} = {}",
                i + 1,
                index.points.len(),
                parameter.key(),
                point.value
            );
        }
        let dir = out_dir.join(&point.label);
        execute(RunOptions {
            scenario: point.scenario,
            out_dir: dir,
            quiet,
            exe: exe.clone(),
            mode,
        })?;
    }
    Ok(render_sweep_dir(&out_dir)?)
}
