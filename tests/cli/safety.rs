//! The sandbox's edges: group-wide and broadcast signals from a victim stay
//! inside, and every signal that reaches a process outside the victim is
//! seen, including init and a helper's own children.

use crate::helpers::{num, rows, summary, BIN};
use std::collections::HashMap;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const TRIALS: usize = 3;

/// Writes a scenario whose victim is `victim` (a real program), stopped
/// by `strategy` (TOML lines of one `[[strategy]]`).
fn scenario(dir: &Path, name: &str, victim: &str, strategy: &str) -> String {
    let path = dir.join(format!("{name}.toml"));
    let text = format!(
        "name = \"{name}\"\ntrials = {TRIALS}\n[churn]\nrate = 200\nlifetime = \"20ms\"\n\
         bystanders = [\"/usr/bin/vim /etc/foo_daemon.conf\", \
         {{ command = \"/usr/bin/tail -f /var/log/foo_daemon.log\", behaviour = \"ignore-term\" }}]\n\
         [victim]\nbehaviour = \"exec\"\nstartup = \"300ms\"\ncommand = {victim}\n\
         [[strategy]]\n{strategy}\n"
    );
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

/// Runs `stopbench run SCENARIO | cat` from a non-interactive shell that
/// leads a process group of its own (so a signal escaping the sandbox hits
/// this pipeline, not the test runner), and checks that the whole pipeline
/// survived and the run finished in sandbox `mode` (as run.json names it).
/// Mode `user-namespace`: stopbench runs as nobody, so its sandbox is built
/// in a user namespace.
fn run_in_pipeline(dir: &Path, scenario: &str, mode: &str) {
    let as_user = mode == "user-namespace";
    let out = dir.join("run");
    let stopbench = if as_user && nix::unistd::geteuid().is_root() {
        use std::os::unix::fs::PermissionsExt;
        let exe = dir.join("stopbench");
        std::fs::copy(BIN, &exe).unwrap();
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
        format!(
            "setpriv --reuid=65534 --regid=65534 --clear-groups {}",
            exe.display()
        )
    } else {
        BIN.to_string()
    };
    let script = format!(
        "cd {}; {stopbench} run --quiet --out {} {scenario} | cat; echo \"pipeline status ${{?}}\"",
        dir.display(),
        out.display()
    );
    let mut child = Command::new("/bin/sh")
        .args(["-c", &script])
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "the pipeline did not finish");
        std::thread::sleep(Duration::from_millis(50));
    }
    let output = child.wait_with_output().unwrap();
    assert_eq!(
        output.status.signal(),
        None,
        "the pipeline's shell died of a signal from inside the sandbox; stderr:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("pipeline status 0"),
        "stopbench or cat did not survive: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(out.join("summary.csv").exists(), "the run left no summary");
    let json = std::fs::read_to_string(out.join("run.json")).unwrap();
    assert!(json.contains(&format!("\"mode\": \"{mode}\"")), "{json}");
}

/// A victim that signals its own process group (`kill 0`), its group by
/// number (`kill -PGID`) and every process it may (`kill -1`), each run in
/// a pipeline: the pipeline survives, the run completes, and the pidfd
/// strategy (which never addresses another process) is charged nothing.
#[test]
fn group_and_broadcast_signals_from_a_victim_stay_in_the_sandbox() {
    // `trap '' USR1` keeps the victim itself alive through its own group kill
    // (the ignored disposition survives the exec of sleep).
    let victims = [
        ("kill-zero", "kill -USR1 0", false, false),
        (
            "kill-own-group",
            "kill -USR1 -$(ps -o pgid= -p $$ | tr -d ' ')",
            false,
            false,
        ),
        ("kill-minus-one", "kill -USR1 -1", true, false),
        // The same edges when the sandbox is made in a user namespace.
        ("kill-zero-as-user", "kill -USR1 0", false, true),
        ("kill-minus-one-as-user", "kill -USR1 -1", true, true),
    ];
    for (name, kill, broadcast, as_user) in victims {
        let dir = tempfile::tempdir().unwrap();
        // The broadcast runs in the TERM trap, so it happens during every
        // stop, whatever the machine's load does to the start-up.
        let script = if broadcast {
            format!("trap '' USR1; trap '{kill}; exit 0' TERM; while :; do sleep 0.01; done")
        } else {
            format!("trap '' USR1; sleep 0.05; {kill}; exec sleep 100")
        };
        let victim = format!("[\"/bin/sh\", \"-c\", \"{script}\"]");
        let path = scenario(
            dir.path(),
            name,
            &victim,
            "kind = \"pidfd\"\ntimeout = \"200ms\"",
        );
        let mode = if as_user { "user-namespace" } else { "root" };
        run_in_pipeline(dir.path(), &path, mode);
        let s = summary(dir.path());
        let row = &s["pidfd"];
        assert_eq!(num(row, "trials") as usize, TRIALS, "{name}");
        assert_eq!(num(row, "misfires"), 0.0, "{name}: charged to pidfd");
        assert_eq!(num(row, "exited") as usize, TRIALS, "{name}");
        let victim_signals = rows(&dir.path().join("run/victim-signals.csv"));
        if broadcast {
            // The bystanders die of USR1 (the tail one catches only TERM).
            // Both are alive at the first stop; one hit late in a trial may
            // still be dying when the next starts and is started afresh only
            // a trial later, so later trials may have fewer.
            assert_eq!(num(row, "victim_signals") as usize, victim_signals.len());
            for r in &victim_signals {
                assert_eq!(r["signal"], "SIGUSR1", "{r:?}");
                assert_ne!(r["hit_role"], "sentinel", "{r:?}");
            }
            let first: Vec<_> = victim_signals
                .iter()
                .filter(|r| r["trial"] == "0" && r["hit_role"] == "bystander")
                .collect();
            assert_eq!(first.len(), 2, "{victim_signals:?}");
        } else {
            // Its own group is its own tree: nobody else was reached.
            assert_eq!(victim_signals.len(), 0, "{name}: {victim_signals:?}");
        }
    }
}

