//! Runs of shipped scenarios and fixtures: the oracle, safety, scenario errors.

use super::helpers::*;
use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn summary_csv_has_the_contract_columns() {
    let (dir, _) = run("default", &["--trials", "2"]);
    let text = std::fs::read_to_string(dir.path().join("run/summary.csv")).unwrap();
    let header = text.lines().next().unwrap();
    assert!(header.starts_with(
        "scenario,strategy,trials,exited,killed,survived,errors,misfires,misfire_rate,misfire_rate_lo95,misfire_rate_hi95,leaks,p50_ms,p90_ms,p99_ms,p999_ms,max_ms"
    ));
    for file in [
        "trials.csv",
        "misfires.csv",
        "run.json",
        "scenario.toml",
        "pidfd.hgrm",
        "plain-kill.hgrm",
    ] {
        assert!(dir.path().join("run").join(file).exists(), "{file} missing");
    }
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("run/run.json")).unwrap())
            .unwrap();
    assert_eq!(json["sandbox"]["pid_max"], 1024);
    assert!(json["churn"]["achieved_rate"].as_f64().unwrap() > 0.0);
    assert!(json["machine"]["kernel"].as_str().is_some());
}

/// No false negatives. Every plain-kill trial of a stale
/// pidfile hits the number's new holder; pidfd never does.
#[test]
fn stale_pidfile_plain_kill_misfires_every_trial_pidfd_never() {
    let (dir, _) = run(
        "stale-pidfile",
        &[
            "--trials",
            "200",
            "--strategy",
            "plain-kill",
            "--strategy",
            "pidfd",
        ],
    );
    let s = summary(dir.path());
    assert_eq!(num(&s["plain-kill"], "trials"), 200.0);
    assert_eq!(num(&s["plain-kill"], "misfires"), 200.0);
    assert_eq!(num(&s["plain-kill"], "misfired_trials"), 200.0);
    assert_eq!(num(&s["plain-kill"], "pid_reused"), 200.0);
    assert_eq!(num(&s["pidfd"], "trials"), 200.0);
    assert_eq!(num(&s["pidfd"], "misfires"), 0.0);
    for m in rows(&dir.path().join("run/misfires.csv")) {
        assert_eq!(m["strategy"], "plain-kill");
        assert_eq!(m["hit_role"], "reuse-holder");
        assert_eq!(
            m["hit_pid"], m["victim_pid"],
            "the hit process holds the victim's old number"
        );
    }
}

/// No false positives. Churn at full speed wraps a 1024-PID
/// space over and over; pidfd must not hit anything, and every victim is
/// stopped. Most exit on TERM; one that got no CPU within the 500 ms
/// timeout (both cores saturated by a concurrent test, as
/// `counts_stay_exact_on_a_busy_machine` does) is killed, which is the
/// strategy working, not failing.
#[test]
fn pidfd_never_misfires_under_max_churn() {
    let (dir, _) = run(&repo("tests/fixtures/max-churn.toml"), &[]);
    let s = summary(dir.path());
    assert_eq!(num(&s["pidfd"], "trials"), 300.0);
    assert_eq!(num(&s["pidfd"], "misfires"), 0.0);
    assert_eq!(num(&s["pidfd"], "errors"), 0.0);
    assert_eq!(num(&s["pidfd"], "survived"), 0.0);
    assert_eq!(
        num(&s["pidfd"], "exited") + num(&s["pidfd"], "killed"),
        300.0
    );
    assert!(num(&s["pidfd"], "exited") >= 290.0, "{:?}", s["pidfd"]);
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("run/run.json")).unwrap())
            .unwrap();
    let spawned = json["churn"]["spawned"].as_u64().unwrap();
    assert!(
        spawned > 2 * 1024,
        "churn should wrap the PID space at least twice, spawned {spawned}"
    );
}

