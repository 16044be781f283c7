//! `stopbench list`.

use super::ExitCode;
use stopbench::scenario::{builtin::BUILTIN, parse, StrategyKind};

pub fn list(args: super::args::ListArgs) -> anyhow::Result<ExitCode> {
    if args.names {
        for (name, _) in BUILTIN {
            println!("{name}");
        }
        return Ok(ExitCode::Success);
    }
    println!("Built-in scenarios (stopbench run NAME):");
    for (name, text) in BUILTIN {
        let description = parse(name, text).map(|s| s.description).unwrap_or_default();
        println!("  {name:<22} {}", description.lines().next().unwrap_or(""));
    }
    println!("\nStrategies ([[strategy]] kind = ...):");
    for kind in StrategyKind::ALL {
        println!("  {:<20} {}", kind.name(), kind.summary());
    }
    Ok(ExitCode::Success)
}