/// A pkill pattern that matches the sandbox init's command line: the kernel
/// drops a signal to a namespace's init that has no handler, so no death
/// shows it, yet it reached a process outside the victim.
#[test]
fn a_signal_to_the_sandbox_init_is_a_misfire() {
    let dir = tempfile::tempdir().unwrap();
    let path = scenario(
        dir.path(),
        "init-pattern",
        "[\"/bin/sleep\", \"1000\"]",
        "kind = \"pkill-f\"\npattern = \"stopbench-sandbox init-pattern\"\ntimeout = \"100ms\"",
    );
    run_in_pipeline(dir.path(), &path, "root");
    let on_init: Vec<_> = rows(&dir.path().join("run/misfires.csv"))
        .into_iter()
        .filter(|m| m["hit_role"] == "sandbox-init")
        .collect();
    let mut signals: HashMap<String, usize> = HashMap::new();
    for m in &on_init {
        assert_eq!(m["hit_pid"], "1", "{m:?}");
        assert_eq!(m["hit_cmdline"], "stopbench-sandbox init-pattern", "{m:?}");
        *signals.entry(m["signal"].clone()).or_default() += 1;
    }
    // pkill -TERM, then pkill -KILL, in every trial.
    assert_eq!(
        signals,
        HashMap::from([("SIGTERM".into(), TRIALS), ("SIGKILL".into(), TRIALS)]),
        "{on_init:?}"
    );
}

/// A helper's own child, reaped by the helper's shell and not by init, is
/// counted when the strategy's signal kills it: here an `ExecStopPost=`
/// whose inner shell signals its own number, as a `kill` under `sh` does
/// when it drew the recycled number it was told to kill.
#[test]
fn a_helpers_child_hit_is_counted() {
    let dir = tempfile::tempdir().unwrap();
    let path = scenario(
        dir.path(),
        "helper-child",
        "[\"/bin/sleep\", \"1000\"]",
        "kind = \"execstoppost-check\"\ntimeout = \"100ms\"\n\
         exec_stop_post = \"\"\"/bin/sh -c \"sh -c 'kill -9 $$'; true\" \"\"\"",
    );
    run_in_pipeline(dir.path(), &path, "root");
    let hits: Vec<_> = rows(&dir.path().join("run/misfires.csv"))
        .into_iter()
        .filter(|m| m["hit_role"] == "helper-child")
        .collect();
    assert_eq!(hits.len(), TRIALS, "{hits:?}");
    for m in &hits {
        assert_eq!(
            (
                m["hit_cmdline"].as_str(),
                m["signal"].as_str(),
                m["seen_by"].as_str()
            ),
            ("sh", "SIGKILL", "parent"),
            "{m:?}"
        );
    }
    let s = summary(dir.path());
    assert_eq!(
        num(&s["execstoppost-check"], "misfires") as usize,
        TRIALS,
        "nothing else was hit"
    );
}

/// The same edges inside the sandboxed systemd: the victim is systemd's
/// unit, and its `kill 0` and `kill -1` reach neither the pipeline nor the
/// agent that runs the trials; the broadcast is the victim's, not systemd's.
#[test]
fn group_and_broadcast_signals_stay_in_the_systemd_container() {
    let dir = tempfile::tempdir().unwrap();
    let path = scenario(
        dir.path(),
        "systemd-broadcast",
        "[\"/bin/sh\", \"-c\", \"trap '' USR1; trap 'kill -USR1 -1; exit 0' TERM; kill -USR1 0; while :; do sleep 0.01; done\"]",
        "kind = \"systemd\"\ntimeout = \"500ms\"",
    );
    run_in_pipeline(dir.path(), &path, "systemd-machine");
    let json = std::fs::read_to_string(dir.path().join("run/run.json")).unwrap();
    assert!(
        !json.contains("\"unavailable\": [\n    {"),
        "systemd was unavailable: {json}"
    );
    let trials = rows(&dir.path().join("run/trials.csv"));
    assert_eq!(trials.len(), TRIALS, "{trials:?}");
    for t in &trials {
        assert_eq!(t["outcome"], "exited", "{t:?}");
        assert_eq!(t["misfires"], "0", "{t:?}");
    }
    let hit: Vec<_> = rows(&dir.path().join("run/victim-signals.csv"))
        .into_iter()
        .filter(|r| r["hit_cmdline"] == "/usr/bin/vim /etc/foo_daemon.conf")
        .collect();
    assert_eq!(hit.len(), TRIALS, "{hit:?}");
}