/// The scenario's bystanders that its victim's pattern matches, with the
/// misfires each takes per trial: a TERM-catching one is hit twice (TERM,
/// then KILL).
fn pkill_matches(scenario_path: &str) -> HashMap<String, usize> {
    let scenario: toml::Value =
        toml::from_str(&std::fs::read_to_string(scenario_path).unwrap()).unwrap();
    let pattern = regex::Regex::new(scenario["victim"]["command"].as_str().unwrap()).unwrap();
    let mut expected = HashMap::new();
    for b in scenario["churn"]["bystanders"].as_array().unwrap() {
        let (cmd, hits) = match b {
            toml::Value::String(s) => (s.clone(), 1),
            t => (
                t["command"].as_str().unwrap().to_string(),
                if t["behaviour"].as_str() == Some("ignore-term") {
                    2
                } else {
                    1
                },
            ),
        };
        if pattern.is_match(&cmd) {
            expected.insert(cmd, hits);
        }
    }
    expected
}

/// misfires.csv of one strategy: per trial, the hits per command line.
fn misfires_by_trial(
    dir: &std::path::Path,
    strategy: &str,
) -> HashMap<String, HashMap<String, usize>> {
    let mut by_trial: HashMap<String, HashMap<String, usize>> = HashMap::new();
    for m in rows(&dir.join("run/misfires.csv"))
        .into_iter()
        .filter(|m| m["strategy"] == strategy)
    {
        *by_trial
            .entry(m["trial"].clone())
            .or_default()
            .entry(m["hit_cmdline"].clone())
            .or_default() += 1;
    }
    by_trial
}

/// Pkill -f hits exactly the processes whose command lines
/// match the pattern: the matching bystanders and the `sh -c` running pkill.
#[test]
fn pkill_hits_exactly_the_matching_processes() {
    let scenario_path = repo("scenarios/seed-pkill.toml");
    let expected = pkill_matches(&scenario_path);
    assert_eq!(
        expected.len(),
        3,
        "the fixture's list changed: {expected:?}"
    );
    // pkill executed directly, as systemd's ExecStopPost= does, hits the
    // look-alikes only; through `sh -c` it also hits its own shells.
    let mut through_sh = expected.clone();
    through_sh.insert("/bin/sh -c pkill -TERM -f /usr/bin/foo_daemon".into(), 1);
    through_sh.insert("/bin/sh -c pkill -KILL -f /usr/bin/foo_daemon".into(), 1);
    let per_trial: usize = expected.values().sum();

    let trials = 8;
    let (dir, _) = run(&scenario_path, &["--trials", &trials.to_string()]);
    let s = summary(dir.path());
    let by_trial = |strategy: &str| misfires_by_trial(dir.path(), strategy);
    // On a miscount, every trial's hits in run order, to tell a late hit
    // (one trial short, the next one over) from a lost one.
    let all_trials = || -> String {
        let misfires = rows(&dir.path().join("run/misfires.csv"));
        rows(&dir.path().join("run/trials.csv"))
            .iter()
            .map(|t| {
                let hits: Vec<String> = misfires
                    .iter()
                    .filter(|m| m["trial"] == t["trial"] && m["strategy"] == t["strategy"])
                    .map(|m| format!("{} {} ({})", m["hit_cmdline"], m["signal"], m["seen_by"]))
                    .collect();
                format!(
                    "\n{} #{} {}: {hits:?}",
                    t["strategy"], t["trial"], t["outcome"]
                )
            })
            .collect()
    };
    assert_eq!(
        num(&s["pkill-f"], "misfires") as usize,
        trials * per_trial,
        "{}",
        all_trials()
    );
    assert_eq!(
        num(&s["pkill-f-sh"], "misfires") as usize,
        trials * through_sh.values().sum::<usize>(),
        "{}",
        all_trials()
    );
    for other in ["plain-kill", "execstoppost-check", "pidfd", "cgroup"] {
        assert_eq!(num(&s[other], "misfires"), 0.0, "{other}: {}", all_trials());
    }
    for (label, want) in [("pkill-f", &expected), ("pkill-f-sh", &through_sh)] {
        let hits = by_trial(label);
        assert_eq!(hits.len(), trials, "{label}");
        for (trial, hits) in hits {
            assert_eq!(&hits, want, "{label} trial {trial}");
        }
    }
    // The seed's ExecStopPost=pkill -9 -f under real systemd (when this
    // machine has it): systemd execs pkill with no shell, and SIGKILL cannot
    // be caught, so each matching bystander is hit exactly once.
    let json = std::fs::read_to_string(dir.path().join("run/run.json")).unwrap();
    assert!(
        s.contains_key("systemd-pkill") || json.contains("\"strategy\": \"systemd-pkill\""),
        "systemd-pkill neither ran nor was reported unavailable"
    );
    if s.contains_key("systemd-pkill") {
        let once: HashMap<String, usize> = expected.keys().map(|k| (k.clone(), 1)).collect();
        let hits = by_trial("systemd-pkill");
        // A trial without hits says why: its outcome, error and note.
        let missing: Vec<_> = rows(&dir.path().join("run/trials.csv"))
            .into_iter()
            .filter(|r| r["strategy"] == "systemd-pkill" && !hits.contains_key(&r["trial"]))
            .map(|r| {
                format!(
                    "trial {}: {} {} {}",
                    r["trial"], r["outcome"], r["error"], r["note"]
                )
            })
            .collect();
        assert!(
            missing.is_empty(),
            "systemd-pkill trials without hits: {missing:?}"
        );
        assert_eq!(hits.len(), trials);
        for (trial, hits) in hits {
            assert_eq!(hits, once, "systemd-pkill trial {trial}");
        }
    }
}

