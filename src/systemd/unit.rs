//! The systemd unit that implements each strategy: what `stopbench unit`
//! prints, what the report recommends, and, for the `systemd` strategy, what
//! the sandboxed systemd runs.

use super::error::VerifyError;
use crate::scenario::{Behaviour, Scenario, StrategyConfig, StrategyKind, UnitForm};
use crate::victim::env;
use std::fmt::Write;
use std::path::Path;
use std::process::Command;

/// A word of an Exec*= line, quoted when systemd would split it, with `$`
/// and `%` doubled: systemd expands `$VAR` and `%` specifiers in Exec*=
/// lines, and `$$`/`%%` are their literal forms (a shell's `$$` would
/// otherwise reach the program as `$`).
fn exec_word(word: &str) -> String {
    let word = word.replace('$', "$$").replace('%', "%%");
    if !word.is_empty()
        && !word
            .chars()
            .any(|c| c.is_whitespace() || "\"'\\;".contains(c))
    {
        word
    } else {
        format!("\"{}\"", word.replace('\\', "\\\\").replace('"', "\\\""))
    }
}

fn exec_line(argv: &[String]) -> String {
    argv.iter()
        .map(|w| exec_word(w))
        .collect::<Vec<_>>()
        .join(" ")
}

/// How the unit starts the victim.
pub enum Start<'a> {
    /// The daemon as a team deploys it: `ExecStart=` the scenario's command.
    Deployed,
    /// stopbench's simulated daemon, from our binary at `exe`, under the
    /// scenario's argv (`@` gives argv[0]), ready through sd_notify.
    Simulated { exe: &'a str },
}

/// Records how the main process ended (systemd hands ExecStopPost=
/// $SERVICE_RESULT, $EXIT_CODE, $EXIT_STATUS), when systemd saw it end (the
/// unit is still loaded here; once inactive it may be garbage-collected),
/// and what $MAINPID holds there, exactly as a user's line sees it (sh
/// expands it). The last ExecStopPost= line of every unit stopbench runs.
pub const RECORD_STOP: &str = "ExecStopPost=/bin/sh -c 'echo \"$SERVICE_RESULT $EXIT_CODE $EXIT_STATUS $(systemctl show -p ExecMainExitTimestampMonotonic --value %n) [$MAINPID]\" > /run/stopbench/%n.post'";

/// The files of a user's own unit as the sandboxed systemd loads them:
/// `(name relative to the unit directory, text)`: the unit as written, its
/// drop-ins in order, and stopbench's drop-in with [`RECORD_STOP`] last.
pub fn own_unit_files(unit_name: &str, text: &str, dropins: &[String]) -> Vec<(String, String)> {
    let mut files = vec![(unit_name.to_string(), text.to_string())];
    for (i, d) in dropins.iter().enumerate() {
        files.push((
            format!("{unit_name}.d/{:02}-stopbench-{i}.conf", 50 + i),
            d.clone(),
        ));
    }
    files.push((
        format!("{unit_name}.d/99-stopbench-record.conf"),
        format!("[Service]\n{RECORD_STOP}\n"),
    ));
    files
}

