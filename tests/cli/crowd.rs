//! Crowds of bystanders (`count`): hundreds of processes held by a keeper,
//! every hit counted exactly, every stop's CPU recorded, and the real tools
//! reading past them.

use crate::helpers::{num, rows, run, summary};
use std::collections::HashMap;

/// Two crowds pkill's pattern matches (plain, and TERM-catching) and one it
/// does not: every member matched is hit in every trial (a TERM-catching one
/// twice: TERM, then KILL), the third crowd never, and pidfd hits nothing.
#[test]
fn every_member_a_pattern_matches_is_counted_in_every_trial() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crowd.toml");
    std::fs::write(
        &path,
        "name = \"crowd\"\ntrials = 3\n[victim]\ncommand = \"/usr/bin/foo_daemon\"\n\
         [churn]\nbystanders = [\n\
           { command = \"/usr/bin/foo_daemon-worker\", count = 300 },\n\
           { command = \"/usr/bin/foo_daemon --helper\", count = 40, behaviour = \"ignore-term\" },\n\
           { command = \"/usr/sbin/nginx: worker process\", count = 500 },\n\
         ]\n\
         [[strategy]]\nkind = \"pkill-f\"\ntimeout = \"200ms\"\n\
         [[strategy]]\nkind = \"pidfd\"\ntimeout = \"200ms\"\n",
    )
    .unwrap();
    let (out, _) = run(path.to_str().unwrap(), &[]);
    let s = summary(out.path());
    assert_eq!(num(&s["pidfd"], "misfires"), 0.0);
    let mut by_trial: HashMap<String, HashMap<(String, String), usize>> = HashMap::new();
    for m in rows(&out.path().join("run/misfires.csv")) {
        assert_eq!(m["strategy"], "pkill-f", "{m:?}");
        assert_eq!(m["hit_role"], "bystander", "{m:?}");
        *by_trial
            .entry(m["trial"].clone())
            .or_default()
            .entry((m["hit_cmdline"].clone(), m["signal"].clone()))
            .or_default() += 1;
    }
    let want: HashMap<(String, String), usize> = [
        (("/usr/bin/foo_daemon-worker", "SIGTERM"), 300),
        (("/usr/bin/foo_daemon --helper", "SIGTERM"), 40),
        (("/usr/bin/foo_daemon --helper", "SIGKILL"), 40),
    ]
    .into_iter()
    .map(|((c, sig), n)| ((c.to_string(), sig.to_string()), n))
    .collect();
    assert_eq!(by_trial.len(), 3, "every trial hit the crowds");
    for (trial, hits) in by_trial {
        assert_eq!(hits, want, "trial {trial}");
    }
    // The crowds came back whole for every trial: each trial saw the same.
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.path().join("run/run.json")).unwrap())
            .unwrap();
    let processes = meta["churn"]["processes"].as_u64().unwrap();
    assert!(processes >= 840, "the scan saw {processes} processes");
    assert!(meta["churn"]["proc_scan_us"].as_f64().unwrap() > 0.0);
}

/// CPU per stop is recorded for every trial that ran, and the strategy
/// that scans /proc (through its helpers) costs more than the one that
/// holds a pidfd.
#[test]
fn cpu_per_stop_is_in_every_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cpu.toml");
    std::fs::write(
        &path,
        "name = \"cpu\"\ntrials = 4\n[victim]\ncommand = \"/usr/bin/foo_daemon\"\n\
         [churn]\nbystanders = [{ command = \"/usr/sbin/idle\", count = 1000 }]\n\
         [[strategy]]\nkind = \"pkill-f\"\ntimeout = \"200ms\"\n\
         [[strategy]]\nkind = \"pidfd\"\ntimeout = \"200ms\"\n",
    )
    .unwrap();
    let (out, _) = run(path.to_str().unwrap(), &[]);
    for t in rows(&out.path().join("run/trials.csv")) {
        assert!(!t["cpu_user_us"].is_empty(), "{t:?}");
        assert!(!t["cpu_sys_us"].is_empty(), "{t:?}");
    }
    let s = summary(out.path());
    let cpu = |k: &str| num(&s[k], "cpu_user_ms") + num(&s[k], "cpu_sys_ms");
    // pkill reads every process's files; pidfd makes two system calls.
    assert!(
        cpu("pkill-f") > 5.0 * cpu("pidfd"),
        "{} vs {}",
        cpu("pkill-f"),
        cpu("pidfd")
    );
    let report = std::fs::read_to_string(out.path().join("run/report.md")).unwrap();
    assert!(report.contains("CPU/stop (user + sys)"));
}

/// A crowd of stopped bystanders is refused with the key at fault.
#[test]
fn a_stopped_crowd_is_refused_with_its_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(
        &path,
        "name = \"bad\"\n[victim]\ncommand = \"/usr/bin/foo_daemon\"\n[churn]\n\
         bystanders = [{ command = \"x\", count = 20, behaviour = \"stopped\" }]\n\
         [[strategy]]\nkind = \"pidfd\"\n",
    )
    .unwrap();
    let out = std::process::Command::new(crate::helpers::BIN)
        .args(["run", path.to_str().unwrap(), "--quiet", "--out"])
        .arg(dir.path().join("out"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("churn.bystanders[0].count"), "{stderr}");
    assert!(stderr.contains(":5:"), "the line of the key: {stderr}");
}
