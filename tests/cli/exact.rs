//! Verdicts on real programs: the victim is its whole tree, every outcome
//! is honest, and the latencies say what a deploy waits for.

use crate::helpers::{num, ordinary_user_dir, rows, run, run_as_ordinary_user, summary, BIN};
use std::path::Path;
use std::process::Command;

/// Writes a scenario of `trials` trials whose victim runs `command` (a TOML
/// array), with `strategies` (TOML `[[strategy]]` tables) and churn.
fn scenario(dir: &Path, name: &str, trials: u32, victim: &str, strategies: &str) -> String {
    let path = dir.join(format!("{name}.toml"));
    let text = format!(
        "name = \"{name}\"\ntrials = {trials}\n[churn]\nrate = 200\nlifetime = \"2ms\"\n\
         [victim]\n{victim}\n{strategies}"
    );
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

fn strategy(kind: &str, extra: &str) -> String {
    format!("[[strategy]]\nkind = \"{kind}\"\ntimeout = \"300ms\"\n{extra}\n")
}

/// The seed's bash daemon: its `sleep` child is forked after the stop began.
/// The cgroup strategies stop it and are charged nothing; the strategies that
/// signal only the main process leave it running, and that is a leak.
#[test]
fn the_seed_bash_daemon_is_one_tree() {
    let dir = tempfile::tempdir().unwrap();
    let trials = 3;
    let strategies = [
        strategy("plain-kill", ""),
        strategy("pidfd", ""),
        strategy("cgroup", "label = \"cg-control-group\""),
        strategy("cgroup", "label = \"cg-mixed\"\nkill_mode = \"mixed\""),
    ]
    .concat();
    let path = scenario(
        dir.path(),
        "bash-daemon",
        trials,
        "behaviour = \"exec\"\nstartup = \"200ms\"\n\
         command = [\"/bin/bash\", \"-c\", \"trap 'echo Ignoring TERM' TERM; while true; do sleep 1; done\"]",
        &strategies,
    );
    let (out, _) = run(&path, &[]);
    let s = summary(out.path());
    for cg in ["cg-control-group", "cg-mixed"] {
        assert_eq!(
            num(&s[cg], "misfires"),
            0.0,
            "{cg}: its own sleep is no bystander"
        );
        assert_eq!(num(&s[cg], "leaks"), 0.0, "{cg}");
        assert_eq!(num(&s[cg], "killed"), f64::from(trials), "{cg}");
    }
    for main_only in ["plain-kill", "pidfd"] {
        assert_eq!(num(&s[main_only], "misfires"), 0.0, "{main_only}");
        assert_eq!(
            num(&s[main_only], "leaks"),
            f64::from(trials),
            "{main_only}"
        );
        assert_eq!(
            num(&s[main_only], "censored"),
            f64::from(trials),
            "{main_only}"
        );
        assert_eq!(
            s[main_only]["p50_lower_bound"], "true",
            "{main_only}: censored, a bound and not a time"
        );
    }
    let leaks = rows(&out.path().join("run/leaks.csv"));
    assert!(leaks.iter().all(|l| l["cmdline"] == "sleep 1"), "{leaks:?}");
    let report = std::fs::read_to_string(out.path().join("run/report.md")).unwrap();
    let rec = report.split("## Results").next().unwrap();
    assert!(rec.contains("Use **cg-"), "{rec}");
    assert!(!rec.contains("KillMode=process"), "{rec}");
}

/// A daemon that forks into the background: the started process exits at
/// once, its child (or grandchild, after a double fork) is the daemon.
/// Stopping it is no misfire; not stopping it is a leak, never a clean stop.
#[test]
fn a_forking_daemons_child_is_the_daemon() {
    // Forked into the background once, and double-forked into a session of its own.
    for (name, command) in [
        ("forking", "[\"/bin/sh\", \"-c\", \"sleep 1000 & exit 0\"]"),
        (
            "double-forked",
            "[\"/bin/sh\", \"-c\", \"setsid sh -c 'sleep 1000 & exit 0' & exit 0\"]",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let strategies = [
            strategy("pidfd", ""),
            strategy("cgroup", ""),
            strategy("pkill-f", "pattern = \"sleep 1000\""),
        ]
        .concat();
        let path = scenario(
            dir.path(),
            name,
            3,
            // Long enough for the double fork to have started its `sleep`
            // on a loaded 2-core machine: a pattern stop finds only what runs.
            &format!("behaviour = \"exec\"\nstartup = \"1s\"\ncommand = {command}"),
            &strategies,
        );
        let (out, _) = run(&path, &[]);
        let s = summary(out.path());
        for stops_it in ["cgroup", "pkill-f"] {
            assert_eq!(num(&s[stops_it], "misfires"), 0.0, "{name}: {stops_it}");
            assert_eq!(num(&s[stops_it], "leaks"), 0.0, "{name}: {stops_it}");
            assert_eq!(num(&s[stops_it], "errors"), 0.0, "{name}: {stops_it}");
        }
        assert_eq!(num(&s["pidfd"], "leaks"), 3.0, "{name}");
        let leaks = rows(&out.path().join("run/leaks.csv"));
        assert!(
            leaks.iter().all(|l| l["cmdline"] == "sleep 1000"),
            "{leaks:?}"
        );
        let report = std::fs::read_to_string(out.path().join("run/report.md")).unwrap();
        let rec = report.split("## Results").next().unwrap();
        assert!(!rec.contains("Use **pidfd**"), "{name}: {rec}");
    }
}

/// As an ordinary user there is no cgroup for the victim: its keeper, a
/// subreaper, inherits its orphans, so the tree is as exact as under root.
/// A `sleep` forked after the stop began, and a double-forked daemon, are
/// the victim's: leaks where only the main process is stopped, no misfire
/// where they are stopped.
#[test]
fn an_ordinary_users_sandbox_keeps_the_tree_exact() {
    let dir = ordinary_user_dir();
    let trials = 3;
    let bash =
        "[\"/bin/bash\", \"-c\", \"trap 'echo Ignoring TERM' TERM; while true; do sleep 1; done\"]";
    let forked = "[\"/bin/sh\", \"-c\", \"setsid sh -c 'sleep 1000 & exit 0' & exit 0\"]";
    let strategies = [
        strategy("plain-kill", ""),
        strategy("pidfd", ""),
        strategy("pkill-f", "pattern = \"sleep\""),
    ]
    .concat();
    for (name, command, leaked) in [("bash", bash, "sleep 1"), ("forked", forked, "sleep 1000")] {
        let path = scenario(
            dir.path(),
            name,
            trials,
            // Long enough for the double fork to have started its `sleep`
            // on a loaded 2-core machine: a pattern stop finds only what runs.
            &format!("behaviour = \"exec\"\nstartup = \"1s\"\ncommand = {command}"),
            &strategies,
        );
        let _ = std::fs::remove_dir_all(dir.path().join("run"));
        let output = run_as_ordinary_user(dir.path(), &["run", &path, "--quiet"]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{name}: {stderr}");
        assert!(!stderr.contains("snapshot"), "{name}: {stderr}");
        let json = std::fs::read_to_string(dir.path().join("run/run.json")).unwrap();
        assert!(json.contains("\"mode\": \"user-namespace\""), "{json}");
        let s = summary(dir.path());
        for row in s.values() {
            assert_eq!(num(row, "misfires"), 0.0, "{name}: {}", row["strategy"]);
            assert_eq!(num(row, "errors"), 0.0, "{name}: {}", row["strategy"]);
        }
        assert_eq!(num(&s["pidfd"], "leaks"), f64::from(trials), "{name}");
        assert_eq!(num(&s["pkill-f"], "leaks"), 0.0, "{name}");
        let leaks = rows(&dir.path().join("run/leaks.csv"));
        assert!(
            leaks.iter().all(|l| l["cmdline"] == leaked),
            "{name}: {leaks:?}"
        );
    }
}

/// A victim program that cannot run is refused when the scenario is read,
/// with the file, line and key; a bare name is found as systemd finds it.
#[test]
fn a_victim_that_cannot_run_is_refused_before_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let pidfd = strategy("pidfd", "");
    for (name, command, refused) in [
        ("typo", "\"/usr/bin/no-such-daemon\"", true),
        ("relative", "\"no-such-daemon-either --flag\"", true),
        ("bare", "[\"sh\", \"-c\", \"exec sleep 100\"]", false),
    ] {
        let path = scenario(
            dir.path(),
            name,
            2,
            &format!("behaviour = \"exec\"\ncommand = {command}"),
            &pidfd,
        );
        let out = dir.path().join(format!("{name}-run"));
        let output = Command::new(BIN)
            .args(["run", "--quiet", "--out"])
            .arg(&out)
            .arg(&path)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        if refused {
            assert!(!output.status.success(), "{name}");
            assert!(
                stderr.contains(&format!("{name}.toml:"))
                    && stderr.contains("key `victim.command`"),
                "{name}: {stderr}"
            );
            assert!(!out.join("trials.csv").exists(), "{name}: trials ran");
        } else {
            assert!(output.status.success(), "{name}: {stderr}");
            let trials = rows(&out.join("trials.csv"));
            assert!(
                trials.iter().all(|t| t["outcome"] == "exited"),
                "{trials:?}"
            );
        }
    }
}

/// A victim that ends before its stop (not the scenario's `exit-early`) is
/// an error with the reason, never a stop that "exited".
#[test]
fn a_victim_gone_before_its_stop_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = scenario(
        dir.path(),
        "quits",
        2,
        "behaviour = \"exec\"\ncommand = [\"/bin/sh\", \"-c\", \"exit 3\"]",
        &strategy("pidfd", ""),
    );
    let (out, _) = run(&path, &[]);
    for t in rows(&out.path().join("run/trials.csv")) {
        assert_eq!(t["outcome"], "error", "{t:?}");
        assert!(t["error"].contains("exit:3"), "{t:?}");
    }
}

/// A pattern pkill rejects (exit status 2) makes every trial an error with
/// pkill's own words, never a silent survivor.
#[test]
fn a_rejected_pkill_pattern_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = scenario(
        dir.path(),
        "bad-pattern",
        2,
        "command = \"/usr/bin/foo_daemon\"",
        &strategy("pkill-f", "pattern = \"foo(daemon\""),
    );
    let (out, _) = run(&path, &[]);
    for t in rows(&out.path().join("run/trials.csv")) {
        assert_eq!(t["outcome"], "error", "{t:?}");
        assert!(t["error"].contains("exited with status 2"), "{t:?}");
        assert!(t["error"].contains("regex"), "{t:?}");
    }
}