/// A TERM-ignoring victim is killed by every escalating
/// strategy after the timeout, never faster.
#[test]
fn term_ignoring_victim_is_killed_after_the_timeout() {
    let (dir, _) = run(&repo("tests/fixtures/short-timeout.toml"), &[]);
    for row in rows(&dir.path().join("run/trials.csv")) {
        assert_eq!(row["outcome"], "killed", "{row:?}");
        let ms: f64 = row["latency_ms"].parse().unwrap();
        assert!(
            (200.0..700.0).contains(&ms),
            "latency {ms} ms outside [200, 700): {row:?}"
        );
    }
    let s = summary(dir.path());
    assert_eq!(s.len(), 4);
    for row in s.values() {
        assert_eq!(num(row, "killed"), 4.0);
    }
}

/// A decoy on the host whose command line matches the pkill
/// pattern survives a pkill-f run: the sandbox's pkill cannot see it.
#[test]
fn pkill_never_reaches_the_host() {
    let mut decoy = Command::new("bash")
        .args(["-c", "exec -a /usr/bin/foo_daemon sleep 300"])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let cmdline = std::fs::read(format!("/proc/{}/cmdline", decoy.id())).unwrap();
    assert!(String::from_utf8_lossy(&cmdline).starts_with("/usr/bin/foo_daemon"));
    let (dir, _) = run("seed-pkill", &["--trials", "3", "--strategy", "pkill-f"]);
    assert!(
        num(&summary(dir.path())["pkill-f"], "misfires") > 0.0,
        "pkill did run and hit sandbox bystanders"
    );
    let alive = decoy.try_wait().unwrap().is_none();
    decoy.kill().unwrap(); // our own child, by handle
    decoy.wait().unwrap();
    assert!(alive, "the host decoy was killed");
}

/// SIGKILL to stopbench mid-run leaves nothing it started
/// running, and trials.csv holds whole rows only.
#[test]
fn sigkill_mid_run_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let token = format!("sbkill{}", std::process::id());
    let scenario = long_scenario(dir.path(), &token);
    let out = dir.path().join("run");
    let mut child = start(&scenario, &out);
    wait_for_rows(&out.join("trials.csv"), 5, Duration::from_secs(60));
    assert!(
        !host_processes_with(&token).is_empty(),
        "the run's processes should be visible while it runs"
    );
    child.kill().unwrap(); // SIGKILL, to our own child by handle
    child.wait().unwrap();
    let start = Instant::now();
    let mut left = host_processes_with(&token);
    while !left.is_empty() && start.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(50));
        left = host_processes_with(&token);
    }
    assert!(left.is_empty(), "processes left behind: {left:?}");
    assert_whole_rows(&out.join("trials.csv"));
    assert_whole_rows(&out.join("misfires.csv"));
}

