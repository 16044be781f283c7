//! Property-based fuzzing of what stopbench reads: scenario files, and the
//! files of a run directory that `report DIR` and `compare` read back. The
//! answer is always a result or a clear error naming the file (and its line
//! where it has lines), never a panic; a reordered `trials.csv` gives the
//! same report.
//!
//! Cases per property: 48 in the test command, `STOPBENCH_FUZZ_CASES=N` for a
//! long run (see the README).

mod run_dir;
mod scenario;

use proptest::test_runner::Config;

/// The proptest configuration: few cases by default, many on request.
pub fn config() -> Config {
    let cases = std::env::var("STOPBENCH_FUZZ_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(48);
    Config {
        cases,
        // Shrinking a failure of the slow run-directory property takes long;
        // the failing input is printed either way.
        max_shrink_iters: 64,
        failure_persistence: None,
        ..Config::default()
    }
}

/// The shipped scenario files, by name.
pub fn shipped_scenarios() -> Vec<(String, String)> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios");
    let mut out: Vec<(String, String)> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| {
            let path = e.ok()?.path();
            (path.extension()? == "toml").then(|| {
                let name = path.file_name().unwrap().to_string_lossy().into_owned();
                (name, std::fs::read_to_string(&path).unwrap())
            })
        })
        .collect();
    out.sort();
    out
}
