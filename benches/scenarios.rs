//! `cargo bench --bench scenarios`: every built-in scenario in a quick
//! profile (3 trials per strategy), each report written under
//! reports/bench-<scenario>/; prints where they are.

use std::process::Command;

fn main() {
    let exe = env!("CARGO_BIN_EXE_stopbench");
    let root = env!("CARGO_MANIFEST_DIR");
    let list = Command::new(exe)
        .args(["list", "--names"])
        .output()
        .expect("stopbench list --names");
    let text = String::from_utf8_lossy(&list.stdout).into_owned();
    let names: Vec<&str> = text.lines().collect();
    let mut failed = 0;
    for name in names {
        let out = format!("{root}/reports/bench-{name}");
        let status = Command::new(exe)
            .args(["run", name, "--quiet", "--trials", "3", "--out", &out])
            .status();
        match status {
            Ok(s) if s.success() => println!("{name:24} {out}/index.html"),
            other => {
                failed += 1;
                println!("{name:24} FAILED: {other:?}");
            }
        }
    }
    std::process::exit(if failed > 0 { 1 } else { 0 });
}
