//! Reading scenario files (or built-in scenarios) with errors that name the
//! file, line and key at fault.

use super::builtin;
use super::config::{Behaviour, BystanderBehaviour, Scenario, StrategyConfig, StrategyKind};
use super::program;
use std::collections::HashSet;
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("cannot read scenario `{path}`: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}:{line}:{column}: key `{key}`: {message}")]
    Invalid {
        path: String,
        line: usize,
        column: usize,
        key: String,
        message: String,
    },
    #[error(
        "unknown scenario `{0}`: not a file and not a built-in scenario (see `stopbench list`)"
    )]
    Unknown(String),
}

/// Loads a scenario from a path, or by name from the built-in set.
pub fn load(spec: &str) -> Result<Scenario, ScenarioError> {
    let (origin, text) = source(spec)?;
    parse(&origin, &text)
}

/// Loads a scenario with `--set` overrides applied to its text first, so
/// every key is validated as if the file said so; errors name the origin
/// with its overrides.
pub fn load_with(spec: &str, overrides: &[super::Override]) -> Result<Scenario, ScenarioError> {
    if overrides.is_empty() {
        return load(spec);
    }
    let (origin, text) = source(spec)?;
    let origin = format!(
        "{origin} with {}",
        overrides
            .iter()
            .map(|o| format!("--set {}={}", o.key, o.value))
            .collect::<Vec<_>>()
            .join(" ")
    );
    let text =
        super::overrides::apply(&text, overrides).map_err(|message| ScenarioError::Invalid {
            path: origin.clone(),
            line: 1,
            column: 1,
            key: "--set".into(),
            message,
        })?;
    parse(&origin, &text)
}

/// The scenario's name in errors and its text: a file's, or a built-in's.
fn source(spec: &str) -> Result<(String, String), ScenarioError> {
    let path = Path::new(spec);
    if path.exists() {
        let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
            path: spec.to_string(),
            source,
        })?;
        return Ok((spec.to_string(), text));
    }
    let name = spec.trim_end_matches(".toml");
    let name = name.rsplit('/').next().unwrap_or(name);
    match builtin::find(name) {
        Some(text) if !spec.contains('/') || spec.starts_with("scenarios/") => {
            Ok((format!("<built-in {name}>"), text.to_string()))
        }
        _ => Err(ScenarioError::Unknown(spec.to_string())),
    }
}

/// Parses and validates scenario text; `origin` names it in errors.
pub fn parse(origin: &str, text: &str) -> Result<Scenario, ScenarioError> {
    let deserializer = toml::Deserializer::new(text);
    let scenario: Scenario = serde_path_to_error::deserialize(deserializer).map_err(|err| {
        let key = err.path().to_string();
        let inner = err.into_inner();
        let (line, column) = inner
            .span()
            .map(|span| line_col(text, span.start))
            .unwrap_or((1, 1));
        ScenarioError::Invalid {
            path: origin.to_string(),
            line,
            column,
            key: if key == "." {
                "(top level)".into()
            } else {
                key
            },
            message: inner.message().trim().to_string(),
        }
    })?;
    check_cross_fields(origin, text, &scenario)?;
    Ok(scenario)
}

/// A rule broken: the key at fault (as `strategy[1].shell`) and why.
type Fault = (String, String);

/// Rules that involve more than one key.
fn check_cross_fields(origin: &str, text: &str, s: &Scenario) -> Result<(), ScenarioError> {
    let fault = check_strategies(s)
        .and_then(|()| check_victim(s))
        .and_then(|()| {
            let written = strategy_keys(text);
            (s.strategies.iter().enumerate()).try_for_each(|(i, c)| {
                let keys = written.get(i).map_or(&[][..], |w| &w[..]);
                let exec = s.victim.behaviour == Behaviour::Exec;
                check_kind_keys(i, c, keys, s.victim.pidfile.is_some(), exec)
            })
        })
        .and_then(|()| check_crowds(s))
        .and_then(|()| check_pid_space(s))
        .err();
    let Some((key, message)) = fault else {
        return Ok(());
    };
    let leaf = key.rsplit('.').next().unwrap_or(&key);
    let (line, column) = strategy_index(&key)
        .and_then(|i| find_strategy_key(text, i, leaf))
        .or_else(|| find_key(text, leaf))
        .or_else(|| find_inline_key(text, leaf))
        .unwrap_or((1, 1));
    Err(ScenarioError::Invalid {
        path: origin.to_string(),
        line,
        column,
        key,
        message,
    })
}

