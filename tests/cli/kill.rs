//! SIGKILL at random moments: while the sandbox is set up, mid-trial under
//! churn, while a systemd container boots, and while the report is written.
//! After each kill nothing is left (processes, cgroups, mounts, nspawn
//! state, temporary files), every row written is whole, and `report DIR`
//! rebuilds a report from what is there.

use crate::helpers::*;
use rand::{Rng, SeedableRng};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// Where a kill lands.
#[derive(Clone, Copy, Debug)]
enum Moment {
    /// A random delay after the start (host observation, sandbox set-up).
    SetUp,
    /// A random delay after the first trial row.
    MidTrial,
    /// A random delay after the start of a run whose only strategy needs a
    /// systemd container (it boots for several seconds).
    Boot,
    /// As soon as the report's first file appears, plus a random delay.
    Report,
}

/// What a run and its kill may have left on the host, by the killed
/// process's PID and the scenario's unique token.
fn leftovers(pid: u32, token: &str) -> Vec<String> {
    let mut left = host_processes_with(token);
    left.extend(container_leftovers(pid));
    for base in ["/sys/fs/cgroup/unified", "/sys/fs/cgroup"] {
        let path = Path::new(base).join(format!("stopbench-{pid}"));
        if path.exists() {
            left.push(path.display().to_string());
        }
    }
    if let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) {
        left.extend(entries.flatten().filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            (name.starts_with("stopbench") && name.contains(&format!("-{pid}-")))
                .then(|| e.path().display().to_string())
        }));
    }
    left
}

fn scenario(dir: &Path, token: &str, moment: Moment) -> std::path::PathBuf {
    let path = dir.join(format!("{token}.toml"));
    let text = match moment {
        Moment::Boot => format!(
            "name = \"{token}\"\ntrials = 3\n[victim]\ncommand = \"/usr/bin/{token}\"\n\
             [[strategy]]\nkind = \"systemd\"\ntimeout = \"100ms\"\n"
        ),
        Moment::Report => format!(
            "name = \"{token}\"\ntrials = 2\n[churn]\nrate = 200\n\
             bystanders = [\"/usr/bin/{token}-helper\"]\n[victim]\ncommand = \"/usr/bin/{token}\"\n\
             [[strategy]]\nkind = \"plain-kill\"\ntimeout = \"50ms\"\n\
             [[strategy]]\nkind = \"pidfd\"\ntimeout = \"50ms\"\n"
        ),
        Moment::SetUp | Moment::MidTrial => {
            return long_scenario(dir, token);
        }
    };
    std::fs::write(&path, text).unwrap();
    path
}

/// Waits (bounded) until `ready` holds, polling every millisecond.
fn wait_until(limit: Duration, ready: impl Fn() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if ready() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    false
}

/// One run, killed at `moment`, then checked.
fn kill_and_check(moment: Moment, iteration: usize, rng: &mut rand::rngs::StdRng) {
    let dir = tempfile::tempdir().unwrap();
    let token = format!("sbk{}x{iteration}", std::process::id());
    let path = scenario(dir.path(), &token, moment);
    let out = dir.path().join("run");
    let mut child = start(&path, &out);
    let pid = child.id();
    let delay = match moment {
        Moment::SetUp => Duration::from_millis(rng.random_range(0..800)),
        Moment::MidTrial => {
            wait_for_rows(&out.join("trials.csv"), 1, Duration::from_secs(60));
            Duration::from_millis(rng.random_range(0..300))
        }
        Moment::Boot => Duration::from_millis(rng.random_range(200..4000)),
        Moment::Report => {
            let report = out.join("summary.csv");
            assert!(wait_until(Duration::from_secs(60), || report.exists()));
            Duration::from_micros(rng.random_range(0..30_000))
        }
    };
    std::thread::sleep(delay);
    child.kill().unwrap(); // SIGKILL, to our own child by handle
    child.wait().unwrap();
    let what = format!("{moment:?} #{iteration}, killed after {delay:?}");
    let mut left = leftovers(pid, &token);
    let start = Instant::now();
    while !left.is_empty() && start.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(100));
        left = leftovers(pid, &token);
    }
    assert!(left.is_empty(), "{what}: left behind {left:?}");
    for file in [
        "trials.csv",
        "misfires.csv",
        "victim-signals.csv",
        "leaks.csv",
    ] {
        let path = out.join(file);
        if path.exists() {
            assert_whole_rows(&path);
        }
    }
    if out.join("run.json").exists() {
        let rebuilt = Command::new(BIN).arg("report").arg(&out).output().unwrap();
        assert!(
            rebuilt.status.success(),
            "{what}: report DIR failed: {}",
            String::from_utf8_lossy(&rebuilt.stderr)
        );
        assert!(out.join("report.md").exists(), "{what}");
    } else {
        // Killed before the run wrote anything it measured.
        let rows = std::fs::read_to_string(out.join("trials.csv")).unwrap_or_default();
        assert!(rows.lines().count() <= 1, "{what}: trials without run.json");
    }
}

/// 50 kills in all, at seeded random moments (the seed is printed, so a
/// failure can be replayed with `STOPBENCH_KILL_SEED`).
fn kills(moment: Moment, count: usize) {
    let seed = std::env::var("STOPBENCH_KILL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
            now.map_or(0, |d| d.as_nanos() as u64)
        });
    eprintln!("{moment:?}: seed {seed}");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    for i in 0..count {
        kill_and_check(moment, i, &mut rng);
    }
}

#[test]
fn killed_during_set_up() {
    kills(Moment::SetUp, 16);
}

#[test]
fn killed_mid_trial_under_churn() {
    kills(Moment::MidTrial, 16);
}

#[test]
fn killed_while_a_systemd_container_boots() {
    kills(Moment::Boot, 6);
}

#[test]
fn killed_while_the_report_is_written() {
    kills(Moment::Report, 12);
}
