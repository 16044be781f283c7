//! Race windows, the reuse model, `stopbench model` and `stopbench observe`.

use crate::helpers::{num, repo, rows, run, stdout_of, summary, BIN};
use std::process::Command;
use stopbench::measure::stats::wilson;
use stopbench::results::sweep::{agreement, SweepResults};

/// The fleet of the issue's example.
const FLEET: [&str; 8] = [
    "--pid-max",
    "4194304",
    "--fork-rate",
    "2000",
    "--hosts",
    "10000",
    "--stops-per-day",
    "24",
];

#[test]
fn every_number_strategy_records_its_race_window_and_the_report_shows_it() {
    let (dir, _) = run(&repo("tests/fixtures/windows.toml"), &[]);
    let trials = rows(&dir.path().join("run/trials.csv"));
    for t in &trials {
        let window = &t["race_window_us"];
        match t["strategy"].as_str() {
            "pidfd" => assert!(window.is_empty(), "pidfd has no window: {t:?}"),
            _ => assert!(!window.is_empty(), "no window: {t:?}"),
        }
    }
    let s = summary(dir.path());
    // ps exits, then /bin/kill is forked and exec'd: of the order of a
    // millisecond (generous bounds for a loaded 2-core machine).
    let check = num(&s["execstoppost-check"], "race_window_p50_ms");
    assert!(
        (0.1..50.0).contains(&check),
        "execstoppost-check window {check} ms"
    );
    // plain-kill's last `kill -0` saw the victim alive; its KILL follows at once.
    let plain = num(&s["plain-kill"], "race_window_p50_ms");
    assert!(
        plain < check,
        "plain-kill {plain} ms vs check-then-kill {check} ms"
    );
    assert!(dir
        .path()
        .join("run/race-window-execstoppost-check.hgrm")
        .exists());
    let report = std::fs::read_to_string(dir.path().join("run/report.md")).unwrap();
    assert!(report.contains("## Race windows and production risk"));
    assert!(report.contains("0 by construction"));
    assert!(report.contains("per stop"), "no production risk stated");
}

/// Exposure is recorded in every trial of a number-addressing
/// strategy, also when no signal follows the probe that found the number
/// gone; it runs from the death to that probe.
#[test]
fn exposure_is_recorded_whether_or_not_a_signal_follows() {
    let (dir, _) = run(&repo("tests/fixtures/exposure.toml"), &[]);
    let trials = rows(&dir.path().join("run/trials.csv"));
    assert_eq!(trials.len(), 24);
    for t in &trials {
        let exposure = &t["exposure_us"];
        if t["strategy"] == "pidfd" {
            assert!(exposure.is_empty(), "pidfd never addresses a number: {t:?}");
            continue;
        }
        assert_eq!(t["outcome"], "exited", "{t:?}");
        assert_eq!(t["misfires"], "0", "{t:?}");
        let us: u64 = exposure
            .parse()
            .unwrap_or_else(|_| panic!("no exposure: {t:?}"));
        // The death came 5 ms after SIGTERM, and the probe after it: the
        // poll's next `kill -0` (every 20 ms) or unit B's `ps -p`.
        assert!(us > 0 && us < 400_000, "exposure {us} µs: {t:?}");
        if t["strategy"] == "plain-kill" {
            assert!(us <= 25_000, "longer than one poll: {t:?}");
            // Found alive, the number would have been killed at the timeout.
            let follow: u64 = t["exposure_follow_us"].parse().unwrap();
            assert!(follow > 300_000, "{t:?}");
        }
    }
    let s = summary(dir.path());
    assert!(num(&s["plain-kill"], "exposure_p50_ms") > 0.0);
    assert!(dir.path().join("run/exposure-plain-kill.hgrm").exists());
}

