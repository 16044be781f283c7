//! `stopbench unit`.

use super::args::UnitArgs;
use super::exit::{ExitCode, Failure};
use stopbench::systemd::error::VerifyError;
use stopbench::systemd::unit;

pub fn unit(args: UnitArgs) -> anyhow::Result<ExitCode> {
    let scenario = stopbench::scenario::load(&args.scenario)
        .map_err(|e| Failure(ExitCode::Usage, e.to_string()))?;
    let Some(config) = scenario
        .strategies
        .iter()
        .find(|s| s.label() == args.strategy)
    else {
        let known: Vec<String> = scenario.strategies.iter().map(|s| s.label()).collect();
        return Err(Failure(
            ExitCode::Usage,
            format!(
                "--strategy `{}` is not in scenario `{}`; it has: {}",
                args.strategy,
                scenario.name,
                known.join(", ")
            ),
        )
        .into());
    };
    let name = format!("{}.service", config.label());
    let text = unit::service(&scenario, config, unit::Start::Deployed);
    print!("{text}");
    if args.no_verify {
        return Ok(ExitCode::Success);
    }
    match unit::verify(&name, &text) {
        Ok(()) => {
            eprintln!("{name}: systemd-analyze verify: no warnings");
            Ok(ExitCode::Success)
        }
        Err(said @ VerifyError::NotInstalled) => {
            eprintln!("{name}: not verified: {said}");
            Ok(ExitCode::Success)
        }
        Err(said) => Err(Failure(
            ExitCode::Failure,
            format!("{name} fails systemd-analyze verify:\n{said}"),
        )
        .into()),
    }
}
