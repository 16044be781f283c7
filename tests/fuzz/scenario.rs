//! The scenario loader on random bytes and on structured mutations of the
//! shipped scenarios: `Ok`, or an error at `path:line:column` naming a key.

use proptest::prelude::*;
use stopbench::scenario::load::{parse, ScenarioError};

const ORIGIN: &str = "fuzzed.toml";

/// An error the loader may give for text: it names the file, and, for a
/// parse or validation error, the line and column inside it.
fn check(result: Result<stopbench::scenario::Scenario, ScenarioError>, text: &str) {
    let Err(err) = result else { return };
    let shown = err.to_string();
    match err {
        ScenarioError::Invalid { path, line, .. } => {
            assert_eq!(path, ORIGIN, "{shown}");
            let lines = text.lines().count().max(1);
            assert!(
                line >= 1 && line <= lines + 1,
                "line {line} of {lines}: {shown}"
            );
            assert!(shown.starts_with(&format!("{ORIGIN}:{line}:")), "{shown}");
        }
        other => panic!("text gave a non-text error: {other}"),
    }
}

/// Values a mutation puts in place of a key's value.
fn values() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("0".to_string()),
        Just("-1".to_string()),
        Just("4294967296".to_string()),
        Just("1e309".to_string()),
        Just("\"\"".to_string()),
        Just("\"max\"".to_string()),
        Just("\"2ms\"".to_string()),
        Just("\"-5s\"".to_string()),
        Just("[]".to_string()),
        Just("[1, 2, 3]".to_string()),
        Just("{}".to_string()),
        Just("true".to_string()),
        Just("\"SIGSTOP\"".to_string()),
        Just("\"/no/such/program\"".to_string()),
        "\"[a-z/ _.-]{0,12}\"".prop_map(|s| s),
        any::<i64>().prop_map(|n| n.to_string()),
        any::<f64>().prop_map(|n| format!("{n:?}")),
    ]
}

/// One edit of a scenario's lines.
#[derive(Debug, Clone)]
enum Edit {
    Delete(usize),
    Duplicate(usize),
    Swap(usize, usize),
    Value(usize, String),
    Truncate(usize),
}

fn edits() -> impl Strategy<Value = Vec<Edit>> {
    let edit = prop_oneof![
        any::<usize>().prop_map(Edit::Delete),
        any::<usize>().prop_map(Edit::Duplicate),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Edit::Swap(a, b)),
        (any::<usize>(), values()).prop_map(|(a, v)| Edit::Value(a, v)),
        any::<usize>().prop_map(Edit::Truncate),
    ];
    proptest::collection::vec(edit, 1..4)
}

fn apply(text: &str, edits: &[Edit]) -> String {
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    for edit in edits {
        if lines.is_empty() {
            break;
        }
        let n = lines.len();
        match edit {
            Edit::Delete(i) => {
                lines.remove(i % n);
            }
            Edit::Duplicate(i) => lines.insert(i % n, lines[i % n].clone()),
            Edit::Swap(a, b) => lines.swap(a % n, b % n),
            Edit::Value(i, v) => {
                if let Some((key, _)) = lines[i % n].split_once('=') {
                    lines[i % n] = format!("{key}= {v}");
                }
            }
            Edit::Truncate(i) => {
                let line = &lines[i % n];
                let cut = line
                    .char_indices()
                    .nth(line.chars().count() / 2)
                    .map_or(0, |(b, _)| b);
                lines[i % n] = line[..cut].to_string();
            }
        }
    }
    lines.join("\n")
}

proptest! {
    #![proptest_config(crate::config())]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let text = String::from_utf8_lossy(&bytes);
        check(parse(ORIGIN, &text), &text);
    }

    #[test]
    fn mutated_shipped_scenarios_load_or_say_where(
        pick in any::<usize>(),
        edits in edits(),
    ) {
        let shipped = crate::shipped_scenarios();
        let (_, text) = &shipped[pick % shipped.len()];
        let mutated = apply(text, &edits);
        check(parse(ORIGIN, &mutated), &mutated);
    }
}

#[test]
fn every_shipped_scenario_loads_unchanged() {
    for (name, text) in crate::shipped_scenarios() {
        assert!(parse(&name, &text).is_ok(), "{name}");
    }
}