#[test]
fn the_model_predicts_the_measured_misfire_rate() {
    let (dir, _) = run(&repo("tests/fixtures/model-check.toml"), &[]);
    let sweep = SweepResults::load(&dir.path().join("run")).unwrap();
    let checks = sweep.model_checks();
    // 2 points x 2 number-addressing strategies, all applicable.
    assert_eq!(checks.len(), 4);
    let (_, applicable) = agreement(&checks);
    assert_eq!(applicable, 4);
    for c in &checks {
        let s = sweep.points[c.point]
            .1
            .stats
            .iter()
            .find(|s| s.strategy == c.strategy)
            .unwrap();
        // 99.9% rather than 95%: four checks at 95% would fail one run in five
        // with a correct model. A model that took the race window (µs) for
        // the risk of a poll, as before exposures, predicts under 0.5% here.
        let (lo, hi) = wilson(s.misfired_trials, s.trials, 3.29);
        let p = c.check.predicted.p;
        assert!(
            (0.01..0.3).contains(&p),
            "{}: prediction {p} outside the range the fixture was built for",
            c.strategy
        );
        assert!(
            lo <= p && p <= hi,
            "{} at {}: predicted {p:.3}, measured {}/{} [{lo:.3}, {hi:.3}]",
            c.strategy,
            sweep.axis_label(c.point),
            s.misfired_trials,
            s.trials
        );
    }
    // Pooled over the cells, judged leniently here (a short run; the full
    // validate-model scenario has the power to reject a model off by ×0.7
    // or ×1.4): the model is not rejected at 0.1%.
    let fit = sweep.pooled_fit(&checks, 1.0).unwrap();
    assert!(fit.passes(0.001), "{fit:?}");
    let report = std::fs::read_to_string(dir.path().join("run/report.md")).unwrap();
    assert!(report.contains("## Model check"));
    assert!(report.contains("Pooled over the applicable cells"));
    assert!(dir.path().join("run/model_check.png").exists());
    let csv = std::fs::read_to_string(dir.path().join("run/sweep.csv")).unwrap();
    assert!(csv
        .lines()
        .next()
        .unwrap()
        .contains("predicted_misfire_rate"));
}

