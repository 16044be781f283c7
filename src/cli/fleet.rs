//! `stopbench pack` and `stopbench merge`: runs carried between machines.

use super::args::{MergeArgs, PackArgs};
use super::exit::{ExitCode, Failure};
use stopbench::merge::{self, MergeError, MergeOptions};

pub fn pack(args: PackArgs) -> anyhow::Result<ExitCode> {
    let out = args.out.unwrap_or_else(|| {
        let mut name = args.dir.as_os_str().to_owned();
        name.push(".tar.gz");
        name.into()
    });
    stopbench::results::bundle::pack(&args.dir, &out)
        .map_err(|e| Failure(ExitCode::Failure, e.to_string()))?;
    println!("bundle: {}", out.display());
    Ok(ExitCode::Success)
}

pub fn merge(args: MergeArgs) -> anyhow::Result<ExitCode> {
    if !(args.stops_per_day > 0.0 && args.stops_per_day.is_finite()) {
        return Err(Failure(
            ExitCode::Usage,
            format!("--stops-per-day {} must be above 0", args.stops_per_day),
        )
        .into());
    }
    let options = MergeOptions {
        inputs: args.inputs,
        out: args.out,
        allow_kernels: args.allow_kernels,
        stops_per_day: args.stops_per_day,
    };
    let results = merge::merge(&options).map_err(|e| {
        let code = match e {
            MergeError::Differ { .. }
            | MergeError::Kernels { .. }
            | MergeError::SameHost(_)
            | MergeError::OutNotEmpty(_)
            | MergeError::Input { .. } => ExitCode::Usage,
            _ => ExitCode::Failure,
        };
        Failure(code, e.to_string())
    })?;
    let standings = merge::agreement::standings(&results.hosts);
    match merge::agreement::worst_host(&standings, &results.hosts) {
        Some(worst) => {
            println!("the hosts disagree; worst host: {worst}");
            for s in standings.iter().filter(|s| s.flag.is_some()) {
                println!(
                    "  {} / {}: {}",
                    s.host,
                    s.strategy,
                    s.flag.as_deref().unwrap_or("")
                );
            }
        }
        None => println!("the hosts agree"),
    }
    print!("{}", stopbench::report::terminal::table(&results.stats));
    println!(
        "merged {} hosts: {}",
        results.hosts.len(),
        results.dir.join("index.html").display()
    );
    Ok(ExitCode::Success)
}
