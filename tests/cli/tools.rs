//! The stop tools people run, as the real programs, against a real daemon
//! (`/usr/bin/sleep` with a pidfile) whose number a newcomer takes at once.
//! Each verdict comes from the oracle: which process died of which signal.

use crate::helpers::{num, rows, run, summary, BIN};
use std::path::Path;
use std::process::Command;

/// A scenario around the real daemon, with forced reuse and `strategies`.
fn scenario(dir: &Path, trials: u32, strategies: &str) -> String {
    let path = dir.join("tools.toml");
    let text = format!(
        "name = \"tools\"\ntrials = {trials}\nseed = 3\n[sandbox]\npid_max = 1024\n\
         [churn]\nrate = 300\nlifetime = \"2ms\"\nforced_reuse = true\n\
         [victim]\ncommand = \"/usr/bin/sleep 3600\"\nbehaviour = \"exec\"\n\
         startup = \"20ms\"\npidfile = \"/run/sleepd.pid\"\n{strategies}"
    );
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

/// The first trial of `strategy` names `text` in its `helpers` column.
fn assert_helpers_say(out: &Path, strategy: &str, text: &str) {
    let trials = rows(&out.join("run/trials.csv"));
    let row = trials.iter().find(|r| r["strategy"] == strategy).unwrap();
    assert!(row["helpers"].contains(text), "{strategy}: {row:?}");
}

/// `(strategy, hit role, signal)` of every misfire.
fn misfires(out: &Path) -> Vec<(String, String, String)> {
    rows(&out.join("run/misfires.csv"))
        .into_iter()
        .map(|r| {
            (
                r["strategy"].clone(),
                r["hit_role"].clone(),
                r["signal"].clone(),
            )
        })
        .collect()
}

/// The tools of `each_tool_hits_what_it_cannot_tell_from_the_daemon`.
const EACH_TOOL: &str = r#"
[[strategy]]
kind = "start-stop-daemon"
label = "ssd-exec-other"
match = ["pidfile", "exec"]
retry = "TERM/1/KILL/1"

[[strategy]]
kind = "start-stop-daemon"
label = "ssd-exec-same"
match = ["pidfile", "exec"]
retry = "TERM/1/KILL/1"
newcomer = "same-program"

[[strategy]]
kind = "killall"
timeout = "300ms"

[[strategy]]
kind = "killall"
label = "killall-same"
timeout = "300ms"
newcomer = "same-program"

[[strategy]]
kind = "pidof-kill"
timeout = "300ms"
newcomer = "same-program"

[[strategy]]
kind = "process-group"
timeout = "300ms"

[[strategy]]
kind = "command"
label = "unit-b"
timeout = "300ms"
exec_stop = "/bin/kill -TERM $MAINPID"
exec_stop_post = '/bin/sh -c "if ps -p $MAINPID > /dev/null; then /bin/kill -KILL $MAINPID; fi"'
"#;

/// start-stop-daemon's `--exec` spares a newcomer running another program
/// and hits one running the daemon's own; killall and `pidof | xargs kill`
/// hit only a newcomer of the same name; a process-group kill and unit B's
/// own lines hit whatever took the number. No tool is charged for the TERM
/// that killed the daemon itself, though the newcomer took its number
/// before that kill() returned.
#[test]
fn each_tool_hits_what_it_cannot_tell_from_the_daemon() {
    let dir = tempfile::tempdir().unwrap();
    let trials = 4;
    let strategies = EACH_TOOL;
    let path = scenario(dir.path(), trials, strategies);
    let (out, _) = run(&path, &[]);
    let s = summary(out.path());
    for (label, row) in &s {
        assert_eq!(num(row, "errors"), 0.0, "{label}: {row:?}");
        assert_eq!(
            num(row, "exited") + num(row, "killed"),
            f64::from(trials),
            "{label}"
        );
    }
    for spared in ["ssd-exec-other", "killall"] {
        assert_eq!(num(&s[spared], "misfires"), 0.0, "{spared}");
    }
    let hits = misfires(out.path());
    for hitter in [
        "ssd-exec-same",
        "killall-same",
        "pidof-kill",
        "process-group",
        "unit-b",
    ] {
        assert!(num(&s[hitter], "misfires") >= 1.0, "{hitter}: {hits:?}");
        assert!(
            hits.iter()
                .filter(|(l, _, _)| l == hitter)
                .all(|(_, role, signal)| role == "reuse-holder" && signal == "SIGKILL"),
            "{hitter}: only the final KILL reaches the newcomer: {hits:?}"
        );
    }
    // Every tool's own end is in trials.csv; killall's gap from taking a
    // process (its /proc directory, a pidfd) to signalling it is measured.
    for row in rows(&out.path().join("run/trials.csv")) {
        if row["strategy"].starts_with("killall") {
            assert!(!row["race_window_us"].is_empty(), "{row:?}");
        }
        let helpers = &row["helpers"];
        let tool = match row["strategy"].as_str() {
            "ssd-exec-other" | "ssd-exec-same" => "start-stop-daemon: exit",
            "killall" | "killall-same" => "killall: exit",
            "unit-b" => "kill: exit 0",
            _ => ": exit",
        };
        assert!(helpers.contains(tool), "{}: {helpers}", row["strategy"]);
    }
}

/// A tool that cannot do its job makes the trial an error, with its own
/// words, never a clean stop.
#[test]
fn a_failing_tool_is_an_error_with_its_words() {
    let dir = tempfile::tempdir().unwrap();
    let strategies = r#"
[[strategy]]
kind = "start-stop-daemon"
match = ["pidfile", "exec"]
exec = "/nonexistent/foo_daemon"
retry = "TERM/1/KILL/1"

[[strategy]]
kind = "command"
exec_stop = "/bin/false"
timeout = "300ms"
"#;
    let path = scenario(dir.path(), 2, strategies);
    let (out, _) = run(&path, &[]);
    let s = summary(out.path());
    assert_eq!(num(&s["start-stop-daemon"], "errors"), 2.0);
    assert_eq!(num(&s["command"], "errors"), 2.0);
    let trials = rows(&out.path().join("run/trials.csv"));
    let ssd = trials
        .iter()
        .find(|r| r["strategy"] == "start-stop-daemon")
        .unwrap();
    assert!(ssd["error"].contains("unable to stat"), "{ssd:?}");
    assert!(ssd["helpers"].contains("exit 2"), "{ssd:?}");
}

/// What a tool needs is checked when the scenario is read, at its key.
#[test]
fn a_tool_without_what_it_needs_is_refused_at_its_key() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "[victim]\ncommand = \"/usr/bin/sleep 9\"\nbehaviour = \"exec\"\n[[strategy]]\nkind = \"killproc\"\n",
            "strategy[0].kind",
            "pidfile",
        ),
        (
            "[victim]\ncommand = \"/usr/bin/sleep 9\"\nbehaviour = \"exec\"\npidfile = \"/run/x.pid\"\n[[strategy]]\nkind = \"start-stop-daemon\"\nretry = \"TERM/forever\"\n",
            "strategy[0].retry",
            "never ends",
        ),
        (
            "[victim]\ncommand = \"/usr/bin/sleep 9\"\nbehaviour = \"exec\"\npidfile = \"/nonexistent-dir/x.pid\"\n[[strategy]]\nkind = \"pidfd\"\n",
            "victim.pidfile",
            "does not exist",
        ),
        (
            "[victim]\ncommand = \"/usr/bin/sleep 9\"\nbehaviour = \"exec\"\n[[strategy]]\nkind = \"command\"\n",
            "strategy[0].exec_stop",
            "needs `exec_stop`",
        ),
    ];
    for (i, (body, key, why)) in cases.iter().enumerate() {
        let path = dir.path().join(format!("bad{i}.toml"));
        std::fs::write(&path, format!("name = \"bad\"\n{body}")).unwrap();
        let out = Command::new(BIN)
            .args(["run", "--quiet", "--out"])
            .arg(dir.path().join(format!("out{i}")))
            .arg(&path)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{body}");
        assert!(err.contains(key) && err.contains(why), "{key}: {err}");
    }
}