/// An interrupt keeps what was measured: summary files are written, exit 130.
#[test]
fn sigint_keeps_what_was_measured() {
    let dir = tempfile::tempdir().unwrap();
    let token = format!("sbint{}", std::process::id());
    let scenario = long_scenario(dir.path(), &token);
    let out = dir.path().join("run");
    let mut child = start(&scenario, &out);
    wait_for_rows(&out.join("trials.csv"), 4, Duration::from_secs(60));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    let s = summary(dir.path());
    let total: f64 = s.values().map(|r| num(r, "trials")).sum();
    assert!(total >= 4.0, "summary has {total} trials");
    let json = std::fs::read_to_string(out.join("run.json")).unwrap();
    assert!(json.contains("interrupted after"), "{json}");
    assert!(host_processes_with(&token).is_empty());
}

/// Malformed scenarios fail with the file, line and key.
#[test]
fn malformed_scenarios_name_file_line_and_key() {
    let base =
        "name = \"bad\"\n[victim]\ncommand = \"/usr/bin/foo\"\n[[strategy]]\nkind = \"pidfd\"\n";
    let cases = [
        (
            "unknown-key",
            format!("{base}colour = \"red\"\n"),
            ":6:",
            "strategy[0]",
            "unknown field `colour`",
        ),
        (
            "wrong-type",
            base.replace("name = \"bad\"", "name = \"bad\"\ntrials = \"many\""),
            ":2:",
            "trials",
            "invalid type",
        ),
        (
            "bad-duration",
            format!("{base}timeout = \"2 fortnights\"\n"),
            ":6:",
            "strategy[0].timeout",
            "unknown unit",
        ),
        (
            "low-pid-max",
            format!("[sandbox]\npid_max = 300\n{base}"),
            ":2:",
            "sandbox.pid_max",
            "301",
        ),
        ("not-toml", "name = \n".to_string(), ":1:", "", "invalid"),
    ];
    let dir = tempfile::tempdir().unwrap();
    for (name, text, line, key, message) in cases {
        let path = dir.path().join(format!("{name}.toml"));
        std::fs::write(&path, text).unwrap();
        let output = Command::new(BIN)
            .args(["run", "--quiet"])
            .arg(&path)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{name}: {stderr}");
        assert!(
            stderr.contains(&format!("{}{line}", path.display())),
            "{name}: {stderr}"
        );
        assert!(stderr.contains(&format!("`{key}")), "{name}: {stderr}");
        assert!(stderr.contains(message), "{name}: {stderr}");
        assert!(!stderr.contains("panicked"), "{name}: {stderr}");
    }
}

