//! What a helper's end means for the stop, judged per program from its exit
//! status and stderr. A race (the number was already free: "No such
//! process", `pkill` matching nothing) is data; a helper that could not do
//! its job (a usage error, a pattern `pkill` rejects, a program that cannot
//! run) makes the trial an error, with its own words; a refused signal
//! (EPERM, another user's process now holds the number) is its own outcome.

use crate::oracle::Cause;

/// How a helper ended, as the trial sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HelperEnd {
    /// Did its job, or met a race that is data (ESRCH, nothing matched).
    Done,
    /// A signal it sent was refused: the number belongs to another user.
    Refused,
    /// It failed at its job: the trial is an error, with this reason.
    Failed(String),
}

/// Judges a helper run from `argv` that ended with `cause` and wrote `stderr`.
/// `ignore_failure`: the unit line had systemd's `-` prefix.
pub fn judge(argv: &[String], cause: Cause, stderr: &str, ignore_failure: bool) -> HelperEnd {
    let program = program(argv);
    let said = first_lines(stderr);
    if stderr.contains("Operation not permitted") {
        return HelperEnd::Refused;
    }
    // Killed by a signal: a misfire (pkill hit its own shell), which the
    // oracle counts; not the tool failing.
    let Cause::Exited(code) = cause else {
        return HelperEnd::Done;
    };
    let benign = match (program, code) {
        (_, 0) => true,
        // Not executable, not found: nothing ran at all.
        (_, 126 | 127) => false,
        _ if ignore_failure => true,
        // 1: nothing matched. 2: a syntax error (a pattern it rejects), 3: fatal.
        ("pkill" | "pgrep", 1) => true,
        // 1 with nothing said: no such process (the check's answer).
        ("ps", 1) => said.is_empty(),
        // kill: 1 for every failure; only ESRCH is a race.
        ("kill", 1) => only_no_such_process(stderr),
        // start-stop-daemon: 1, nothing was done (no such process); 2 with
        // nothing said, the process outlived the schedule, which the oracle
        // sees itself; 2 with a message is a fatal error ("unable to stat").
        ("start-stop-daemon", 1) => true,
        ("start-stop-daemon", 2) => said.is_empty(),
        // killall: 1, no process was killed (none found).
        ("killall", 1) => said.is_empty() || all_lines(stderr, "no process found"),
        ("pidof", 1) => true,
        // `pidof x | xargs kill`: xargs's 123 when kill met a number gone.
        ("sh" | "bash" | "dash", 123) => only_no_such_process(stderr),
        // An init script's "the daemon outlived the schedule", quietly.
        ("sh" | "bash" | "dash", 2) => said.is_empty(),
        // A shell's status is its last command's: fine unless a command it
        // ran was a usage error, missing, or failed for another reason than
        // the number being free already.
        ("sh" | "bash" | "dash", 1) => said.is_empty() || only_no_such_process(stderr),
        _ => false,
    };
    if benign {
        return HelperEnd::Done;
    }
    let words = if said.is_empty() {
        String::new()
    } else {
        format!(": {said}")
    };
    HelperEnd::Failed(format!(
        "`{}` exited with status {code}{words}",
        argv.join(" ")
    ))
}

/// The program a command line runs, by its base name: past `chroot ROOT`,
/// which execs it (its status and stderr are the program's).
pub fn program(argv: &[String]) -> &str {
    fn base(p: &str) -> &str {
        p.rsplit('/').next().unwrap_or(p)
    }
    match argv {
        [chroot, _, program, ..] if base(chroot) == "chroot" => base(program),
        [first, ..] => base(first),
        [] => "",
    }
}

/// Every line it wrote says the process was already gone.
fn only_no_such_process(stderr: &str) -> bool {
    all_lines(stderr, "No such process")
}

/// Every line it wrote contains `text`, and it wrote one.
fn all_lines(stderr: &str, text: &str) -> bool {
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    !lines.is_empty() && lines.iter().all(|l| l.contains(text))
}

