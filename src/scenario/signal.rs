//! Signal names in scenario files (`"SIGTERM"`, `"TERM"` or `15`).

use nix::sys::signal::Signal;
use serde::{de, Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// A signal a strategy may send. Only signals whose default action ends a
/// process are accepted: the oracle counts a hit bystander by its death, and
/// a stop or continue signal would leave no death to see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StopSignal(pub Signal);

const ALLOWED: &[Signal] = &[
    Signal::SIGTERM,
    Signal::SIGKILL,
    Signal::SIGINT,
    Signal::SIGQUIT,
    Signal::SIGHUP,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGABRT,
    Signal::SIGALRM,
];

impl StopSignal {
    pub const TERM: StopSignal = StopSignal(Signal::SIGTERM);
    pub const KILL: StopSignal = StopSignal(Signal::SIGKILL);

    pub fn parse(text: &str) -> Result<Self, String> {
        let upper = text.trim().to_ascii_uppercase();
        let found = if let Ok(number) = upper.parse::<i32>() {
            Signal::try_from(number).ok()
        } else {
            let name = if upper.starts_with("SIG") {
                upper.clone()
            } else {
                format!("SIG{upper}")
            };
            name.parse::<Signal>().ok()
        };
        match found {
            Some(sig) if ALLOWED.contains(&sig) => Ok(Self(sig)),
            Some(sig) => Err(format!(
                "`{text}` ({}) does not end a process by default; use one of {}",
                sig.as_str(),
                allowed_names()
            )),
            None => Err(format!(
                "`{text}` is not a signal; use one of {}",
                allowed_names()
            )),
        }
    }

    /// The name without the `SIG` prefix, as `kill -TERM` takes it.
    pub fn short_name(self) -> &'static str {
        &self.0.as_str()[3..]
    }

    pub fn number(self) -> i32 {
        self.0 as i32
    }
}

fn allowed_names() -> String {
    ALLOWED
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

impl fmt::Display for StopSignal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.as_str())
    }
}

impl<'de> Deserialize<'de> for StopSignal {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Name(String),
            Number(i64),
        }
        let text = match Raw::deserialize(deserializer)? {
            Raw::Name(name) => name,
            Raw::Number(number) => number.to_string(),
        };
        StopSignal::parse(&text).map_err(de::Error::custom)
    }
}

impl Serialize for StopSignal {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.0.as_str())
    }
}

/// Name of any signal number, for records of what hit a process.
pub fn signal_name(number: i32) -> String {
    Signal::try_from(number)
        .map(|s| s.as_str().to_string())
        .unwrap_or_else(|_| format!("SIG{number}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_names_and_numbers() {
        for (text, want) in [
            ("SIGTERM", Signal::SIGTERM),
            ("TERM", Signal::SIGTERM),
            ("kill", Signal::SIGKILL),
            ("9", Signal::SIGKILL),
            ("SIGHUP", Signal::SIGHUP),
        ] {
            assert_eq!(StopSignal::parse(text).unwrap().0, want, "{text}");
        }
        assert_eq!(StopSignal::TERM.short_name(), "TERM");
    }

    #[test]
    fn rejects_non_terminating_and_unknown() {
        for text in ["SIGSTOP", "CONT", "SIGCHLD", "SIGFOO", "99", ""] {
            assert!(StopSignal::parse(text).is_err(), "{text} should fail");
        }
    }
}