/// As an ordinary user, through a user namespace, the same
/// exact misfire counts.
#[test]
fn stale_pidfile_as_an_ordinary_user() {
    let dir = ordinary_user_dir();
    let out = dir.path().join("run");
    let output = run_as_ordinary_user(
        dir.path(),
        &[
            "run",
            "stale-pidfile",
            "--quiet",
            "--trials",
            "50",
            "--strategy",
            "plain-kill",
            "--strategy",
            "pidfd",
        ],
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let json = std::fs::read_to_string(out.join("run.json")).unwrap();
    assert!(json.contains("\"mode\": \"user-namespace\""), "{json}");
    let s = summary(dir.path());
    assert_eq!(num(&s["plain-kill"], "misfires"), 50.0);
    assert_eq!(num(&s["pidfd"], "misfires"), 0.0);
}

#[test]
fn list_names_every_builtin_scenario_and_strategy() {
    let output = Command::new(BIN).arg("list").output().unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    for name in [
        "default",
        "seed-timeoutstopsec",
        "seed-execstoppost",
        "seed-sigstop",
        "seed-pkill",
        "stale-pidfile",
    ] {
        assert!(text.contains(name), "{name} missing from list");
    }
    for kind in ["plain-kill", "execstoppost-check", "pkill-f", "pidfd"] {
        assert!(text.contains(kind), "{kind} missing from list");
    }
}

#[test]
fn unknown_strategy_filter_is_a_usage_error() {
    let output = Command::new(BIN)
        .args(["run", "default", "--strategy", "nuke"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("`nuke`"));
}

/// Issue 4, acceptance 2 (cgroup side): KillMode=process leaves the forked
/// children, mixed and control-group leave none; nobody else is ever hit.
#[test]
fn cgroup_kill_modes_leave_what_systemd_would() {
    let trials = 8.0;
    let (dir, _) = run("seed-killmode", &["--trials", "8"]);
    let s = summary(dir.path());
    assert_eq!(
        num(&s["cgroup-process"], "leaks"),
        2.0 * trials,
        "two children per trial survive"
    );
    assert_eq!(num(&s["cgroup-mixed"], "leaks"), 0.0);
    assert_eq!(num(&s["cgroup-control-group"], "leaks"), 0.0);
    for row in s.values() {
        assert_eq!(num(row, "misfires"), 0.0, "{}", row["strategy"]);
        assert_eq!(num(row, "errors"), 0.0, "{}", row["strategy"]);
    }
    let mount = ["/sys/fs/cgroup/unified", "/sys/fs/cgroup"];
    for m in mount {
        let left: Vec<_> = std::fs::read_dir(m)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| {
                e.file_name().to_string_lossy() == format!("stopbench-{}", std::process::id())
            })
            .collect();
        assert!(left.is_empty(), "cgroup left behind in {m}");
    }
}

/// Killing leaked children in cleanup is init's own doing, never a misfire,
/// even when one of them is still a zombie while the next is killed.
#[test]
fn cleanup_of_leaked_children_is_not_a_misfire() {
    let (dir, _) = run("seed-forked-children", &["--trials", "25"]);
    let s = summary(dir.path());
    for strategy in ["plain-kill", "execstoppost-check", "pidfd"] {
        assert_eq!(num(&s[strategy], "misfires"), 0.0, "{strategy}");
        assert_eq!(
            num(&s[strategy], "leaks"),
            50.0,
            "{strategy}: two children per trial"
        );
    }
    // pkill -f kills the children (same command line): the victim's own
    // tree, so no misfire; executed directly, it has no shell to hit.
    assert_eq!(num(&s["pkill-f"], "leaks"), 0.0);
    assert_eq!(num(&s["pkill-f"], "misfires"), 0.0);
}

/// Where the machine cannot support a strategy it is reported unavailable
/// with the reason, not run and not silently skipped.
#[test]
fn cgroup_strategy_is_unavailable_to_an_ordinary_user() {
    // Dropping to another user needs root; CI runs as root.
    assert!(
        nix::unistd::geteuid().is_root(),
        "this test drops privileges with setpriv: run it as root"
    );
    let dir = ordinary_user_dir();
    let out = dir.path().join("run");
    let output = run_as_ordinary_user(dir.path(), &["run", "seed-killmode", "--trials", "2"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("strategy `cgroup-mixed` is unavailable here"),
        "{stderr}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("run.json")).unwrap()).unwrap();
    // Three cgroup and three systemd strategies, each with its reason.
    let unavailable = json["unavailable"].as_array().unwrap();
    assert_eq!(unavailable.len(), 6);
    for u in unavailable {
        assert!(u["reason"].as_str().unwrap().contains("root"), "{u}");
    }
    let s = summary(dir.path());
    assert_eq!(s.keys().collect::<Vec<_>>(), ["pidfd"]);
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(report.contains("Not measured on this machine"), "{report}");
}

/// A signal ignored by whoever started stopbench (a shell's background job
/// ignores SIGQUIT and SIGINT; the CLI handles SIGINT, so SIGQUIT stays
/// ignored through its execs) must not be ignored by the processes it hits:
/// neither a bystander (an exec) nor a churner (a clone of init sharing its
/// memory), or the misfire would go unseen.
#[test]
fn inherited_ignored_signals_do_not_hide_misfires() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("quit.toml");
    // The pattern matches the victim, the bystander, and init's command
    // line, which the churners (clones of init) share.
    std::fs::write(
        &scenario,
        "name = \"quit\"\ntrials = 4\n[churn]\nrate = 300\nlifetime = \"300ms\"\n\
         bystanders = [\"/usr/bin/foo_daemon-helper\"]\n[victim]\ncommand = \"/usr/bin/foo_daemon\"\n\
         [[strategy]]\nkind = \"pkill-f\"\npattern = \"foo_daemon|stopbench-sandbox quit\"\n\
         kill_signal = \"SIGQUIT\"\nfinal_signal = \"SIGQUIT\"\ntimeout = \"100ms\"\n",
    )
    .unwrap();
    let out = dir.path().join("run");
    use std::os::unix::process::CommandExt;
    let mut command = Command::new(BIN);
    command
        .args(["run", "--quiet", "--out"])
        .arg(&out)
        .arg(&scenario)
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // SAFETY: the hook runs in the forked child before exec and only calls
    // signal(2), which is async-signal-safe.
    unsafe {
        command.pre_exec(|| {
            use nix::sys::signal::{signal, SigHandler, Signal};
            signal(Signal::SIGQUIT, SigHandler::SigIgn)?;
            Ok(())
        });
    }
    assert!(command.status().unwrap().success());
    let misfires = rows(&out.join("misfires.csv"));
    let hits = |role: &str| {
        misfires
            .iter()
            .filter(|m| m["hit_role"] == role && m["signal"] == "SIGQUIT")
            .map(|m| m["trial"].clone())
            .collect::<Vec<_>>()
    };
    let bystander = hits("bystander");
    assert_eq!(bystander.len(), 4, "the bystander is hit once per trial");
    let churner_trials: std::collections::BTreeSet<_> = hits("churner").into_iter().collect();
    assert_eq!(
        churner_trials.len(),
        4,
        "churners are hit in every trial: {churner_trials:?}"
    );
}

/// Runs `stopbench run` on `scenario` with `--out` inside a tmpfs mounted
/// with `options`, in a mount namespace of its own (the host never sees the
/// mount), and copies what it wrote to `keep`. Returns stopbench's exit code
/// and its standard error.
/// Whether the run's sandbox is gone within a few seconds: its processes
/// die with the run (PR_SET_PDEATHSIG), the kernel ends them a moment later.
fn sandbox_gone(name: &str) -> bool {
    let token = format!("stopbench-sandbox {name}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !host_processes_with(&token).is_empty() {
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    true
}

fn run_on_tmpfs(dir: &Path, scenario: &Path, options: &str, keep: &Path) -> (i32, String) {
    let mnt = dir.join("mnt");
    std::fs::create_dir_all(&mnt).unwrap();
    let script = format!(
        "mount -t tmpfs -o {options} tmpfs {mnt} || exit 99; \
         {BIN} run --quiet --out {mnt}/run {scenario} 2> {dir}/stderr; echo $? > {dir}/rc; \
         if [ -d {mnt}/run ]; then cp -r {mnt}/run {keep}; fi",
        mnt = mnt.display(),
        scenario = scenario.display(),
        dir = dir.display(),
        keep = keep.display(),
    );
    let status = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c", &script])
        .status()
        .unwrap();
    assert!(status.success(), "the mount namespace could not be set up");
    let rc = std::fs::read_to_string(dir.join("rc")).unwrap();
    let stderr = std::fs::read_to_string(dir.join("stderr")).unwrap();
    (rc.trim().parse().unwrap(), stderr)
}

/// A disk that fills mid-run and an `--out` on a read-only file system:
/// a clear error naming the file, exit 1, the sandbox torn down, and every
/// row already written whole, of whole trials.
#[test]
fn a_full_disk_or_read_only_out_is_a_clear_error_and_loses_no_row() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("disk-full.toml");
    // A name of this test's own: another suite on the machine runs it too.
    let name = format!("disk-full-{}", std::process::id());
    std::fs::write(
        &scenario,
        std::fs::read_to_string(repo("scenarios/default.toml"))
            .unwrap()
            .replace("name = \"default\"", &format!("name = \"{name}\""))
            .replace("trials = 20", "trials = 2000"),
    )
    .unwrap();
    let keep = dir.path().join("kept");
    let (rc, stderr) = run_on_tmpfs(dir.path(), &scenario, "size=48k", &keep);
    assert_eq!(rc, 1, "{stderr}");
    assert!(stderr.contains("No space left on device"), "{stderr}");
    assert!(
        stderr.contains("disk-full") || stderr.contains(".csv"),
        "{stderr}"
    );
    // Every file parses as whole rows (`rows` refuses a ragged one), and a
    // trial's misfires are there only with the trial's own row.
    let trials = rows(&keep.join("trials.csv"));
    assert!(
        !trials.is_empty(),
        "no trial was written before the disk filled"
    );
    let written: std::collections::HashSet<(String, String)> = trials
        .iter()
        .map(|t| (t["strategy"].clone(), t["trial"].clone()))
        .collect();
    for file in ["misfires.csv", "victim-signals.csv", "leaks.csv"] {
        for row in rows(&keep.join(file)) {
            let key = (row["strategy"].clone(), row["trial"].clone());
            assert!(written.contains(&key), "{file}: {row:?} without its trial");
        }
    }
    let misfires: usize = trials
        .iter()
        .map(|t| t["misfires"].parse::<usize>().unwrap())
        .sum();
    assert_eq!(misfires, rows(&keep.join("misfires.csv")).len());
    assert!(sandbox_gone(&name), "{name}");

    let ro = tempfile::tempdir().unwrap();
    let (rc, stderr) = run_on_tmpfs(ro.path(), &scenario, "ro,size=48k", &ro.path().join("kept"));
    assert_eq!(rc, 1, "{stderr}");
    assert!(stderr.contains("Read-only file system"), "{stderr}");
    assert!(sandbox_gone(&name), "{name}");
}

/// Busy loops on every core but one, ended (by handle) when dropped.
struct BusyCores(Vec<std::process::Child>);

impl BusyCores {
    fn start() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let loops = (0..cores.saturating_sub(1).max(1))
            .map(|_| {
                Command::new("sh")
                    .args(["-c", "while :; do :; done"])
                    .spawn()
                    .unwrap()
            })
            .collect();
        BusyCores(loops)
    }
}

impl Drop for BusyCores {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill(); // our own child, by handle
            let _ = child.wait();
        }
    }
}

