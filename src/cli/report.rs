//! `stopbench report DIR` and `stopbench compare OLD NEW`.

use super::args::{CompareArgs, ReportArgs};
use super::exit::{ExitCode, Failure};

pub fn report(args: ReportArgs) -> anyhow::Result<ExitCode> {
    if args.dir.join("sweep.json").exists() {
        let fail = |e: stopbench::report::ReportError| Failure(ExitCode::Failure, e.to_string());
        let index = stopbench::results::sweep::SweepResults::load(&args.dir)
            .map_err(|e| fail(e.into()))?
            .index;
        for point in &index.points {
            let dir = args.dir.join(&point.label);
            if dir.join("run.json").exists() {
                stopbench::report::render_dir(&dir).map_err(fail)?;
            }
        }
        stopbench::report::sweep::render_sweep_dir(&args.dir).map_err(fail)?;
        println!("report: {}", args.dir.join("index.html").display());
        return Ok(ExitCode::Success);
    }
    let results = stopbench::report::render_dir(&args.dir)
        .map_err(|e| Failure(ExitCode::Failure, e.to_string()))?;
    print!("{}", stopbench::report::terminal::table(&results.stats));
    println!("report: {}", results.dir.join("index.html").display());
    Ok(ExitCode::Success)
}

pub fn compare(args: CompareArgs) -> anyhow::Result<ExitCode> {
    if !(0.0..1.0).contains(&args.noise) {
        return Err(Failure(
            ExitCode::Usage,
            format!(
                "--noise {} must be a share between 0 and 1 (e.g. 0.02)",
                args.noise
            ),
        )
        .into());
    }
    let comparison =
        stopbench::compare::compare(&args.old, &args.new, args.noise).map_err(|e| {
            let code = match e {
                stopbench::compare::CompareError::DifferentScenarios(..) => ExitCode::Usage,
                _ => ExitCode::Failure,
            };
            Failure(code, e.to_string())
        })?;
    print!("{}", comparison.terminal());
    let out = args.out.unwrap_or_else(|| args.new.join("compare.md"));
    std::fs::write(&out, comparison.markdown()).map_err(|e| {
        Failure(
            ExitCode::Failure,
            format!("cannot write `{}`: {e}", out.display()),
        )
    })?;
    println!("markdown: {}", out.display());
    Ok(ExitCode::Success)
}
