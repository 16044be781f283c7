//! A team's own daemon: a real forking daemon that writes its own pidfile,
//! addressed by every strategy as systemd's `Type=forking` with `PIDFile=`
//! addresses it, and a daemon that fails to start, which says why.

use crate::helpers::{num, repo, rows, run, summary};

/// Every strategy stops the forking daemon's whole tree (master and
/// workers): the number strategies address the pidfile's process, not the
/// start process that exited at once. Without the pidfile, they address
/// that start process and leave the whole daemon running.
#[test]
fn a_forking_daemon_is_stopped_through_its_pidfile() {
    let fixture = repo("tests/fixtures/forking-pidfile.toml");
    let (dir, _) = run(&fixture, &[]);
    let s = summary(dir.path());
    let trials = num(&s["pidfd"], "trials");
    let mut rows_seen = vec!["plain-kill", "pidfd", "execstoppost-check", "cgroup"];
    if s.contains_key("systemd-forking") {
        rows_seen.push("systemd-forking");
    }
    for row in &rows_seen {
        let r = &s[*row];
        assert_eq!(num(r, "errors"), 0.0, "{row}: {r:?}");
        assert_eq!(num(r, "exited"), trials, "{row}: {r:?}");
        assert_eq!(num(r, "leaks"), 0.0, "{row}: {r:?}");
        assert_eq!(num(r, "misfires"), 0.0, "{row}: {r:?}");
    }
    // The main process is the pidfile's, a process of the tree that lives
    // until the stop; the start process was gone before it.
    for t in rows(&dir.path().join("run/trials.csv")) {
        assert_eq!(t["victim_gone_before_stop"], "false", "{t:?}");
    }

    // The same daemon with no pidfile named: the number strategies address
    // the start process, and master and workers are left running.
    let text = std::fs::read_to_string(&fixture).unwrap();
    let without: String = text
        .lines()
        .filter(|l| !l.starts_with("pidfile"))
        .take_while(|l| !l.contains("kind = \"systemd\""))
        .collect::<Vec<_>>()
        .join("\n");
    let without = without
        .trim_end()
        .trim_end_matches("[[strategy]]")
        .to_string();
    let scratch = tempfile::tempdir().unwrap();
    let path = scratch.path().join("no-pidfile.toml");
    std::fs::write(&path, without).unwrap();
    let (dir, _) = run(path.to_str().unwrap(), &[]);
    let s = summary(dir.path());
    for row in ["plain-kill", "pidfd"] {
        // Master, two workers and the master's own `sleep`, every trial.
        assert!(num(&s[row], "leaks") >= 3.0 * trials, "{row}: {:?}", s[row]);
    }
}

/// A daemon whose start fails: every row is an error that says why: the
/// start process's exit for the number strategies, systemd's own account
/// (its Result and the unit's journal) for the real systemd.
#[test]
fn a_daemon_that_fails_to_start_says_why() {
    let scratch = tempfile::tempdir().unwrap();
    let path = scratch.path().join("fails.toml");
    std::fs::write(
        &path,
        r#"name = "fails-to-start"
trials = 2
[victim]
behaviour = "exec"
command = ["/bin/sh", "-c", "echo cannot bind port 80 >&2; exit 3"]
startup = "30ms"
pidfile = "/run/fails.pid"
[[strategy]]
kind = "pidfd"
timeout = "300ms"
[[strategy]]
kind = "systemd"
label = "systemd-forking"
timeout = "1s"
service = ["Type=forking", "PIDFile=/run/fails.pid"]
"#,
    )
    .unwrap();
    let (dir, _) = run(path.to_str().unwrap(), &[]);
    let trials = rows(&dir.path().join("run/trials.csv"));
    for t in trials.iter().filter(|t| t["strategy"] == "pidfd") {
        assert_eq!(t["outcome"], "error", "{t:?}");
        assert!(
            t["error"].contains("start process ended with exit:3"),
            "{t:?}"
        );
    }
    let s = summary(dir.path());
    if s.contains_key("systemd-forking") {
        for t in trials.iter().filter(|t| t["strategy"] == "systemd-forking") {
            assert_eq!(t["outcome"], "error", "{t:?}");
            assert!(t["error"].contains("Result=exit-code"), "{t:?}");
            assert!(t["error"].contains("journal:"), "{t:?}");
        }
    }
}