/// With the other cores saturated, the oracle's counts stay exact (every
/// stale-pidfile kill hits the number's new holder, pidfd nothing, the
/// kill modes leave what they leave), and the run says the machine was busy.
#[test]
fn counts_stay_exact_on_a_busy_machine() {
    let _busy = BusyCores::start();
    let (dir, _) = run(
        "stale-pidfile",
        &[
            "--trials",
            "30",
            "--strategy",
            "plain-kill",
            "--strategy",
            "pidfd",
        ],
    );
    let s = summary(dir.path());
    assert_eq!(num(&s["plain-kill"], "misfires"), 30.0);
    assert_eq!(num(&s["plain-kill"], "pid_reused"), 30.0);
    assert_eq!(num(&s["pidfd"], "misfires"), 0.0);
    let (kill_modes, _) = run(
        "seed-killmode",
        &[
            "--trials",
            "3",
            "--strategy",
            "cgroup-process",
            "--strategy",
            "cgroup-mixed",
        ],
    );
    let s = summary(kill_modes.path());
    assert_eq!(num(&s["cgroup-process"], "leaks"), 6.0);
    assert_eq!(num(&s["cgroup-mixed"], "leaks"), 0.0);
    for run_dir in [dir.path(), kill_modes.path()] {
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(run_dir.join("run/run.json")).unwrap())
                .unwrap();
        assert_eq!(json["load"]["busy"], true, "{}", json["load"]);
        assert!(json["load"]["others_share"].as_f64().unwrap() > 0.25);
    }
}
