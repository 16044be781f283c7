//! stopbench's binary: either one of the roles the sandbox re-executes it in
//! (chosen by environment, so the command line stays the scenario's), or the CLI.

mod cli;

fn main() {
    if let Some(code) = stopbench::role::dispatch() {
        std::process::exit(code);
    }
    std::process::exit(cli::main());
}
