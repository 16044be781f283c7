//! A unit's `ExecStop=` / `ExecStopPost=` line turned into the argv systemd
//! would execute (man systemd.service, "Command lines"): words split at white
//! space, double and single quotes group words, a backslash escapes the next
//! character, and no shell runs unless the line names one. `$MAINPID` as a
//! word of its own, and `${MAINPID}` anywhere, are replaced by systemd; a
//! `$MAINPID` inside a longer word is left for the program (a shell expands
//! it from the environment, where systemd also puts it). The program is an
//! absolute path, or a bare name found in systemd's search path.

/// Why a line cannot be executed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExecLineError {
    #[error("the command line is empty")]
    Empty,
    #[error("unterminated {0} quote")]
    Unterminated(char),
    #[error(transparent)]
    Program(#[from] crate::scenario::program::ProgramError),
}

/// The words of `line`, unquoted, with `$MAINPID` and `${MAINPID}`
/// replaced by `mainpid` (or removed when it is unset, as systemd does).
pub fn argv(line: &str, mainpid: Option<i32>) -> Result<Vec<String>, ExecLineError> {
    argv_with(line, &[("MAINPID", mainpid.map(|p| p.to_string()))])
}

/// [`argv`] with any variables: each `$NAME` that is a word of its own and
/// each `${NAME}` anywhere is replaced by its value, as systemd replaces
/// its own and `Environment=` variables; an unset one is removed.
pub fn argv_with(
    line: &str,
    vars: &[(&str, Option<String>)],
) -> Result<Vec<String>, ExecLineError> {
    let line = line.trim_start();
    // `-`: the exit status is ignored; the argv is the same.
    let line = line.strip_prefix('-').unwrap_or(line);
    let mut words = Vec::new();
    for (word, quoted) in split(line)? {
        let mut word = word;
        for (name, value) in vars {
            word = word.replace(&format!("${{{name}}}"), value.as_deref().unwrap_or(""));
        }
        let whole = vars
            .iter()
            .find(|(name, _)| !quoted && word.strip_prefix('$') == Some(name));
        match whole {
            // Split at white space: an empty value makes no word at all.
            Some((_, value)) => words.extend(
                value
                    .as_deref()
                    .unwrap_or("")
                    .split_whitespace()
                    .map(String::from),
            ),
            None => words.push(word),
        }
    }
    let program = words.first_mut().ok_or(ExecLineError::Empty)?;
    // A bare name is found in systemd's fixed search path, as systemd does.
    let path = crate::scenario::program::resolve(program).map_err(ExecLineError::Program)?;
    *program = path.display().to_string();
    Ok(words)
}

/// Words and whether any part of each was quoted.
fn split(line: &str) -> Result<Vec<(String, bool)>, ExecLineError> {
    let mut words = Vec::new();
    let mut chars = line.chars();
    let mut word: Option<(String, bool)> = None;
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => words.extend(word.take()),
            '"' | '\'' => {
                let (text, quoted) = word.get_or_insert_with(Default::default);
                *quoted = true;
                loop {
                    match chars.next() {
                        None => return Err(ExecLineError::Unterminated(c)),
                        Some(q) if q == c => break,
                        Some('\\') if c == '"' => text.extend(chars.next()),
                        Some(other) => text.push(other),
                    }
                }
            }
            '\\' => {
                let (text, _) = word.get_or_insert_with(Default::default);
                text.extend(chars.next());
            }
            other => word.get_or_insert_with(Default::default).0.push(other),
        }
    }
    words.extend(word);
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_as_systemd_executes_them() {
        let cases: &[(&str, Option<i32>, &[&str])] = &[
            (
                "/bin/kill -TERM $MAINPID",
                Some(42),
                &["/bin/kill", "-TERM", "42"],
            ),
            ("/bin/kill -TERM $MAINPID", None, &["/bin/kill", "-TERM"]),
            (
                r#"/bin/sh -c "if ps -p $MAINPID > /dev/null; then /bin/kill -KILL $MAINPID; fi""#,
                Some(42),
                &[
                    "/bin/sh",
                    "-c",
                    "if ps -p $MAINPID > /dev/null; then /bin/kill -KILL $MAINPID; fi",
                ],
            ),
            ("/bin/echo pid=${MAINPID}", Some(7), &["/bin/echo", "pid=7"]),
            (
                "/bin/echo \"$MAINPID\"",
                Some(7),
                &["/bin/echo", "$MAINPID"],
            ),
            (
                r#"-/bin/sh -c "sh -c 'kill -9 $$'; true""#,
                None,
                &["/bin/sh", "-c", "sh -c 'kill -9 $$'; true"],
            ),
            (
                r#"/bin/echo a\ b 'c d'"#,
                None,
                &["/bin/echo", "a b", "c d"],
            ),
            (
                "/usr/bin/pkill -9 -f /usr/bin/foo_daemon",
                None,
                &["/usr/bin/pkill", "-9", "-f", "/usr/bin/foo_daemon"],
            ),
        ];
        for (line, pid, want) in cases {
            assert_eq!(&argv(line, *pid).unwrap(), want, "{line}");
        }
    }

    #[test]
    fn other_variables_as_systemd_substitutes_them() {
        let vars = [
            ("MAINPID", Some("42".to_string())),
            ("PIDFILE", Some("/run/foo.pid".to_string())),
            ("PGID", None),
        ];
        assert_eq!(
            argv_with("/bin/kill -TERM -- -${MAINPID} $PIDFILE $PGID", &vars).unwrap(),
            ["/bin/kill", "-TERM", "--", "-42", "/run/foo.pid"]
        );
        assert_eq!(
            argv_with("/bin/sh -c 'kill $(cat $PIDFILE)'", &vars).unwrap(),
            ["/bin/sh", "-c", "kill $(cat $PIDFILE)"]
        );
    }

    #[test]
    fn refuses_what_systemd_refuses() {
        assert_eq!(argv("  ", None), Err(ExecLineError::Empty));
        assert_eq!(
            argv("/bin/sh -c \"x", None),
            Err(ExecLineError::Unterminated('"'))
        );
        assert!(matches!(
            argv("no-such-program -f foo", None),
            Err(ExecLineError::Program(_))
        ));
        assert!(matches!(
            argv("bin/kill 1", None),
            Err(ExecLineError::Program(_))
        ));
        // A bare name, as systemd finds it.
        assert!(argv("kill -TERM 1", None).unwrap()[0].ends_with("/kill"));
    }
}
