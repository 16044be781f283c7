//! `stopbench report DIR` and `stopbench compare OLD NEW`.

use super::args::{CompareArgs, ReportArgs};
use super::exit::{ExitCode, Failure};

pub fn report(args: ReportArgs) -> anyhow::Result<ExitCode> {
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
