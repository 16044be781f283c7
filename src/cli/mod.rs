//! The command line. clap lives only here; the core never sees it.

mod args;
mod exit;
mod fleet;
mod list;
mod model;
mod report;
mod run;
mod service;
mod unit;

use clap::Parser;

pub use exit::ExitCode;

/// Parses the command line and runs it; returns the process exit code.
pub fn main() -> i32 {
    let cli = args::Cli::parse();
    let result = match cli.command {
        args::Command::Run(run_args) => run::run(run_args),
        args::Command::List(a) => list::list(a),
        args::Command::Report(a) => report::report(a),
        args::Command::Compare(a) => report::compare(a),
        args::Command::Unit(a) => unit::unit(a),
        args::Command::Model(a) => model::model(a),
        args::Command::Observe(a) => model::observe(a),
        args::Command::Pack(a) => fleet::pack(a),
        args::Command::Merge(a) => fleet::merge(a),
        args::Command::Service(a) => service::service(a),
    };
    match result {
        Ok(code) => code as i32,
        Err(err) => {
            eprintln!("error: {err:#}");
            err.downcast_ref::<exit::Failure>()
                .map_or(ExitCode::Failure, |f| f.0) as i32
        }
    }
}
