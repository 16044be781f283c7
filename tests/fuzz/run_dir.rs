//! The run-directory reader (`report DIR`, `compare`) on truncated,
//! reordered and corrupted `trials.csv`, `misfires.csv`, `run.json` and
//! `scenario.toml`, and the interval-log reader on corrupted `.hlog` bytes.

use proptest::prelude::*;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// One real run (the default scenario, a few trials), made once per test
/// binary and copied for every case.
fn baseline() -> &'static Path {
    static RUN: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    let (_, dir) = RUN.get_or_init(|| {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("run");
        let status = std::process::Command::new(env!("CARGO_BIN_EXE_stopbench"))
            .args(["run", "--quiet", "--trials", "4", "--out"])
            .arg(&out)
            .arg("default")
            .current_dir(tmp.path())
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "the baseline run failed");
        (tmp, out)
    });
    dir
}

/// A fresh copy of the baseline run.
fn copy() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    std::fs::create_dir(&dir).unwrap();
    for entry in std::fs::read_dir(baseline()).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            std::fs::copy(&path, dir.join(path.file_name().unwrap())).unwrap();
        }
    }
    (tmp, dir)
}

/// The summary rows a report would show for the run in `dir`.
fn summary(dir: &Path) -> Vec<stopbench::report::summary::SummaryRow> {
    let results = stopbench::results::RunResults::load(dir).unwrap();
    let stats = results.stats.iter();
    stats
        .map(|s| stopbench::report::summary::SummaryRow::new(results.name(), s))
        .collect()
}

const FILES: [&str; 4] = ["trials.csv", "misfires.csv", "run.json", "scenario.toml"];

/// One way of damaging a file.
#[derive(Debug, Clone)]
enum Damage {
    /// Cut at this fraction of its length.
    Truncate(f64),
    /// Its lines in another order (a permutation seeded by the value).
    Reorder(u64),
    /// Bytes overwritten at these fractions of its length.
    Corrupt(Vec<(f64, u8)>),
    /// One line (by a fraction of the count) removed or doubled.
    DropLine(f64),
    DoubleLine(f64),
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        (0.0..1.0).prop_map(Damage::Truncate),
        any::<u64>().prop_map(Damage::Reorder),
        proptest::collection::vec((0.0..1.0, any::<u8>()), 1..8).prop_map(Damage::Corrupt),
        (0.0..1.0).prop_map(Damage::DropLine),
        (0.0..1.0).prop_map(Damage::DoubleLine),
    ]
}

fn apply(bytes: &[u8], damage: &Damage) -> Vec<u8> {
    let at = |f: f64, n: usize| ((f * n as f64) as usize).min(n.saturating_sub(1));
    let text = String::from_utf8_lossy(bytes);
    let mut lines: Vec<&str> = text.lines().collect();
    match damage {
        Damage::Truncate(f) => bytes[..at(*f, bytes.len() + 1)].to_vec(),
        Damage::Reorder(seed) => {
            // A Fisher-Yates shuffle driven by a small LCG: no rand needed.
            let mut state = *seed | 1;
            for i in (1..lines.len()).rev() {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                lines.swap(i, (state >> 33) as usize % (i + 1));
            }
            (lines.join("\n") + "\n").into_bytes()
        }
        Damage::Corrupt(edits) => {
            let mut out = bytes.to_vec();
            for (f, b) in edits {
                if !out.is_empty() {
                    let i = at(*f, out.len());
                    out[i] = *b;
                }
            }
            out
        }
        Damage::DropLine(f) | Damage::DoubleLine(f) => {
            if !lines.is_empty() {
                let i = at(*f, lines.len());
                if matches!(damage, Damage::DropLine(_)) {
                    lines.remove(i);
                } else {
                    lines.insert(i, lines[i]);
                }
            }
            (lines.join("\n") + "\n").into_bytes()
        }
    }
}

proptest! {
    #![proptest_config(crate::config())]

    /// `report DIR` and `compare` on a damaged run: a report, or an error
    /// that names a file of the run; never a panic.
    #[test]
    fn a_damaged_run_is_reported_or_refused_by_name(
        file in 0..FILES.len(),
        damage in damage(),
    ) {
        let (_tmp, dir) = copy();
        let path = dir.join(FILES[file]);
        let damaged = apply(&std::fs::read(&path).unwrap(), &damage);
        std::fs::write(&path, damaged).unwrap();
        if let Err(err) = stopbench::compare::compare(baseline(), &dir, stopbench::compare::Noise { median: 0.02, tail: 0.10 }, &Default::default()) {
            let shown = err.to_string();
            prop_assert!(shown.contains(dir.to_str().unwrap()) || shown.contains("scenario"), "{}", shown);
        }
        if let Err(err) = stopbench::report::render_dir(&dir) {
            let shown = err.to_string();
            prop_assert!(shown.contains(dir.to_str().unwrap()), "names no file of the run: {}", shown);
        }
    }

    /// The order of the data rows is no information: the same summary.
    #[test]
    fn reordered_rows_give_the_same_summary(seed in any::<u64>(), misfires in any::<bool>()) {
        let (_tmp, dir) = copy();
        let path = dir.join(if misfires { "misfires.csv" } else { "trials.csv" });
        let text = std::fs::read_to_string(&path).unwrap();
        let (header, rows) = text.split_once('\n').unwrap();
        let mut out = format!("{header}\n").into_bytes();
        if !rows.trim().is_empty() {
            out.extend(apply(rows.as_bytes(), &Damage::Reorder(seed)));
        }
        std::fs::write(&path, out).unwrap();
        prop_assert_eq!(summary(baseline()), summary(&dir));
    }

    /// The interval-log reader on damaged `.hlog` bytes: a histogram or an
    /// error, never a panic.
    #[test]
    fn a_damaged_interval_log_never_panics(damage in damage()) {
        let log = std::fs::read(baseline().join("pidfd.hlog")).unwrap();
        let _ = stopbench::report::hlog::read_first(&apply(&log, &damage));
    }
}