/// The first two lines, trimmed to 300 characters: enough to say why.
pub fn first_lines(stderr: &str) -> String {
    let text: Vec<&str> = stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .take(2)
        .collect();
    text.join(" / ").chars().take(300).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(line: &str) -> Vec<String> {
        line.split(' ').map(String::from).collect()
    }

    #[test]
    fn table_of_helper_ends() {
        let ok = HelperEnd::Done;
        let cases: &[(&str, Cause, &str, HelperEnd)] = &[
            ("/usr/bin/pkill -TERM -f foo", Cause::Exited(0), "", ok.clone()),
            ("/usr/bin/pkill -TERM -f foo", Cause::Exited(1), "", ok.clone()),
            (
                "/usr/bin/pkill -TERM -f (foo",
                Cause::Exited(2),
                "pkill: regex error: Unmatched ( or \\(\n",
                HelperEnd::Failed(
                    "`/usr/bin/pkill -TERM -f (foo` exited with status 2: pkill: regex error: Unmatched ( or \\(".into(),
                ),
            ),
            ("/bin/kill -TERM 42", Cause::Exited(1), "kill: (42) - No such process\n", ok.clone()),
            ("/bin/kill -TERM 42", Cause::Exited(1), "kill: (42) - Operation not permitted\n", HelperEnd::Refused),
            (
                "/bin/kill -TERM x",
                Cause::Exited(1),
                "kill: failed to parse argument: 'x'\n",
                HelperEnd::Failed("`/bin/kill -TERM x` exited with status 1: kill: failed to parse argument: 'x'".into()),
            ),
            ("/bin/ps -p 42", Cause::Exited(1), "", ok.clone()),
            (
                "/bin/ps -p",
                Cause::Exited(1),
                "error: list of process IDs must follow -p\n\nUsage:\n",
                HelperEnd::Failed("`/bin/ps -p` exited with status 1: error: list of process IDs must follow -p / Usage:".into()),
            ),
            ("/bin/sh -c x", Cause::Signaled(libc::SIGTERM), "", ok.clone()),
            ("/bin/sh -c x", Cause::Exited(1), "kill: (42) - No such process\n", ok.clone()),
            (
                "/bin/sh -c x",
                Cause::Exited(127),
                "sh: 1: pkil: not found\n",
                HelperEnd::Failed("`/bin/sh -c x` exited with status 127: sh: 1: pkil: not found".into()),
            ),
            ("/bin/false", Cause::Exited(1), "", HelperEnd::Failed("`/bin/false` exited with status 1".into())),
            ("/usr/sbin/start-stop-daemon --stop", Cause::Exited(1), "", ok.clone()),
            ("/usr/sbin/start-stop-daemon --stop", Cause::Exited(2), "", ok.clone()),
            (
                "/usr/sbin/start-stop-daemon --stop",
                Cause::Exited(2),
                "start-stop-daemon: unable to stat /x (No such file or directory)\n",
                HelperEnd::Failed("`/usr/sbin/start-stop-daemon --stop` exited with status 2: start-stop-daemon: unable to stat /x (No such file or directory)".into()),
            ),
            ("/usr/bin/killall -s TERM foo", Cause::Exited(1), "foo: no process found\n", ok.clone()),
            (
                "/usr/bin/killall -s TERM foo",
                Cause::Exited(1),
                "killall: unknown signal; killall -l lists signals.\n",
                HelperEnd::Failed("`/usr/bin/killall -s TERM foo` exited with status 1: killall: unknown signal; killall -l lists signals.".into()),
            ),
            ("/bin/sh -c x", Cause::Exited(123), "kill: (42) - No such process\n", ok.clone()),
            ("/bin/sh -c x", Cause::Exited(2), "", ok.clone()),
        ];
        for (line, cause, stderr, want) in cases {
            assert_eq!(
                &judge(&argv(line), *cause, stderr, false),
                want,
                "{line} {cause} {stderr:?}"
            );
        }
        // systemd's `-` prefix: a failure is ignored, a missing program is not.
        assert_eq!(
            judge(&argv("/bin/false"), Cause::Exited(1), "", true),
            HelperEnd::Done
        );
        assert!(matches!(
            judge(&argv("/bin/nope"), Cause::Exited(127), "", true),
            HelperEnd::Failed(_)
        ));
    }
}