/// The daemon and its stop commands run as one user (`User=daemon`), the
/// newcomer on its number as another: the tools' signals to it are refused
/// (EPERM), the stop is an `eperm`, and nothing is hit. stopbench's own
/// `plain-kill`, as root, hits it.
#[test]
fn a_newcomer_of_another_user_refuses_the_tools_signal() {
    let dir = tempfile::tempdir().unwrap();
    let trials = 3;
    let strategies = r#"
[[strategy]]
kind = "command"
label = "unit-b"
timeout = "300ms"
exec_stop = "/bin/kill -TERM $MAINPID"
exec_stop_post = '/bin/sh -c "if ps -p $MAINPID > /dev/null; then /bin/kill -KILL $MAINPID; fi"'

[[strategy]]
kind = "killall"
newcomer = "same-program"
timeout = "300ms"

[[strategy]]
kind = "plain-kill"
timeout = "300ms"
"#;
    let path = scenario(dir.path(), trials, strategies);
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace(
            "forced_reuse = true\n",
            "forced_reuse = true\nnewcomer_user = \"nobody\"\n",
        )
        .replace("pidfile = ", "user = \"daemon\"\npidfile = ");
    std::fs::write(&path, text).unwrap();
    let (out, _) = run(&path, &[]);
    let s = summary(out.path());
    for refused in ["unit-b", "killall"] {
        assert_eq!(num(&s[refused], "eperm"), f64::from(trials), "{refused}");
        assert_eq!(num(&s[refused], "misfires"), 0.0, "{refused}");
    }
    assert_eq!(num(&s["plain-kill"], "misfires"), f64::from(trials));
    assert_helpers_say(out.path(), "unit-b", "Operation not permitted");
}