/// Two latencies: under forced reuse plain-kill's victim dies at once but
/// the strategy then polls the recycled number until its timeout, which is
/// what a deploy waits for; a survivor is censored, never a fast stop.
#[test]
fn completion_and_censored_survivors() {
    let dir = tempfile::tempdir().unwrap();
    let path = scenario(
        dir.path(),
        "two-latencies",
        3,
        "command = \"/usr/bin/foo_daemon\"",
        &strategy("plain-kill", ""),
    );
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("[churn]\n", "[churn]\nforced_reuse = true\n");
    std::fs::write(&path, text).unwrap();
    let (out, _) = run(&path, &[]);
    let s = &summary(out.path())["plain-kill"];
    assert!(num(s, "p50_ms") < 150.0, "death: {s:?}");
    assert!(num(s, "completion_p50_ms") >= 300.0, "completion: {s:?}");

    let survivor = scenario(
        dir.path(),
        "survivor",
        3,
        "command = \"/usr/bin/foo_daemon\"\nbehaviour = \"ignore-term\"",
        &strategy("pidfd", "final_signal = \"SIGTERM\""),
    );
    let (out, _) = run(&survivor, &[]);
    let s = &summary(out.path())["pidfd"];
    assert_eq!(num(s, "survived"), 3.0, "{s:?}");
    assert_eq!(num(s, "censored"), 3.0, "{s:?}");
    // A survivor's latency is only known to exceed its watch: every
    // quantile is that bound, flagged, never a measured stop.
    assert_eq!(s["p50_lower_bound"], "true", "{s:?}");
    assert!(
        num(s, "p50_ms") >= 300.0,
        "a survivor is no fast stop: {s:?}"
    );
    assert_eq!(s["mean_ms"], "", "{s:?}");
    assert!(num(s, "completion_p50_ms") >= 300.0, "{s:?}");
}
