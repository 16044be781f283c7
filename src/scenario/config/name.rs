//! The scenario's name, also a strategy's `label`: both become parts of
//! directory and file names.

use serde::{de, Deserialize, Deserializer, Serialize};
use std::fmt;

/// A scenario name: it becomes part of directory and file names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScenarioName(pub String);

impl<'de> Deserialize<'de> for ScenarioName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        let ok = !name.is_empty()
            && name.len() <= 64
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if !ok {
            return Err(de::Error::custom(format!(
                "`{name}` is not a valid name: use 1-64 letters, digits, `-`, `_` or `.`"
            )));
        }
        Ok(Self(name))
    }
}

impl fmt::Display for ScenarioName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