/// At least one strategy, and distinct labels.
fn check_strategies(s: &Scenario) -> Result<(), Fault> {
    if s.strategies.is_empty() {
        return Err((
            "strategy".into(),
            format!(
                "no [[strategy]] given; add at least one of: {}",
                StrategyKind::ALL.map(|k| k.name()).join(", ")
            ),
        ));
    }
    let mut labels = HashSet::new();
    for (i, strategy) in s.strategies.iter().enumerate() {
        if !labels.insert(strategy.label()) {
            return Err((
                format!("strategy[{i}].label"),
                format!(
                    "strategy `{}` appears twice: give one a distinct `label`",
                    strategy.label()
                ),
            ));
        }
    }
    Ok(())
}

/// Keys every strategy kind takes.
const COMMON_KEYS: [&str; 7] = [
    "kind",
    "label",
    "timeout",
    "kill_signal",
    "final_signal",
    "newcomer",
    "repeat_after",
];

/// The keys written in each `[[strategy]]` table, in order.
fn strategy_keys(text: &str) -> Vec<Vec<String>> {
    let Ok(table) = text.parse::<toml::Table>() else {
        return Vec::new();
    };
    table
        .get("strategy")
        .and_then(|s| s.as_array())
        .map(|list| {
            list.iter()
                .map(|t| {
                    t.as_table()
                        .map(|t| t.keys().cloned().collect())
                        .unwrap_or_default()
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Only keys the strategy's kind takes (a key for another kind would be
/// silently ignored, and the unit settings printed for it would lie), and
/// unit lines systemd could execute.
fn check_kind_keys(
    i: usize,
    strategy: &StrategyConfig,
    written: &[String],
    has_pidfile: bool,
    exec_victim: bool,
) -> Result<(), Fault> {
    let kind = strategy.kind;
    for key in written {
        let key = key.as_str();
        if COMMON_KEYS.contains(&key) || kind.own_keys().contains(&key) {
            continue;
        }
        let takers: Vec<&str> = StrategyKind::ALL
            .iter()
            .filter(|k| k.own_keys().contains(&key))
            .map(|k| k.name())
            .collect();
        return Err((
            format!("strategy[{i}].{key}"),
            format!(
                "`{key}` does not apply to `{}`; only {} take{} it",
                kind.name(),
                takers
                    .iter()
                    .map(|t| format!("`{t}`"))
                    .collect::<Vec<_>>()
                    .join(" and "),
                if takers.len() == 1 { "s" } else { "" }
            ),
        ));
    }
    let lines = [
        ("exec_stop", &strategy.exec_stop),
        ("exec_stop_post", &strategy.exec_stop_post),
    ];
    for (key, line) in lines {
        let Some(line) = line else { continue };
        if let Err(e) = crate::strategy::exec_line::argv(line, Some(1)) {
            return Err((format!("strategy[{i}].{key}"), format!("`{line}`: {e}")));
        }
    }
    strategy
        .check_needs(has_pidfile, exec_victim)
        .map_err(|(key, why)| (format!("strategy[{i}].{key}"), why))
}

/// The victim's program can be executed, as systemd would find it.
fn check_victim(s: &Scenario) -> Result<(), Fault> {
    if s.victim.behaviour == Behaviour::Exec {
        program::resolve(&s.victim.command.0[0])
            .map_err(|why| ("victim.command".into(), why.to_string()))?;
    }
    Ok(())
}

/// Crowds (`count` above 1) of bystanders that can be held as one: not
/// SIGSTOPped ones (their pending signals are read one by one), and one
/// swept count at most, in a sweep of nothing else.
fn check_crowds(s: &Scenario) -> Result<(), Fault> {
    let bystanders = s.churn.bystanders.iter().enumerate();
    let mut swept = bystanders.clone().filter(|(_, b)| b.count.is_sweep());
    if let (Some(_), Some((i, _))) = (swept.next(), swept.next()) {
        return Err((
            format!("churn.bystanders[{i}].count"),
            "only one bystander's count can be a list (a sweep)".into(),
        ));
    }
    let other_sweep =
        s.churn.rate.is_sweep() || s.sandbox.pid_max.as_ref().is_some_and(|p| p.is_sweep());
    for (i, b) in bystanders {
        let most = b.count.values().iter().map(|c| c.0).max().unwrap_or(1);
        if most > 1 && b.behaviour == BystanderBehaviour::Stopped {
            return Err((
                format!("churn.bystanders[{i}].count"),
                "a crowd cannot be `stopped`: each stopped bystander's pending signals are read one by one; give `count` 1 or another behaviour".into(),
            ));
        }
        if b.count.is_sweep() && other_sweep {
            return Err((
                format!("churn.bystanders[{i}].count"),
                "a sweep over count cannot be combined with a sweep over churn.rate or sandbox.pid_max".into(),
            ));
        }
    }
    Ok(())
}

/// Every pid_max leaves room for the churn and the bystanders.
fn check_pid_space(s: &Scenario) -> Result<(), Fault> {
    let bystanders: u64 = (s.churn.bystanders.iter())
        .map(|b| {
            b.count
                .values()
                .iter()
                .map(|c| u64::from(c.0))
                .max()
                .unwrap_or(1)
        })
        .sum();
    for pid_max in s.sandbox.pid_max.iter().flat_map(|p| p.values()) {
        let needed = s.churn.max_live.0 as u64 + bystanders + 64;
        let room = pid_max.0 as u64 - 300;
        if needed > room {
            return Err((
                "sandbox.pid_max".into(),
                format!(
                    "pid_max {} leaves {room} usable PIDs, fewer than churn.max_live + bystanders + 64 = {needed}",
                    pid_max.0
                ),
            ));
        }
    }
    Ok(())
}

/// 1-based line and column of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before
        .rsplit('\n')
        .next()
        .map(|l| l.chars().count())
        .unwrap_or(0)
        + 1;
    (line, column)
}

/// Where `key = ...` is first written, for errors that span several keys.
/// `i` of a key `strategy[i]....`.
fn strategy_index(key: &str) -> Option<usize> {
    key.strip_prefix("strategy[")?
        .split(']')
        .next()?
        .parse()
        .ok()
}

/// Line and column of `key` inside the `i`-th `[[strategy]]` table.
fn find_strategy_key(text: &str, i: usize, key: &str) -> Option<(usize, usize)> {
    let (start, _) = text
        .lines()
        .enumerate()
        .filter(|(_, l)| l.trim() == "[[strategy]]")
        .nth(i)?;
    let rest: Vec<&str> = text.lines().skip(start + 1).collect();
    let end = rest
        .iter()
        .position(|l| l.trim_start().starts_with('['))
        .unwrap_or(rest.len());
    let (line, column) = find_key(&rest[..end].join("\n"), key)?;
    Some((start + 1 + line, column))
}

/// Where `key = ...` is first written inside an inline table
/// (`bystanders = [{ command = "x", count = 20 }]`).
fn find_inline_key(text: &str, key: &str) -> Option<(usize, usize)> {
    let key = key.split('[').next().unwrap_or(key);
    text.lines().enumerate().find_map(|(i, line)| {
        line.match_indices(key).find_map(|(at, _)| {
            let before = line[..at].chars().next_back();
            let boundary = before.is_none_or(|c| !(c.is_alphanumeric() || c == '_'));
            let rest = line[at + key.len()..].trim_start();
            (boundary && rest.starts_with('=')).then(|| (i + 1, line[..at].chars().count() + 1))
        })
    })
}

fn find_key(text: &str, key: &str) -> Option<(usize, usize)> {
    let key = key.split('[').next().unwrap_or(key);
    text.lines().enumerate().find_map(|(i, line)| {
        let trimmed = line.trim_start();
        let rest = trimmed.strip_prefix(key)?;
        rest.trim_start()
            .starts_with('=')
            .then(|| (i + 1, line.len() - trimmed.len() + 1))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
name = "t"
trials = 3
[sandbox]
pid_max = 1024
[churn]
rate = 500
bystanders = ["vim /usr/bin/foo_daemon.conf", { command = "tail -f x", behaviour = "ignore-term" }]
[victim]
command = "/usr/bin/foo_daemon"
[[strategy]]
kind = "pidfd"
timeout = "200ms"
"#;

    #[test]
    fn good_scenario_parses() {
        let s = parse("good.toml", GOOD).unwrap();
        assert_eq!(s.trials.0, 3);
        assert_eq!(s.churn.bystanders.len(), 2);
        assert_eq!(
            s.churn.bystanders[0].command.0,
            ["vim", "/usr/bin/foo_daemon.conf"]
        );
        assert_eq!(s.strategies[0].label(), "pidfd");
    }

    /// Each malformed input must fail naming the line and key at fault.
    #[test]
    fn malformed_scenarios_name_line_and_key() {
        let cases: &[(&str, &str, usize, &str, &str)] = &[
            (
                "unknown key",
                "[victim]\ncommand = \"x\"\ncolour = 1\n",
                3,
                "victim.colour",
                "unknown field `colour`",
            ),
            (
                "wrong type",
                "name = \"t\"\ntrials = \"many\"\n",
                2,
                "trials",
                "invalid type",
            ),
            (
                "bad duration",
                "name = \"t\"\n[[strategy]]\nkind = \"pidfd\"\ntimeout = \"2 parsecs\"\n",
                4,
                "strategy[0].timeout",
                "unknown unit",
            ),
            (
                "low pid_max",
                "name = \"t\"\n[sandbox]\npid_max = 100\n",
                3,
                "sandbox.pid_max",
                "at least 301",
            ),
            (
                "bad signal",
                "name = \"t\"\n[[strategy]]\nkind = \"pidfd\"\nkill_signal = \"SIGSTOP\"\n",
                4,
                "strategy[0].kill_signal",
                "does not end a process",
            ),
            (
                "bad kind",
                "name = \"t\"\n[[strategy]]\nkind = \"nuke\"\n",
                3,
                "strategy[0].kind",
                "unknown variant",
            ),
            (
                "bad rate",
                "name = \"t\"\n[churn]\nrate = \"lots\"\n",
                3,
                "churn.rate",
                "neither a number",
            ),
        ];
        for (what, text, line, key, message) in cases {
            let err = parse("bad.toml", text).expect_err(what);
            let ScenarioError::Invalid {
                path,
                line: l,
                key: k,
                message: m,
                ..
            } = &err
            else {
                panic!("{what}: wrong error {err}");
            };
            assert_eq!(path, "bad.toml", "{what}");
            assert_eq!(*l, *line, "{what}: {err}");
            assert_eq!(k, key, "{what}: {err}");
            assert!(
                m.contains(message) || m.contains("between 301"),
                "{what}: {err}"
            );
        }
    }

    #[test]
    fn sweeps_expand_into_points() {
        let text = GOOD.replace("rate = 500", "rate = [0, 1000, \"max\"]");
        let s = parse("sweep.toml", &text).unwrap();
        let (param, points) = s.sweep().unwrap();
        assert_eq!(param, crate::scenario::SweepParameter::ChurnRate);
        let labels: Vec<&str> = points.iter().map(|p| p.label.as_str()).collect();
        assert_eq!(labels, ["rate-0", "rate-1000", "rate-max"]);
        assert!(points.iter().all(|p| p.scenario.sweep().is_none()));
        let text = GOOD.replace("pid_max = 1024", "pid_max = [1024, 4096]");
        let (param, points) = parse("sweep.toml", &text).unwrap().sweep().unwrap();
        assert_eq!(param, crate::scenario::SweepParameter::PidMax);
        assert_eq!(points[1].label, "pid_max-4096");
        assert!(parse("one.toml", GOOD).unwrap().sweep().is_none());
        // A bad value inside a sweep keeps its own message and key.
        let err = parse(
            "bad.toml",
            &GOOD.replace("rate = 500", "rate = [0, \"lots\"]"),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("churn.rate") && err.contains("neither a number"),
            "{err}"
        );
        // Both: a grid, pid_max major.
        let both = text.replace("rate = 500", "rate = [1, 2]");
        let (param, points) = parse("both.toml", &both).unwrap().sweep().unwrap();
        assert_eq!(param, crate::scenario::SweepParameter::Grid);
        let labels: Vec<&str> = points.iter().map(|p| p.label.as_str()).collect();
        assert_eq!(
            labels,
            [
                "pid_max-1024-rate-1",
                "pid_max-1024-rate-2",
                "pid_max-4096-rate-1",
                "pid_max-4096-rate-2"
            ]
        );
        assert_eq!(points[3].value, "pid_max 4096, 2/s");
        assert!(points.iter().all(|p| p.scenario.sweep().is_none()));
    }

    #[test]
    fn cross_field_rules() {
        let dup = GOOD.to_string() + "[[strategy]]\nkind = \"pidfd\"\n";
        let err = parse("dup.toml", &dup).unwrap_err().to_string();
        assert!(err.contains("appears twice"), "{err}");
        let none = "name = \"t\"\nstrategy = []\n[victim]\ncommand = \"x\"\n";
        let err = parse("none.toml", none).unwrap_err().to_string();
        assert!(
            err.contains("no [[strategy]]") && err.contains("none.toml:2:"),
            "{err}"
        );
    }

    /// A key of another kind is refused at its own line, naming the kinds
    /// that take it; before, it was ignored (and `send_sigkill` on `cgroup`
    /// printed unit settings the emulation did not follow).
    #[test]
    fn keys_of_another_kind_are_refused() {
        let head = "name = \"t\"\n[victim]\ncommand = \"/usr/bin/foo_daemon\"\n";
        let cases = [
            (
                "kind = \"pidfd\"\npoll = \"5ms\"",
                "strategy[1].poll",
                "`plain-kill`",
            ),
            (
                "kind = \"plain-kill\"\nkill_mode = \"mixed\"",
                "strategy[1].kill_mode",
                "`cgroup` and `systemd`",
            ),
            (
                "kind = \"cgroup\"\nsend_sigkill = false",
                "strategy[1].send_sigkill",
                "only `systemd` takes",
            ),
            (
                "kind = \"pidfd\"\nshell = true",
                "strategy[1].shell",
                "`pkill-f`",
            ),
            (
                "kind = \"cgroup\"\nexec_stop = \"/bin/true\"",
                "strategy[1].exec_stop",
                "`execstoppost-check` and `systemd`",
            ),
        ];
        for (table, key, takers) in cases {
            let text = format!(
                "{head}[[strategy]]\nkind = \"pidfd\"\nlabel = \"first\"\n[[strategy]]\n{table}\n"
            );
            let err = parse("k.toml", &text).unwrap_err().to_string();
            // The second [[strategy]] is line 7, its kind line 8, the key line 9.
            assert!(err.starts_with("k.toml:9:1: "), "{err}");
            assert!(err.contains(key) && err.contains(takers), "{err}");
        }
        for kind in StrategyKind::ALL {
            for key in kind.own_keys() {
                assert!(!COMMON_KEYS.contains(key), "{key}");
            }
        }
    }
}
