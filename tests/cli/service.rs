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

/// `stopbench service` with its output directory and the scenario it wrote.
fn service(unit: &str, args: &[&str]) -> (tempfile::TempDir, std::process::Output) {
    let dir = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(crate::helpers::BIN)
        .arg("service")
        .arg(unit)
        .args(["--quiet", "--out"])
        .arg(dir.path().join("run"))
        .arg("--emit-scenario")
        .arg(dir.path().join("emitted.toml"))
        .args(args)
        .output()
        .unwrap();
    (dir, output)
}

/// Debian's nginx unit, verbatim, with the packaged daemon (a master that
/// forks its workers, a pidfile of its own): systemd runs it as written,
/// every row stops master and workers, and the report ends with the unit's
/// account. The emitted scenario reruns with `stopbench run`.
#[test]
fn a_packaged_forking_daemon_is_measured_by_its_own_unit() {
    let unit = "/lib/systemd/system/nginx.service";
    let (dir, output) = service(unit, &["--trials", "3"]);
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{said}");
    let s = summary(dir.path());
    for row in [
        "as-written",
        "killmode-control-group",
        "no-number-lines",
        "cgroup",
        "pidfd",
    ] {
        let r = &s[row];
        assert_eq!(num(r, "errors"), 0.0, "{row}: {r:?}");
        assert_eq!(num(r, "exited") + num(r, "killed"), 3.0, "{row}: {r:?}");
        assert_eq!(num(r, "leaks"), 0.0, "{row}: {r:?}");
    }
    let emitted = std::fs::read_to_string(dir.path().join("emitted.toml")).unwrap();
    // systemd's argv, with its quoted word whole.
    assert!(
        emitted.contains("\"daemon on; master_process on;\""),
        "{emitted}"
    );
    assert!(
        emitted.contains("pidfile = \"/run/nginx.pid\""),
        "{emitted}"
    );
    let md = std::fs::read_to_string(dir.path().join("run/report.md")).unwrap();
    assert!(md.contains("## Your unit: nginx.service"), "{md}");
    // One stop of the unit as written, in systemd's own words.
    assert!(
        md.contains("`as-written`: one stop in systemd's words"),
        "{md}"
    );
    assert!(md.contains("Stopping stopbench-as-written.service"), "{md}");
    let (rerun, _) = run(
        dir.path().join("emitted.toml").to_str().unwrap(),
        &["--trials", "1", "--strategy", "pidfd"],
    );
    assert_eq!(num(&summary(rerun.path())["pidfd"], "leaks"), 0.0);
}

/// The seed's check-then-kill unit (KillMode=process) with the seed's
/// TERM-ignoring bash daemon, and a drop-in of its own: its `sleep` child
/// survives every stop as written; KillMode=mixed or control-group leaves
/// nothing, and the report proposes that change as a diff.
#[test]
fn the_seeds_unit_b_gets_a_measured_correction() {
    let unit = repo("examples/units/foo_daemon-check.service");
    let (dir, output) = service(
        &unit,
        &["--trials", "2", "--what-if", "mixed,control-group"],
    );
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{said}");
    let s = summary(dir.path());
    assert!(
        num(&s["as-written"], "leaks") >= 2.0,
        "{:?}",
        s["as-written"]
    );
    for row in ["killmode-mixed", "killmode-control-group"] {
        assert_eq!(num(&s[row], "leaks"), 0.0, "{row}: {:?}", s[row]);
    }
    // The drop-in's TimeoutStopSec=2s was systemd's, not the default 90 s.
    let p99: f64 = s["killmode-mixed"]["p99_ms"].parse().unwrap();
    assert!(p99 < 10_000.0, "{p99}");
    let md = std::fs::read_to_string(dir.path().join("run/service.md")).unwrap();
    assert!(md.contains("-KillMode=process\n+KillMode="), "{md}");
    assert!(md.contains("left 2 process"), "{md}");
}

/// A unit whose program is not on this machine is refused before any run,
/// with exit 2, naming the program.
#[test]
fn a_unit_whose_program_is_missing_is_refused() {
    let scratch = tempfile::tempdir().unwrap();
    let unit = scratch.path().join("ghost.service");
    std::fs::write(
        &unit,
        "[Service]\nExecStart=/usr/sbin/no-such-daemon --foreground\n",
    )
    .unwrap();
    let (dir, output) = service(unit.to_str().unwrap(), &[]);
    let said = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{said}");
    assert!(said.contains("/usr/sbin/no-such-daemon"), "{said}");
    assert!(!dir.path().join("run/trials.csv").exists());
}