/// A late or repeated stop (`repeat_after`: a second `stop`, a restart's
/// `ExecStop=`) of a daemon that died a while ago signals its old number,
/// now another process's; the same stop run once hits nothing.
#[test]
fn a_repeated_stop_hits_the_old_numbers_new_holder() {
    let dir = tempfile::tempdir().unwrap();
    let trials = 3;
    let strategies = r#"
[[strategy]]
kind = "command"
label = "once"
timeout = "300ms"
exec_stop = "/bin/kill -TERM $MAINPID"

[[strategy]]
kind = "command"
label = "again"
timeout = "300ms"
exec_stop = "/bin/kill -TERM $MAINPID"
repeat_after = "100ms"
"#;
    let path = scenario(dir.path(), trials, strategies);
    let (out, _) = run(&path, &[]);
    let s = summary(out.path());
    assert_eq!(num(&s["once"], "misfires"), 0.0);
    assert_eq!(num(&s["again"], "misfires"), f64::from(trials));
    let hits = misfires(out.path());
    assert!(
        hits.iter()
            .all(|(l, role, sig)| l == "again" && role == "reuse-holder" && sig == "SIGTERM"),
        "{hits:?}"
    );
    assert_helpers_say(out.path(), "again", "repeated: kill: exit 0");
}

/// A daemon that leads a group of TERM-ignoring workers: `kill -- -PGID`
/// and `timeout -k` address the whole group and leave nothing; a kill of
/// the main process alone leaves the workers running.
#[test]
fn group_addressing_stops_the_workers_too() {
    let dir = tempfile::tempdir().unwrap();
    let trials = 2;
    let path = dir.path().join("group.toml");
    let text = r#"name = "group"
trials = 2
[churn]
rate = 200
lifetime = "2ms"
[victim]
command = ["/bin/bash", "-c", "trap '' TERM; sleep 1000 & sleep 1000 & wait"]
behaviour = "exec"
startup = "100ms"
[[strategy]]
kind = "timeout-k"
timeout = "300ms"
[[strategy]]
kind = "process-group"
timeout = "300ms"
[[strategy]]
kind = "plain-kill"
timeout = "300ms"
"#;
    std::fs::write(&path, text).unwrap();
    let (out, _) = run(&path.display().to_string(), &[]);
    let s = summary(out.path());
    for group in ["timeout-k", "process-group"] {
        assert_eq!(num(&s[group], "leaks"), 0.0, "{group}");
        assert_eq!(num(&s[group], "killed"), f64::from(trials), "{group}");
        assert_eq!(num(&s[group], "misfires"), 0.0, "{group}");
    }
    assert_eq!(num(&s["plain-kill"], "leaks"), f64::from(2 * trials));
}