/// The `[Service]` lines that implement a strategy.
pub fn settings(c: &StrategyConfig, s: &Scenario) -> Vec<String> {
    let timeout = c.timeout.to_string();
    let (sig, fin) = (c.kill_signal.to_string(), c.final_signal.to_string());
    let (short, final_short) = (c.kill_signal.short_name(), c.final_signal.short_name());
    match c.kind {
        StrategyKind::Pidfd => vec![
            "# systemd 255+ holds the main process by pidfd and signals it through it.".into(),
            "# Like the pidfd strategy, only the main process is signalled: its children".into(),
            "# are left running (the cgroup strategy's KillMode=mixed stops them too).".into(),
            "KillMode=process".into(),
            format!("KillSignal={sig}"),
            format!("TimeoutStopSec={timeout}"),
            format!("FinalKillSignal={fin}"),
            "SendSIGKILL=yes".into(),
            "# No ExecStop=/ExecStopPost= line that kills $MAINPID or a pidfile's number.".into(),
        ],
        StrategyKind::PlainKill => vec![
            format!("ExecStop=/bin/sh -c 'kill -{short} $MAINPID; while kill -0 $MAINPID; do sleep 0.01; done'"),
            format!("TimeoutStopSec={timeout}"),
            format!("# ...then kill -{final_short} $MAINPID: the number may be someone else's by now."),
        ],
        StrategyKind::ExecstoppostCheck => vec![
            match c.form {
                UnitForm::Pidfile => "# Type=forking, PIDFile=...: a daemon systemd does not parent, so $MAINPID stays set in ExecStopPost=".into(),
                UnitForm::Simple => "Type=simple".into(),
            },
            "KillMode=process".into(),
            format!(
                "ExecStop={}",
                c.exec_stop.clone().unwrap_or_else(|| format!("/bin/kill -{short} $MAINPID"))
            ),
            format!(
                "ExecStopPost={}",
                c.exec_stop_post.clone().unwrap_or_else(|| format!(
                    "/bin/sh -c \"if ps -p $MAINPID > /dev/null; then /bin/kill -{final_short} $MAINPID; fi\""
                ))
            ),
            format!("TimeoutStopSec={timeout}"),
            "SuccessExitStatus=143 TERM".into(),
        ],
        StrategyKind::PkillF => {
            let pattern = c.pattern.clone().unwrap_or_else(|| s.victim.command.0[0].clone());
            vec![
                if c.shell {
                    format!(
                        "ExecStopPost=/bin/sh -c \"pkill -{final_short} -f {}\"",
                        exec_word(&pattern)
                    )
                } else {
                    format!("ExecStopPost=/usr/bin/pkill -{final_short} -f {}", exec_word(&pattern))
                },
                format!("TimeoutStopSec={timeout}"),
            ]
        }
        kind if kind.is_stop_tool() => {
            let exe = match s.victim.behaviour {
                Behaviour::Exec => crate::victim::executable(&s.victim, ""),
                _ => "/path/to/stopbench".to_string(),
            };
            crate::strategy::tools::unit_lines(c, s, &exe)
        }
        StrategyKind::TimeoutK => vec![
            format!("# ExecStart=/usr/bin/timeout -s {short} -k {timeout} 365d ..."),
            "KillMode=process".into(),
            format!("KillSignal={sig}"),
            "SendSIGKILL=no".into(),
        ],
        _ => kill_settings(c),
    }
}

/// The `cgroup` and `systemd` strategies' lines: systemd's own kill
/// settings, and the unit's own lines.
fn kill_settings(c: &StrategyConfig) -> Vec<String> {
    let mut lines = vec![
        format!("KillMode={}", c.kill_mode.name()),
        format!("KillSignal={}", c.kill_signal),
        format!("FinalKillSignal={}", c.final_signal),
        format!("SendSIGKILL={}", if c.send_sigkill { "yes" } else { "no" }),
        format!("TimeoutStopSec={}", c.timeout),
    ];
    if c.send_sighup {
        lines.push("SendSIGHUP=yes".into());
    }
    lines.extend(c.watchdog.map(|w| format!("WatchdogSec={w}")));
    lines.extend(c.watchdog_signal.map(|s| format!("WatchdogSignal={s}")));
    lines.extend(c.runtime_max.map(|r| format!("RuntimeMaxSec={r}")));
    lines.extend(c.exec_stop.iter().map(|l| format!("ExecStop={l}")));
    lines.extend(c.exec_stop_post.iter().map(|l| format!("ExecStopPost={l}")));
    lines.extend(c.service.iter().cloned());
    lines
}

