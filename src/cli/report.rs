//! `stopbench report DIR` and `stopbench compare OLD NEW` (or NEW with a baseline).

use super::args::{CompareArgs, ReportArgs};
use super::exit::{ExitCode, Failure};
use std::path::PathBuf;
use stopbench::compare::{Gate, Noise};

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
    let usage = |message: String| anyhow::Error::from(Failure(ExitCode::Usage, message));
    for (flag, value) in [("--noise", args.noise), ("--tail-noise", args.tail_noise)] {
        if !(0.0..1.0).contains(&value) {
            return Err(usage(format!(
                "{flag} {value} must be a share between 0 and 1 (e.g. 0.02)"
            )));
        }
    }
    let gates = match &args.fail_on {
        Some(text) => Gate::parse_list(text).map_err(|e| usage(format!("--fail-on: {e}")))?,
        None => Vec::new(),
    };
    let (old, new, saved) = runs(&args)?;
    let noise = Noise {
        median: args.noise,
        tail: args.tail_noise,
    };
    let calibration = stopbench::compare::calibration::calibrate(&saved, noise)
        .map_err(|e| Failure(ExitCode::Failure, format!("a saved baseline run: {e}")))?;
    let comparison = stopbench::compare::compare(&old, &new, noise, &calibration).map_err(|e| {
        let code = match e {
            stopbench::compare::CompareError::DifferentScenarios(..) => ExitCode::Usage,
            _ => ExitCode::Failure,
        };
        Failure(code, e.to_string())
    })?;
    print!("{}", comparison.terminal());
    let out = args.out.clone().unwrap_or_else(|| new.join("compare.md"));
    std::fs::write(&out, comparison.markdown()).map_err(|e| {
        Failure(
            ExitCode::Failure,
            format!("cannot write `{}`: {e}", out.display()),
        )
    })?;
    println!("markdown: {}", out.display());
    let regressions = comparison.regressions(&gates);
    if regressions.is_empty() {
        return Ok(ExitCode::Success);
    }
    for r in &regressions {
        eprintln!("regression: {r}");
    }
    Ok(ExitCode::Regression)
}

/// OLD and NEW: both given, or NEW and the baseline of its scenario; with
/// a baseline, the runs saved under its name (they calibrate the noise).
fn runs(args: &CompareArgs) -> anyhow::Result<(PathBuf, PathBuf, Vec<PathBuf>)> {
    let usage = |message: String| anyhow::Error::from(Failure(ExitCode::Usage, message));
    match (&args.baseline, &args.runs[..]) {
        (None, [old, new]) => Ok((old.clone(), new.clone(), Vec::new())),
        (None, _) => Err(usage(
            "give OLD and NEW, or NEW with --baseline NAME".into(),
        )),
        (Some(name), [new]) => {
            let meta = stopbench::results::RunResults::load(new)
                .map_err(|e| Failure(ExitCode::Failure, e.to_string()))?;
            let old = stopbench::results::baseline::find(name, meta.name())
                .map_err(|e| usage(e.to_string()))?;
            let saved = stopbench::results::baseline::history(name, meta.name())
                .map_err(|e| usage(e.to_string()))?;
            Ok((old, new.clone(), saved))
        }
        (Some(_), _) => Err(usage("with --baseline NAME give only the NEW run".into())),
    }
}