/// A daemon that crashed leaves its pidfile behind: start-stop-daemon,
/// given the stale pidfile alone, signals the number's new holder; with
/// `--exec` it sees another program there and does nothing.
#[test]
fn a_stale_pidfile_names_the_newcomer() {
    let dir = tempfile::tempdir().unwrap();
    let trials = 3;
    let path = dir.path().join("stale.toml");
    let text = r#"name = "stale"
trials = 3
[sandbox]
pid_max = 1024
[churn]
rate = 300
lifetime = "2ms"
forced_reuse = true
[victim]
command = "/usr/bin/foo_daemon"
behaviour = "exit-early"
pidfile = "/run/foo_daemon.pid"
[[strategy]]
kind = "start-stop-daemon"
label = "by-pidfile"
retry = "TERM/1/KILL/1"
[[strategy]]
kind = "start-stop-daemon"
label = "by-pidfile-and-name"
match = ["pidfile", "name"]
retry = "TERM/1/KILL/1"
"#;
    std::fs::write(&path, text).unwrap();
    let (out, _) = run(&path.display().to_string(), &[]);
    let s = summary(out.path());
    assert_eq!(num(&s["by-pidfile"], "misfires"), f64::from(trials));
    // The newcomer's name (`unrelated-servi`) is not the daemon's.
    assert_eq!(num(&s["by-pidfile-and-name"], "misfires"), 0.0);
    let hits = misfires(out.path());
    assert!(
        hits.iter()
            .all(|(l, role, sig)| l == "by-pidfile" && role == "reuse-holder" && sig == "SIGTERM"),
        "{hits:?}"
    );
}

/// Other users run stopbench's own binary (a simulated victim as `daemon`,
/// a stand-in newcomer as `nobody`). From a copy under a 0700 directory,
/// which neither may enter (a `mktemp -d` checkout, or `/root`), every trial
/// still runs, and the helpers run as `daemon` are still timed by the
/// trace shim. A real program of the victim's in there is refused before
/// the run, naming the directory and the user.
#[test]
fn other_users_run_from_a_closed_directory() {
    use std::os::unix::fs::PermissionsExt;
    let closed = tempfile::tempdir().unwrap();
    std::fs::set_permissions(closed.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let exe = closed.path().join("stopbench");
    std::fs::copy(BIN, &exe).unwrap();
    let trials = 3;
    let text = format!(
        "name = \"closed\"\ntrials = {trials}\nseed = 5\n[sandbox]\npid_max = 1024\n\
         [churn]\nrate = 300\nlifetime = \"2ms\"\nforced_reuse = true\nnewcomer_user = \"nobody\"\n\
         [victim]\ncommand = \"/usr/bin/foo_daemon\"\nbehaviour = \"exit-on-term\"\nuser = \"daemon\"\n\
         [[strategy]]\nkind = \"pidfd\"\ntimeout = \"300ms\"\n\
         [[strategy]]\nkind = \"command\"\nlabel = \"unit-b\"\ntimeout = \"300ms\"\n\
         exec_stop = \"/bin/kill -TERM $MAINPID\"\n\
         exec_stop_post = '/bin/sh -c \"if ps -p $MAINPID > /dev/null; then /bin/kill -KILL $MAINPID; fi\"'\n"
    );
    let path = closed.path().join("closed.toml");
    std::fs::write(&path, &text).unwrap();
    let out = closed.path().join("run");
    let output = Command::new(&exe)
        .arg("run")
        .arg(&path)
        .arg("--quiet")
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let s = summary(closed.path());
    assert_eq!(
        num(&s["pidfd"], "exited"),
        f64::from(trials),
        "{:?}",
        s["pidfd"]
    );
    for row in ["pidfd", "unit-b"] {
        assert_eq!(num(&s[row], "errors"), 0.0, "{row}: {:?}", s[row]);
    }
    // The check-then-kill found the newcomer, and daemon may not signal nobody's.
    assert_eq!(num(&s["unit-b"], "eperm"), f64::from(trials));
    let timed = rows(&out.join("trials.csv"))
        .into_iter()
        .filter(|r| r["strategy"] == "unit-b" && !r["exposure_us"].is_empty())
        .count();
    assert_eq!(timed, trials as usize, "the shim timed every unit-b trial");

    // The victim's own program, where `daemon` cannot reach it: exit 2.
    let script = closed.path().join("daemon.sh");
    std::fs::write(&script, "#!/bin/sh\nexec sleep 3600\n").unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let own = text
        .replace("/usr/bin/foo_daemon", &script.display().to_string())
        .replace("\"exit-on-term\"", "\"exec\"");
    std::fs::write(&path, own).unwrap();
    let refused = Command::new(&exe)
        .arg("run")
        .arg(&path)
        .args(["--quiet", "--out"])
        .arg(closed.path().join("refused"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("`{}`", closed.path().display())) && stderr.contains("daemon"),
        "{stderr}"
    );
    assert!(!closed.path().join("refused").exists());
}