/// A whole service unit for `c`.
pub fn service(s: &Scenario, c: &StrategyConfig, start: Start<'_>) -> String {
    let mut u = String::new();
    let _ = writeln!(
        u,
        "[Unit]\nDescription=stopbench: {} stopped by {}\n\n[Service]",
        s.victim.command.joined(),
        c.label()
    );
    match start {
        Start::Simulated { exe } if s.victim.behaviour != Behaviour::Exec => {
            let v = &s.victim;
            let _ = writeln!(u, "Type=notify\nNotifyAccess=all");
            let _ = writeln!(u, "ExecStart=@{exe} {}", exec_line(&v.command.0));
            let _ = writeln!(u, "Environment={}=/run/stopbench/%n.ping", env::PING_FILE);
            let _ = writeln!(
                u,
                "Environment={}=victim {}={} {}={} {}={} {}={}",
                env::ROLE,
                env::BEHAVIOUR,
                v.behaviour.name(),
                env::CLEANUP,
                v.cleanup.0.as_nanos(),
                env::EXIT_AFTER,
                v.exit_after.min.0.as_nanos(),
                env::CHILDREN,
                v.children.0
            );
        }
        _ => {
            let _ = writeln!(u, "ExecStart={}", exec_line(&s.victim.command.0));
        }
    }
    if matches!(start, Start::Simulated { .. }) {
        let _ = writeln!(u, "{RECORD_STOP}");
    }
    for line in settings(c, s) {
        let _ = writeln!(u, "{line}");
    }
    u
}

/// Checks a unit with `systemd-analyze verify`, in a scratch root holding
/// the host's unit library and stub executables for the unit's commands, so
/// only the unit's own faults show. Any output is a failure: systemd-analyze
/// exits 0 on settings it could not parse.
pub fn verify(unit_name: &str, text: &str) -> Result<(), VerifyError> {
    let analyze = super::which("systemd-analyze").ok_or(VerifyError::NotInstalled)?;
    let scratch = tempfile_dir()?;
    let result = verify_in(&scratch, &analyze, unit_name, text);
    let _ = std::fs::remove_dir_all(&scratch);
    result
}

/// `verify` in the scratch root `root`, which the caller removes.
fn verify_in(root: &Path, analyze: &Path, unit_name: &str, text: &str) -> Result<(), VerifyError> {
    let scratch = |what: String| move |source| VerifyError::Scratch { what, source };
    let lib = Path::new("/usr/lib/systemd/system");
    crate::results::bundle::copy_tree(lib, &root.join("usr/lib/systemd/system"))
        .map_err(scratch("copy the unit library".into()))?;
    for line in text.lines() {
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        if !key.starts_with("Exec") {
            continue;
        }
        let program = value
            .trim_start_matches(['@', '-', '+', '!', ':'])
            .split_whitespace()
            .next()
            .unwrap_or("");
        if program.starts_with('/') {
            let path = root.join(program.trim_start_matches('/'));
            let stub = || -> std::io::Result<()> {
                use std::os::unix::fs::PermissionsExt;
                std::fs::create_dir_all(path.parent().expect("absolute path"))?;
                std::fs::write(&path, "#!/bin/sh\n")?;
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
            };
            stub().map_err(scratch(format!("write a stub for `{program}`")))?;
        }
    }
    let dir = root.join("etc/systemd/system");
    std::fs::create_dir_all(&dir)
        .and_then(|()| std::fs::write(dir.join(unit_name), text))
        .map_err(scratch(format!("write `{unit_name}`")))?;
    let out = Command::new(analyze)
        .arg("verify")
        .arg(format!("--root={}", root.display()))
        .arg(format!("/etc/systemd/system/{unit_name}"))
        .current_dir(root)
        .output()
        .map_err(scratch("run systemd-analyze".into()))?;
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let said = said.replace(&format!("{}/", root.display()), "/");
    if out.status.success() && said.trim().is_empty() {
        Ok(())
    } else {
        Err(VerifyError::Complaints(said.trim().to_string()))
    }
}

fn tempfile_dir() -> Result<std::path::PathBuf, VerifyError> {
    let dir = std::env::temp_dir().join(format!(
        "stopbench-verify-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos())
    ));
    std::fs::create_dir_all(&dir).map_err(|source| VerifyError::Scratch {
        what: format!("create `{}`", dir.display()),
        source,
    })?;
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_exec_words() {
        assert_eq!(exec_word("/usr/bin/foo"), "/usr/bin/foo");
        assert_eq!(exec_word("a b"), "\"a b\"");
        assert_eq!(exec_word("say \"hi\""), "\"say \\\"hi\\\"\"");
        // A shell's `$$` and a literal `%` reach the program unexpanded.
        assert_eq!(exec_word("echo $$ 5%"), "\"echo $$$$ 5%%\"");
    }
}
