//! Real systemd (sandboxed in systemd-nspawn, prepared by
//! scripts/setup-systemd, which `scripts/setup --tests` runs) and the
//! teardown of everything it takes.

use super::helpers::*;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

fn wait_clean(pid: u32, limit: Duration) -> Vec<String> {
    let start = Instant::now();
    loop {
        let left = container_leftovers(pid);
        if left.is_empty() || start.elapsed() > limit {
            return left;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn run_as_child(args: &[&str], out: &Path) -> std::process::Output {
    Command::new(BIN)
        .args(["run", "--quiet", "--out"])
        .arg(out)
        .args(args)
        .output()
        .unwrap()
}

/// TERM-ignoring victim, TimeoutStopSec=2s, through a real
/// systemd: killed after 2 s (plus systemd's timer slack), and
/// afterwards no container process, cgroup, mount or /run state is left.
#[test]
fn real_systemd_kills_after_timeoutstopsec_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let mut child = Command::new(BIN)
        .args([
            "run",
            "seed-timeoutstopsec",
            "--quiet",
            "--trials",
            "2",
            "--strategy",
            "systemd",
            "--out",
        ])
        .arg(&out)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let status = child.wait().unwrap();
    assert!(status.success());
    let json = std::fs::read_to_string(out.join("run.json")).unwrap();
    assert!(
        !json.contains("\"unavailable\": [\n    {"),
        "systemd was unavailable: {json}"
    );
    let trials = rows(&out.join("trials.csv"));
    assert_eq!(trials.len(), 2);
    for row in trials {
        assert_eq!(row["strategy"], "systemd");
        assert_eq!(row["outcome"], "killed", "{row:?}");
        assert_eq!(row["victim_end"], "signal:SIGKILL", "{row:?}");
        assert!(row["note"].starts_with("Result=timeout"), "{row:?}");
        let ms: f64 = row["latency_ms"].parse().unwrap();
        assert!((2000.0..3000.0).contains(&ms), "latency {ms} ms");
    }
    let left = wait_clean(pid, Duration::from_secs(10));
    assert!(left.is_empty(), "left behind: {left:?}");
}

/// Real systemd's kill modes leave the forked children exactly
/// as the cgroup strategy does: process leaves them, mixed and control-group none.
#[test]
fn killmode_leaks_match_between_real_systemd_and_cgroup() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let output = run_as_child(&["seed-killmode", "--trials", "3"], &out);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_killmode_counts(dir.path());
}

/// The kill-mode comparison's exact counts, for the run in `dir`.
fn assert_killmode_counts(dir: &Path) {
    let s = summary(dir);
    for mode in ["process", "mixed", "control-group"] {
        let (real, cgroup) = (
            &s[&format!("systemd-{mode}")],
            &s[&format!("cgroup-{mode}")],
        );
        assert_eq!(num(real, "trials"), 3.0, "{mode}");
        assert_eq!(num(real, "leaks"), num(cgroup, "leaks"), "{mode}");
        assert_eq!(num(real, "errors"), 0.0, "{mode}");
        assert_eq!(
            num(real, "misfires") + num(cgroup, "misfires"),
            0.0,
            "{mode}"
        );
    }
    // Two children per trial stay with KillMode=process.
    assert_eq!(num(&s["systemd-process"], "leaks"), 6.0);
    assert_eq!(num(&s["systemd-mixed"], "leaks"), 0.0);
    assert_eq!(num(&s["pidfd"], "misfires"), 0.0);
}

/// Three runs at once, two with their own systemd container and cgroups,
/// one with forced reuse: each completes with the counts it has alone.
#[test]
fn three_runs_at_once_do_not_interfere() {
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let runs = [
        vec!["seed-killmode", "--trials", "3"],
        vec!["seed-killmode", "--trials", "3"],
        vec![
            "stale-pidfile",
            "--trials",
            "30",
            "--strategy",
            "plain-kill",
            "--strategy",
            "pidfd",
        ],
    ];
    let mut children: Vec<_> = runs
        .iter()
        .zip(&dirs)
        .map(|(args, dir)| {
            Command::new(BIN)
                .args(["run", "--quiet", "--out"])
                .arg(dir.path().join("run"))
                .args(args)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(240);
    for child in &mut children {
        while child.try_wait().unwrap().is_none() {
            assert!(Instant::now() < deadline, "a run did not finish");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    for (child, dir) in children.into_iter().zip(&dirs) {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let json = std::fs::read_to_string(dir.path().join("run/run.json")).unwrap();
        assert!(json.contains("\"unavailable\": []"), "{json}");
        assert!(json.contains("\"incomplete\": null"), "{json}");
    }
    assert_killmode_counts(dirs[0].path());
    assert_killmode_counts(dirs[1].path());
    let s = summary(dirs[2].path());
    assert_eq!(num(&s["plain-kill"], "misfires"), 30.0);
    assert_eq!(num(&s["pidfd"], "misfires"), 0.0);
}

/// Unit B under real systemd with forced reuse: the report
/// says what $MAINPID held in ExecStopPost= and whether anyone was hit.
#[test]
fn unit_b_under_real_systemd_reports_what_mainpid_held() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let output = run_as_child(
        &[
            "seed-execstoppost",
            "--trials",
            "3",
            "--strategy",
            "systemd-unit-b",
        ],
        &out,
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let scenario = std::fs::read_to_string(out.join("scenario.toml")).unwrap();
    assert!(scenario.contains("forced_reuse = true"));
    for row in rows(&out.join("trials.csv")) {
        assert!(row["note"].contains("$MAINPID in ExecStopPost="), "{row:?}");
        assert_eq!(row["error"], "");
    }
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(report.contains("## What the strategies saw"), "{report}");
    assert!(
        report.contains("systemd exports $MAINPID to ExecStopPost= only while"),
        "{report}"
    );
    // What systemd handed ExecStopPost= decides what the oracle must see:
    // an empty $MAINPID makes `ps -p` fail, so nothing is killed; the
    // victim's number, now the reuse holder's, draws its SIGKILL.
    let misfires = rows(&out.join("misfires.csv"));
    let mut expected_hits = 0;
    for row in rows(&out.join("trials.csv")) {
        let held = row["note"]
            .split("$MAINPID in ExecStopPost=")
            .nth(1)
            .unwrap();
        let trial_hits: Vec<_> = misfires
            .iter()
            .filter(|m| m["trial"] == row["trial"])
            .collect();
        assert_eq!(row["misfires"], trial_hits.len().to_string(), "{row:?}");
        if held.starts_with("(empty)") {
            assert!(trial_hits.is_empty(), "{row:?} {trial_hits:?}");
        } else if row["pid_reused"] == "true" {
            expected_hits += 1;
            assert!(
                trial_hits
                    .iter()
                    .any(|m| m["hit_role"] == "reuse-holder" && m["signal"] == "SIGKILL"),
                "{row:?} {trial_hits:?}"
            );
        }
    }
    let s = summary(dir.path());
    assert!(num(&s["systemd-unit-b"], "misfires") >= f64::from(expected_hits));
}

/// SIGKILL to stopbench mid-run still tears the container down.
#[test]
fn sigkill_mid_run_tears_the_systemd_container_down() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("long-systemd.toml");
    std::fs::write(
        &path,
        "name = \"long-systemd\"\ntrials = 1000\n[churn]\nrate = 200\n[victim]\ncommand = \"/usr/bin/sbkill_sd\"\n\
         [[strategy]]\nkind = \"systemd\"\ntimeout = \"100ms\"\n",
    )
    .unwrap();
    let out = dir.path().join("run");
    let mut child = start(&path, &out);
    let pid = child.id();
    wait_for_rows(&out.join("trials.csv"), 3, Duration::from_secs(90));
    assert!(
        !container_leftovers(pid).is_empty(),
        "the container should be up while the run goes on"
    );
    child.kill().unwrap(); // SIGKILL, to our own child by handle
    child.wait().unwrap();
    let left = wait_clean(pid, Duration::from_secs(30));
    assert!(left.is_empty(), "left behind after SIGKILL: {left:?}");
    assert!(host_processes_with("/usr/bin/sbkill_sd").is_empty());
}

/// Every strategy's unit passes systemd-analyze verify with no
/// warnings, and a unit with a bad setting fails.
#[test]
fn units_verify_and_a_bad_setting_fails() {
    for (scenario, strategies) in [
        (
            "seed-pkill",
            &[
                "plain-kill",
                "execstoppost-check",
                "pkill-f",
                "pidfd",
                "cgroup",
                "systemd-pkill",
            ][..],
        ),
        (
            "seed-killmode",
            &["cgroup-process", "systemd-mixed", "systemd-control-group"][..],
        ),
        ("seed-execstoppost", &["systemd-unit-b"][..]),
    ] {
        for strategy in strategies {
            let out = Command::new(BIN)
                .args(["unit", scenario, "--strategy", strategy])
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(out.status.success(), "{scenario}/{strategy}: {stderr}");
            assert!(
                stderr.contains("no warnings"),
                "{scenario}/{strategy}: {stderr}"
            );
            assert!(String::from_utf8_lossy(&out.stdout).contains("[Service]"));
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad-unit.toml");
    std::fs::write(
        &bad,
        "name = \"bad-unit\"\n[victim]\ncommand = \"/usr/bin/foo_daemon\"\n[[strategy]]\nkind = \"systemd\"\nservice = [\"KillMode=bogus\"]\n",
    )
    .unwrap();
    let out = Command::new(BIN)
        .arg("unit")
        .arg(&bad)
        .args(["--strategy", "systemd"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("Failed to parse kill mode"), "{stderr}");
}

/// Where systemd cannot be had, the strategy is reported
/// unavailable with the reason, never silently skipped.
#[test]
fn systemd_unavailable_is_reported_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let output = Command::new(BIN)
        .env("STOPBENCH_SYSTEMD_ROOT", dir.path().join("no-such-root"))
        .args([
            "run",
            "seed-sigstop",
            "--trials",
            "1",
            "--strategy",
            "systemd",
            "--strategy",
            "pidfd",
            "--out",
        ])
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("strategy `systemd` is unavailable here")
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("run.json")).unwrap()).unwrap();
    let reason = json["unavailable"][0]["reason"].as_str().unwrap();
    assert!(reason.contains("scripts/setup-systemd"), "{reason}");
    assert!(std::fs::read_to_string(out.join("report.md"))
        .unwrap()
        .contains("Not measured on this machine"));
}

/// The emulations match systemd: for every shipped scenario with a real
/// systemd row, each sandbox row that stands for the same unit agrees with
/// it on outcomes, leaks and misfires, and on the median stop latency within
/// systemd's timer slack (its event loop fires up to 250 ms late), run side
/// by side in one run.
#[test]
fn sandbox_rows_agree_with_real_systemd_on_every_shipped_scenario() {
    let pairs: &[(&str, &[(&str, &str)])] = &[
        ("seed-timeoutstopsec", &[("cgroup", "systemd")]),
        ("seed-sigstop", &[("cgroup", "systemd")]),
        (
            "seed-execstoppost",
            &[("execstoppost-check-simple", "systemd-unit-b")],
        ),
        (
            "seed-killmode",
            &[
                ("cgroup-process", "systemd-process"),
                ("cgroup-mixed", "systemd-mixed"),
                ("cgroup-control-group", "systemd-control-group"),
            ],
        ),
        (
            "seed-bash-daemon",
            &[
                ("cgroup-control-group", "systemd-control-group"),
                ("cgroup-process", "systemd-process"),
            ],
        ),
        ("forking-daemon", &[("cgroup", "systemd")]),
    ];
    for (scenario, pairs) in pairs {
        let mut args = vec!["--trials", "3"];
        for (a, b) in pairs.iter() {
            args.extend(["--strategy", a, "--strategy", b]);
        }
        let (dir, _) = run(scenario, &args);
        let s = summary(dir.path());
        for (sandbox, systemd) in pairs.iter() {
            let (a, b) = (&s[*sandbox], &s[*systemd]);
            for column in [
                "trials", "exited", "killed", "survived", "errors", "misfires", "leaks",
            ] {
                assert_eq!(
                    num(a, column),
                    num(b, column),
                    "{scenario}: `{column}` of {sandbox} vs {systemd}: {a:?} vs {b:?}"
                );
            }
            if let (Ok(x), Ok(y)) = (a["p50_ms"].parse::<f64>(), b["p50_ms"].parse::<f64>()) {
                assert!(
                    (x - y).abs() <= 350.0,
                    "{scenario}: p50 {x} ms ({sandbox}) vs {y} ms ({systemd})"
                );
            } else {
                assert_eq!(
                    a["p50_ms"], b["p50_ms"],
                    "{scenario}: {sandbox} vs {systemd}"
                );
            }
        }
    }
}

/// The seed's unit B in its PIDFile= form under the host's systemd (252)
/// and under Debian 13's (257), side by side: `compare` accepts runs that
/// differ only in the root and names both systemd versions. Under both,
/// systemd exports the dead daemon's number to ExecStopPost=, and the
/// check-then-kill hits the newcomer on it (measured here: both hit in
/// every trial).
#[test]
fn unit_b_under_two_systemd_generations_side_by_side() {
    let dir = tempfile::tempdir().unwrap();
    let trials = 3;
    let mut outs = Vec::new();
    for (scenario, version) in [
        ("systemd-unit-b", "systemd 252"),
        ("systemd-unit-b-trixie", "systemd 257"),
    ] {
        let out = dir.path().join(scenario);
        let output = run_as_child(&[scenario, "--trials", &trials.to_string()], &out);
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let json = std::fs::read_to_string(out.join("run.json")).unwrap();
        assert!(
            json.contains(version),
            "{scenario}: no `{version}` in run.json"
        );
        let rows = rows(&out.join("trials.csv"));
        assert_eq!(rows.len(), trials);
        for row in &rows {
            assert!(row["error"].is_empty(), "{row:?}");
            assert!(row["note"].contains("$MAINPID in ExecStopPost="), "{row:?}");
        }
        let hits = rows.iter().filter(|r| r["misfires"] != "0").count();
        assert!(
            hits >= 1,
            "{scenario}: the check-then-kill hit nothing: {rows:?}"
        );
        outs.push(out);
    }
    let compare = Command::new(BIN)
        .arg("compare")
        .args(&outs)
        .output()
        .unwrap();
    assert!(
        compare.status.success(),
        "{}",
        String::from_utf8_lossy(&compare.stderr)
    );
    let md = std::fs::read_to_string(outs[1].join("compare.md")).unwrap();
    assert!(
        md.contains("systemd 252") && md.contains("systemd 257"),
        "{md}"
    );
}

/// A daemon that hangs (stops sending WATCHDOG=1) is killed by systemd's
/// `WatchdogSec=1s` about a second after its last ping; `RuntimeMaxSec=1s`
/// stops it within systemd's timer accuracy of its deadline. No
/// `systemctl stop` is sent: systemd stops the unit on its own.
#[test]
fn watchdog_and_runtime_max_end_a_hung_daemon() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let output = run_as_child(&["seed-watchdog", "--trials", "2"], &out);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let trials = rows(&out.join("trials.csv"));
    assert_eq!(trials.len(), 6);
    for row in &trials {
        assert!(row["error"].is_empty(), "{row:?}");
        assert_eq!(row["leaks"], "0", "{row:?}");
        let ms: f64 = row["latency_ms"].parse().unwrap();
        match row["strategy"].as_str() {
            "watchdog" | "watchdog-unit-b" => {
                assert!(row["note"].starts_with("Result=watchdog"), "{row:?}");
                assert!((900.0..2500.0).contains(&ms), "last ping to death: {ms} ms");
            }
            "runtime-max" => {
                assert!(row["note"].starts_with("Result=timeout"), "{row:?}");
                assert!(ms < 1000.0, "deadline to death: {ms} ms");
            }
            other => panic!("unexpected strategy {other}"),
        }
    }
}
