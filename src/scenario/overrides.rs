//! `--set KEY=VALUE`: a scenario key changed from the command line, so a
//! sweep or a longer timeout needs no edited copy of the file. The value is
//! TOML (`[100, 1000]` is a list, so a sweep; `true`, `3`); anything that is
//! not TOML is a string (`50ms`, `/usr/sbin/foo`).

use toml_edit::{DocumentMut, Item, Table, Value};

/// One override, as given.
#[derive(Debug, Clone, PartialEq)]
pub struct Override {
    /// The dotted key, with `[i]` for an element of a list of tables:
    /// `churn.rate`, `strategy[1].timeout`.
    pub key: String,
    pub value: String,
}

impl std::str::FromStr for Override {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let (key, value) = text
            .split_once('=')
            .ok_or_else(|| format!("`{text}` is not KEY=VALUE (e.g. `churn.rate=[100,1000]`)"))?;
        let key = key.trim();
        if key.is_empty() {
            return Err(format!("`{text}` has no key before `=`"));
        }
        Ok(Self {
            key: key.to_string(),
            value: value.trim().to_string(),
        })
    }
}

/// The value as TOML, or else as a string.
fn parse_value(text: &str) -> Value {
    format!("v = {text}")
        .parse::<DocumentMut>()
        .ok()
        .and_then(|doc| doc.get("v").and_then(|i| i.as_value()).cloned())
        .unwrap_or_else(|| Value::from(text))
}

/// One step of a key path: a table key, and an index when it names an
/// element of a list of tables.
fn steps(key: &str) -> Result<Vec<(&str, Option<usize>)>, String> {
    key.split('.')
        .map(|part| match part.split_once('[') {
            Some((name, rest)) => {
                let index = rest
                    .strip_suffix(']')
                    .and_then(|i| i.parse().ok())
                    .ok_or_else(|| format!("`{part}` in `{key}`: write an index as `name[0]`"))?;
                Ok((name, Some(index)))
            }
            None if part.is_empty() => Err(format!("`{key}` has an empty part")),
            None => Ok((part, None)),
        })
        .collect()
}

/// `text` with every override applied, in order.
pub fn apply(text: &str, overrides: &[Override]) -> Result<String, String> {
    let mut doc: DocumentMut = text.parse().map_err(|e| format!("{e}"))?;
    for o in overrides {
        let steps = steps(&o.key)?;
        let (last, path) = steps.split_last().expect("a key has a step");
        let mut table: &mut Table = doc.as_table_mut();
        for &(name, index) in path {
            table = descend(table, name, index).map_err(|why| format!("--set {}: {why}", o.key))?;
        }
        let (name, index) = *last;
        if index.is_some() {
            return Err(format!(
                "--set {}: the last part names a value, not an element of a list of tables",
                o.key
            ));
        }
        table.insert(name, Item::Value(parse_value(&o.value)));
    }
    Ok(doc.to_string())
}

/// The table `name` (or its element `index`) inside `table`, made when absent.
fn descend<'t>(
    table: &'t mut Table,
    name: &str,
    index: Option<usize>,
) -> Result<&'t mut Table, String> {
    match index {
        None => {
            let item = table.entry(name).or_insert_with(|| {
                let mut t = Table::new();
                t.set_implicit(true);
                Item::Table(t)
            });
            item.as_table_mut()
                .ok_or_else(|| format!("`{name}` is not a table"))
        }
        Some(i) => {
            let list = table
                .get_mut(name)
                .and_then(|item| item.as_array_of_tables_mut())
                .ok_or_else(|| format!("`{name}` is not a list of tables ([[{name}]])"))?;
            let len = list.len();
            list.get_mut(i)
                .ok_or_else(|| format!("`{name}[{i}]` does not exist: there are {len}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(text: &str, pairs: &[&str]) -> Result<String, String> {
        let overrides: Vec<Override> = pairs.iter().map(|p| p.parse().unwrap()).collect();
        apply(text, &overrides)
    }

    const BASE: &str = "name = \"t\"\ntrials = 3\n[churn]\nrate = 10\n[[strategy]]\nkind = \"pidfd\"\n[[strategy]]\nkind = \"plain-kill\"\n";

    #[test]
    fn values_are_toml_or_strings() {
        let out = set(
            BASE,
            &[
                "trials=7",
                "churn.rate=[100, 1000]",
                "strategy[1].timeout=50ms",
            ],
        )
        .unwrap();
        let v: toml::Value = toml::from_str(&out).unwrap();
        assert_eq!(v["trials"].as_integer(), Some(7));
        assert_eq!(v["churn"]["rate"].as_array().map(|a| a.len()), Some(2));
        assert_eq!(v["strategy"][1]["timeout"].as_str(), Some("50ms"));
        assert!(v["strategy"][0].get("timeout").is_none());
    }

    #[test]
    fn missing_tables_are_made_and_bad_paths_named() {
        let out = set(BASE, &["limits.max_duration=10s"]).unwrap();
        let v: toml::Value = toml::from_str(&out).unwrap();
        assert_eq!(v["limits"]["max_duration"].as_str(), Some("10s"));
        let err = set(BASE, &["strategy[5].timeout=1s"]).unwrap_err();
        assert!(
            err.contains("strategy[5]") && err.contains("there are 2"),
            "{err}"
        );
        let err = set(BASE, &["trials.x=1"]).unwrap_err();
        assert!(err.contains("not a table"), "{err}");
        assert!("novalue".parse::<Override>().is_err());
    }
}
