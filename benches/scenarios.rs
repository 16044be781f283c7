//! `cargo bench --bench scenarios`: every built-in scenario in a quick
//! profile (3 trials per strategy), each report written under
//! reports/bench-<scenario>/; prints where they are. Two run at a time:
//! most of a quick run is waiting (timeouts, a container's boot), and
//! stopbench keeps concurrent runs apart (sandboxes, cgroups, containers).

use std::process::Command;
use std::sync::Mutex;

/// Runs at once.
const WORKERS: usize = 2;

fn main() {
    let exe = env!("CARGO_BIN_EXE_stopbench");
    let root = env!("CARGO_MANIFEST_DIR");
    let list = Command::new(exe)
        .args(["list", "--names"])
        .output()
        .expect("stopbench list --names");
    let text = String::from_utf8_lossy(&list.stdout).into_owned();
    let queue = Mutex::new(text.lines().map(String::from).collect::<Vec<_>>());
    let failed = Mutex::new(0);
    std::thread::scope(|scope| {
        for _ in 0..WORKERS {
            scope.spawn(|| loop {
                let Some(name) = queue.lock().unwrap().pop() else {
                    return;
                };
                let out = format!("{root}/reports/bench-{name}");
                let status = Command::new(exe)
                    .args(["run", &name, "--quiet", "--trials", "3", "--out", &out])
                    .status();
                match status {
                    Ok(s) if s.success() => println!("{name:24} {out}/index.html"),
                    other => {
                        *failed.lock().unwrap() += 1;
                        println!("{name:24} FAILED: {other:?}");
                    }
                }
            });
        }
    });
    std::process::exit(if failed.into_inner().unwrap() > 0 {
        1
    } else {
        0
    });
}