#[test]
fn model_prints_risk_per_stop_and_per_fleet_year() {
    let text = stdout_of(
        Command::new(BIN)
            .args([
                "model",
                "--window",
                "execstoppost-check=1.5ms",
                "--window",
                "plain-kill=40min",
                "--window",
                "pidfd=0ms",
                "--live",
                "1004",
            ])
            .args(FLEET),
    );
    // (4194304 - 300 - 1004) / 2000 = 2096.5 s
    assert!(text.contains("comes back after 34.9 min"), "{text}");
    let line = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("no {name} line in\n{text}"))
            .to_string()
    };
    // 1.5 ms / 2096.5 s = 7.15e-7 per stop; x 87.6 million stops = 62.7.
    let check = line("execstoppost-check");
    assert!(
        check.contains("1 in 1.4 million") && check.contains("62.7"),
        "{check}"
    );
    // A window longer than the wrap time: certain.
    let plain = line("plain-kill");
    assert!(
        plain.contains("100.0%") && plain.contains("87600000.0"),
        "{plain}"
    );
    assert!(line("pidfd").contains("0 by construction"));
    // A bad window names the flag and the value.
    let bad = Command::new(BIN)
        .args(["model", "--window", "plain-kill=soon"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--window `soon`"));
}

#[test]
fn model_measures_the_default_scenarios_windows_itself() {
    let dir = tempfile::tempdir().unwrap();
    let text = stdout_of(
        Command::new(BIN)
            .current_dir(dir.path())
            .arg("model")
            .args(FLEET),
    );
    // A strategy that addresses the daemon by number has a risk above zero
    // on a fleet that forks: its first figure is a probability, not "0".
    for name in ["plain-kill", "execstoppost-check", "pkill-f"] {
        let l = text.lines().find(|l| l.starts_with(name)).unwrap();
        let risk = first_probability(l).unwrap_or_else(|| panic!("no risk: {l}"));
        assert!(risk > 0.0 && risk < 1.0, "{l}");
    }
    assert!(text
        .lines()
        .any(|l| l.starts_with("pidfd") && l.contains("0 by construction")));
    // The window run is kept, like any run.
    assert!(std::fs::read_dir(dir.path().join("reports"))
        .unwrap()
        .any(|e| e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .starts_with("default-model-")));
}

#[test]
fn observe_reads_the_host_and_a_run_replays_a_recording() {
    let dir = tempfile::tempdir().unwrap();
    let obs = dir.path().join("host.json");
    let text = stdout_of(
        Command::new(BIN)
            .args(["observe", "--for", "1s", "--interval", "100ms", "--out"])
            .arg(&obs),
    );
    for want in ["pid_max: ", "live PIDs: ", "fork rate: "] {
        assert!(text.contains(want), "{want} missing in\n{text}");
    }
    let host: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&obs).unwrap()).unwrap();
    assert_eq!(host["rates"].as_array().unwrap().len(), 10);
    // One scope: this PID namespace's own allocator.
    assert_eq!(host["scope"], "pid-namespace");

    // A recording with a shape the replay must follow: 500/s, then 1500/s.
    let recording = dir.path().join("recorded.json");
    std::fs::write(
        &recording,
        r#"{"source": "test recording", "pid_max": 4194304, "live_pids": 900,
            "interval_s": 0.25, "rates": [500.0, 1500.0]}"#,
    )
    .unwrap();
    let (run_dir, _) = run(
        &repo("tests/fixtures/replay.toml"),
        &["--churn-from", recording.to_str().unwrap()],
    );
    let meta: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(run_dir.path().join("run/run.json")).unwrap(),
    )
    .unwrap();
    let churn = &meta["churn"];
    let asked = churn["replay_target_rate"].as_f64().unwrap();
    let achieved = churn["achieved_rate"].as_f64().unwrap();
    assert!(
        (400.0..1600.0).contains(&asked),
        "the recording asks for {asked}/s"
    );
    assert!(
        (achieved / asked - 1.0).abs() <= 0.10,
        "replay achieved {achieved}/s for {asked}/s"
    );
    assert_eq!(meta["host"]["source"], "test recording");
    // A file without a scope was written from the machine's fork counter.
    assert_eq!(meta["host"]["scope"], "host");
    let report = std::fs::read_to_string(run_dir.path().join("run/report.md")).unwrap();
    assert!(report.contains("This host: pid_max 4194304, 900 PIDs in use"));
    // Inside a container (a PID namespace of its own), that machine-wide
    // rate meets the container's pid_max: `model` says the scopes mix.
    let nested = Command::new("unshare")
        .args(["--pid", "--fork", "--mount-proc"])
        .arg(BIN)
        .args(["model", "--window", "plain-kill=1ms", "--churn-from"])
        .arg(&recording)
        .output()
        .unwrap();
    assert!(nested.status.success(), "{nested:?}");
    assert!(
        String::from_utf8_lossy(&nested.stderr).contains("mixes scopes"),
        "{}",
        String::from_utf8_lossy(&nested.stderr)
    );
    // A file that is not an observation is a usage error naming the file.
    std::fs::write(&recording, "{}").unwrap();
    let bad = Command::new(BIN)
        .args(["run", "--quiet", "--churn-from"])
        .arg(&recording)
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("recorded.json"));
}

/// The first probability in `line` as `probability_words` writes it:
/// `12.5%`, `1 in 1,000` or `1 in 2.1 million`.
fn first_probability(line: &str) -> Option<f64> {
    let words: Vec<&str> = line.split_whitespace().collect();
    for (i, w) in words.iter().enumerate() {
        if let Some(pct) = w.strip_suffix('%') {
            if let Ok(v) = pct.parse::<f64>() {
                return Some(v / 100.0);
            }
        }
        if *w == "1" && words.get(i + 1) == Some(&"in") {
            let n: f64 = words.get(i + 2)?.replace(',', "").parse().ok()?;
            let scale = if words.get(i + 3) == Some(&"million") {
                1e6
            } else {
                1.0
            };
            return Some(1.0 / (n * scale));
        }
    }
    None
}
