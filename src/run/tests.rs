//! The run loop fed recorded sandbox messages: what it writes and reports,
//! without building a sandbox.

use super::*;
use crate::churn::ChurnReport;
use crate::measure::{Outcome, TrialRecord};
use crate::oracle::{Cause, Misfire, SeenBy};
use crate::sandbox::SandboxFacts;
use std::time::Duration;

const SCENARIO: &str = r#"
name = "replayed"
description = "Recorded messages, replayed."
trials = 2
seed = 1
[churn]
rate = 0
[victim]
command = "/usr/bin/foo_daemon"
[[strategy]]
kind = "plain-kill"
timeout = "1s"
[[strategy]]
kind = "pidfd"
timeout = "1s"
[[strategy]]
kind = "systemd"
timeout = "1s"
"#;

fn record(trial: u32, strategy: &str, outcome: Outcome, misfire: bool) -> TrialRecord {
    TrialRecord {
        victim_pid: 300 + trial as i32,
        outcome,
        latency: (outcome == Outcome::Exited).then(|| Duration::from_millis(5)),
        strategy_time: Duration::from_millis(6),
        victim_end: (outcome == Outcome::Exited).then_some(Cause::Exited(0)),
        pid_reused: (strategy == "plain-kill").then_some(misfire),
        misfires: misfire
            .then(|| Misfire {
                hit_pid: 300 + trial as i32,
                hit_role: "reuse-holder".into(),
                hit_cmdline: "/usr/sbin/other".into(),
                signal: "SIGTERM".into(),
                seen_by: SeenBy::Death,
            })
            .into_iter()
            .collect(),
        ..TrialRecord::new(trial, trial / 2, strategy, "/usr/bin/foo_daemon")
    }
}

/// Runs the scenario on recorded messages of stopbench's own sandbox, with
/// no sandboxed systemd.
fn replay(messages: Vec<Message>) -> (tempfile::TempDir, RunResults) {
    let scenario = crate::scenario::parse("replayed.toml", SCENARIO).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut replay = Replay {
        sandbox: messages,
        systemd: Err("no systemd in a replay".into()),
    };
    let options = RunOptions {
        scenario,
        out_dir: dir.path().to_path_buf(),
        quiet: true,
        exe: "/nonexistent/stopbench".into(),
        mode: SandboxMode::Root,
    };
    let results = execute_with(options, &mut replay).unwrap();
    (dir, results)
}

#[test]
fn a_replayed_run_writes_every_row_and_reports_what_was_unavailable() {
    let (dir, results) = replay(vec![
        Message::Started {
            facts: SandboxFacts {
                mode: SandboxMode::Root,
                pid_max_requested: None,
                pid_max: Some(32768),
                pid_max_note: None,
                systemd_version: None,
            },
        },
        Message::Trial {
            record: record(0, "plain-kill", Outcome::Exited, true),
        },
        Message::Trial {
            record: record(1, "pidfd", Outcome::Exited, false),
        },
        Message::Warning {
            text: "a recorded warning".into(),
        },
        Message::Trial {
            record: record(2, "pidfd", Outcome::Survived, false),
        },
        Message::Trial {
            record: record(3, "plain-kill", Outcome::Exited, false),
        },
        Message::Finished {
            churn: ChurnReport::default(),
            stopped_early: None,
        },
    ]);
    let stats = |label: &str| {
        results
            .stats
            .iter()
            .find(|s| s.strategy == label)
            .unwrap_or_else(|| panic!("no row for {label}"))
    };
    assert_eq!(stats("plain-kill").trials, 2);
    assert_eq!(stats("plain-kill").misfires, 1);
    assert_eq!(stats("plain-kill").misfired_trials, 1);
    assert_eq!(stats("pidfd").trials, 2);
    assert_eq!(stats("pidfd").misfires, 0);
    assert_eq!(stats("pidfd").survived, 1);
    assert!(results.stats.iter().all(|s| s.strategy != "systemd"));

    let trials = std::fs::read_to_string(dir.path().join("trials.csv")).unwrap();
    assert_eq!(trials.lines().count(), 1 + 4, "header and every trial");
    let misfires = std::fs::read_to_string(dir.path().join("misfires.csv")).unwrap();
    assert_eq!(misfires.lines().count(), 1 + 1);
    assert!(misfires.contains("/usr/sbin/other"));

    let meta = &results.meta;
    assert_eq!(meta.unavailable.len(), 1);
    assert_eq!(meta.unavailable[0].strategy, "systemd");
    assert_eq!(meta.unavailable[0].reason, "no systemd in a replay");
    assert!(meta.warnings.iter().any(|w| w == "a recorded warning"));
    assert_eq!(meta.incomplete, None, "4 of 4 planned trials ran");
    assert!(dir.path().join("index.html").exists());
    assert!(dir.path().join("report.md").exists());
}

#[test]
fn a_sandbox_that_ends_before_finishing_leaves_an_incomplete_run() {
    let (_dir, results) = replay(vec![Message::Trial {
        record: record(0, "plain-kill", Outcome::Exited, false),
    }]);
    assert_eq!(
        results.meta.incomplete.as_deref(),
        Some("the sandbox ended early (exit status Some(0)) after 1 of 4 trials")
    );
}
