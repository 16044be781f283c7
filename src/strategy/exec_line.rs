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
    let line = line.trim_start();
    // `-`: the exit status is ignored; the argv is the same.
    let line = line.strip_prefix('-').unwrap_or(line);
    let value = mainpid.map(|p| p.to_string()).unwrap_or_default();
    let mut words = Vec::new();
    for (word, quoted) in split(line)? {
        let word = word.replace("${MAINPID}", &value);
        if word == "$MAINPID" && !quoted {
            // Split at white space: an empty value makes no word at all.
            words.extend(value.split_whitespace().map(String::from));
        } else {
            words.push(word);
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
