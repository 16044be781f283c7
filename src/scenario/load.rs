//! Reading scenario files (or built-in scenarios) with errors that name the
//! file, line and key at fault.

use super::builtin;
use super::config::{Behaviour, Scenario, StrategyConfig, StrategyKind, UnitForm};
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
    let path = Path::new(spec);
    if path.exists() {
        let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
            path: spec.to_string(),
            source,
        })?;
        return parse(spec, &text);
    }
    let name = spec.trim_end_matches(".toml");
    let name = name.rsplit('/').next().unwrap_or(name);
    match builtin::find(name) {
        Some(text) if !spec.contains('/') || spec.starts_with("scenarios/") => {
            parse(&format!("<built-in {name}>"), text)
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
            (s.strategies.iter().enumerate()).try_for_each(|(i, c)| check_kind_keys(i, c))
        })
        .and_then(|()| check_pid_space(s))
        .err();
    let Some((key, message)) = fault else {
        return Ok(());
    };
    let leaf = key.rsplit('.').next().unwrap_or(&key);
    let (line, column) = find_key(text, leaf).unwrap_or((1, 1));
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

/// Keys only some kinds take, and unit lines systemd could not execute.
fn check_kind_keys(i: usize, strategy: &StrategyConfig) -> Result<(), Fault> {
    let only = |key: &str, kind: StrategyKind, set: bool| {
        if set && strategy.kind != kind {
            Err((
                format!("strategy[{i}].{key}"),
                format!("`{key}` applies to `{}` only", kind.name()),
            ))
        } else {
            Ok(())
        }
    };
    only("shell", StrategyKind::PkillF, strategy.shell)?;
    only(
        "form",
        StrategyKind::ExecstoppostCheck,
        strategy.form != UnitForm::Pidfile,
    )?;
    let lines = [
        ("exec_stop", &strategy.exec_stop),
        ("exec_stop_post", &strategy.exec_stop_post),
    ];
    let takes_lines = matches!(
        strategy.kind,
        StrategyKind::Systemd | StrategyKind::ExecstoppostCheck
    );
    for (key, line) in lines {
        let Some(line) = line else { continue };
        if !takes_lines {
            return Err((
                format!("strategy[{i}].{key}"),
                format!(
                    "`{}` does not run unit lines; only `systemd` and `execstoppost-check` take `{key}`",
                    strategy.kind.name()
                ),
            ));
        }
        if let Err(e) = crate::strategy::exec_line::argv(line, Some(1)) {
            return Err((format!("strategy[{i}].{key}"), format!("`{line}`: {e}")));
        }
    }
    Ok(())
}

/// The victim's program can be executed, as systemd would find it.
fn check_victim(s: &Scenario) -> Result<(), Fault> {
    if s.victim.behaviour == Behaviour::Exec {
        program::resolve(&s.victim.command.0[0]).map_err(|why| ("victim.command".into(), why))?;
    }
    Ok(())
}

/// Every pid_max leaves room for the churn and the bystanders.
fn check_pid_space(s: &Scenario) -> Result<(), Fault> {
    for pid_max in s.sandbox.pid_max.iter().flat_map(|p| p.values()) {
        let needed = s.churn.max_live.0 as u64 + s.churn.bystanders.len() as u64 + 64;
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
}
